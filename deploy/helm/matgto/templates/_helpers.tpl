{{/* Names and labels. */}}
{{- define "matgto.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "matgto.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "matgto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "matgto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "matgto.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "matgto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.kind }}
{{- end -}}

{{- define "matgto.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "matgto.tokensSecret" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if .Values.auth.tokens -}}
{{- printf "%s-tokens" (include "matgto.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
matgto's environment: MATGTO_<FLAG> for every setting (the image runs `matgto serve` with
no other flag). The chart's values first, then .Values.config on top (it wins).
*/}}
{{- define "matgto.env" -}}
{{- $central := eq .Values.kind "central" -}}
{{- $e := dict
      "PROXY_PORT" (toString .Values.ports.proxy)
      "CONTROL_PORT" (toString .Values.ports.control)
      "ADMIN_PORT" (toString .Values.ports.admin)
      "BIND" (ternary "0.0.0.0" "127.0.0.1" $central)
      "CONTROL_BIND" (ternary "0.0.0.0" "127.0.0.1" $central)
      "ADMIN_BIND" "0.0.0.0"
      "CACHE_DIR" "/cache" -}}
{{- if ne .Values.cassettes.source "none" -}}
{{- $_ := set $e "CASSETTE_DIR" "/cassettes" -}}
{{- end -}}
{{- if include "matgto.tokensSecret" . -}}
{{- $_ := set $e "AUTH_TOKENS" "/etc/matgto/tokens/tokens" -}}
{{- end -}}
{{- if .Values.controlTls.existingSecret -}}
{{- $_ := set $e "CONTROL_TLS_CERT" "/etc/matgto/control-tls/tls.crt" -}}
{{- $_ := set $e "CONTROL_TLS_KEY" "/etc/matgto/control-tls/tls.key" -}}
{{- end -}}
{{- if .Values.interceptCa.existingSecret -}}
{{- $_ := set $e "CA_CERT" "/etc/matgto/ca/tls.crt" -}}
{{- $_ := set $e "CA_KEY" "/etc/matgto/ca/tls.key" -}}
{{- else -}}
{{- $_ := set $e "CA_DIR" "/ca" -}}
{{- end -}}
{{- $e = merge (deepCopy (.Values.config | default dict)) $e -}}
{{- range $k := keys $e | sortAlpha }}
- name: MATGTO_{{ $k | upper }}
  value: {{ get $e $k | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The matgto container (central Deployment, or the Job's native sidecar). */}}
{{- define "matgto.container" -}}
- name: matgto
  image: {{ include "matgto.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq .Values.kind "sidecar" }}
  restartPolicy: Always   # native sidecar: up for the Pod's life, stopped after the tests
  {{- end }}
  args: ["serve"]
  env:
    {{- include "matgto.env" . | trim | nindent 4 }}
  {{- with .Values.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - { name: proxy, containerPort: {{ .Values.ports.proxy }} }
    - { name: control, containerPort: {{ .Values.ports.control }} }
    - { name: admin, containerPort: {{ .Values.ports.admin }} }
  # The admin port: /healthz (alive) and /readyz (listening, store reachable, not
  # draining) stay open when tokens are on; plain HTTP even when the control API has TLS.
  startupProbe:
    httpGet: { path: /healthz, port: admin }
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    httpGet: { path: /healthz, port: admin }
    periodSeconds: 10
  readinessProbe:
    httpGet: { path: /readyz, port: admin }
    periodSeconds: 5
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- if ne .Values.cassettes.source "none" }}
    - name: cassettes
      mountPath: /cassettes
      {{- if eq .Values.cassettes.source "configMap" }}
      readOnly: true
      {{- end }}
    {{- end }}
    - { name: cache, mountPath: /cache }
    - { name: tmp, mountPath: /tmp }
    {{- if .Values.interceptCa.existingSecret }}
    - { name: ca, mountPath: /etc/matgto/ca, readOnly: true }
    {{- else }}
    - { name: ca, mountPath: /ca }
    {{- end }}
    {{- if include "matgto.tokensSecret" . }}
    - { name: tokens, mountPath: /etc/matgto/tokens, readOnly: true }
    {{- end }}
    {{- if .Values.controlTls.existingSecret }}
    - { name: control-tls, mountPath: /etc/matgto/control-tls, readOnly: true }
    {{- end }}
{{- end -}}

{{- define "matgto.volumes" -}}
{{- $src := .Values.cassettes.source -}}
{{- if eq $src "emptyDir" }}
- name: cassettes
  emptyDir: {}
{{- else if eq $src "configMap" }}
- name: cassettes
  configMap:
    name: {{ required "cassettes.configMap: the ConfigMap holding the cassettes" .Values.cassettes.configMap }}
{{- else if eq $src "persistentVolumeClaim" }}
- name: cassettes
  persistentVolumeClaim:
    claimName: {{ required "cassettes.claimName: the claim holding the cassettes" .Values.cassettes.claimName }}
{{- end }}
- name: cache
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if .Values.interceptCa.existingSecret }}
- name: ca
  secret: { secretName: {{ .Values.interceptCa.existingSecret }}, defaultMode: 0400 }
{{- else }}
- name: ca
  emptyDir: {}
{{- end }}
{{- with include "matgto.tokensSecret" . }}
- name: tokens
  secret: { secretName: {{ . }}, defaultMode: 0400 }
{{- end }}
{{- if .Values.controlTls.existingSecret }}
- name: control-tls
  secret: { secretName: {{ .Values.controlTls.existingSecret }}, defaultMode: 0400 }
{{- end }}
{{- end -}}

{{- define "matgto.podMeta" -}}
labels:
  {{- include "matgto.selectorLabels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $ann := deepCopy (.Values.podAnnotations | default dict) -}}
{{- if .Values.metrics.scrapeAnnotations -}}
{{- $_ := set $ann "prometheus.io/scrape" "true" -}}
{{- $_ := set $ann "prometheus.io/port" (toString .Values.ports.admin) -}}
{{- $_ := set $ann "prometheus.io/path" "/metrics" -}}
{{- end -}}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "matgto.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
