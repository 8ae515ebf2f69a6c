#!/usr/bin/env bash
# Makes deploy/central/secrets/ for compose.yaml (and the values of the Kubernetes Secrets in
# deploy/kubernetes/central.yaml): a self-signed TLS certificate for the control API, one token
# per scope, and the S3 keys shared by matgto and SeaweedFS. Never commit secrets/.
#   deploy/central/make-secrets.sh [HOSTNAME]     (default: the machine's name)
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
host="${1:-$(hostname -f 2>/dev/null || hostname)}"
mkdir -p "$dir"
chmod 0755 "$dir"   # the image's user (uid 10001) reads it through a bind mount
rand() { openssl rand -hex "$1"; }
if [ ! -f "$dir/tls.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host,DNS:matgto,DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
fi
if [ ! -f "$dir/tokens" ]; then
  {
    echo "# TOKEN SCOPE [NAME-PREFIX]: read (status, list, get, replay), write (+ record, put, delete), admin (+ shutdown)"
    echo "$(rand 24) read"
    echo "$(rand 24) write"
    echo "$(rand 24) write team-a/"
    echo "$(rand 24) admin"
  } > "$dir/tokens"
fi
if [ ! -f "$dir/s3.env" ]; then
  key="matgto$(rand 6)"; secret="$(rand 20)"
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$key" "$secret" > "$dir/s3.env"
  cat > "$dir/s3.json" <<JSON
{"identities": [{"name": "matgto", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
fi
chmod 0644 "$dir"/*   # readable by the containers' users; keep the directory itself private to you
echo "secrets in $dir (tokens: $dir/tokens)"
