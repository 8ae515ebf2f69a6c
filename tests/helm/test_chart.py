"""The Helm chart deploy/helm/matgto: `helm lint --strict` and `helm template`
with the default values and the examples (ci/*-values.yaml), what the rendered
objects say, that every MATGTO_* variable the chart sets is a real `serve` flag,
and that the real matgto binary starts with exactly the rendered environment
(paths and ports moved to the test's own) and answers /readyz.

Run by `make helm-test` (scripts/helm-test.sh): needs $HELM and $MATGTO_BIN."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/matgto"
HELM = os.environ.get("HELM", "helm")
MATGTO_BIN = os.environ.get("MATGTO_BIN", str(ROOT / "build/dev/bin/matgto"))
KUBE = "1.31.0"
EXAMPLES = {"default": [], "central": ["-f", str(CHART / "ci/central-values.yaml")],
            "sidecar": ["-f", str(CHART / "ci/sidecar-values.yaml")]}


def helm(*args, check=True):
    r = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r


def render(*values) -> dict:
    out = helm("template", "rel", str(CHART), "--namespace", "tests", "--kube-version", KUBE,
               *values).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    by_kind = {}
    for d in docs:
        assert d["apiVersion"] and d["metadata"]["name"], d
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def pod_spec(objs) -> dict:
    workload = (objs.get("Deployment") or objs.get("Job"))[0]
    return workload["spec"]["template"]["spec"]


def matgto_container(spec) -> dict:
    return next(c for c in spec.get("initContainers", []) + spec["containers"]
                if c["name"] == "matgto")


def env_of(container) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_lint_strict(example):
    r = helm("lint", "--strict", str(CHART), "--kube-version", KUBE, *EXAMPLES[example])
    assert "0 chart(s) failed" in r.stdout, r.stdout


def test_central_server():
    objs = render(*EXAMPLES["central"])
    assert sorted(objs) == ["Deployment", "NetworkPolicy", "Service", "ServiceMonitor"]
    deploy = objs["Deployment"][0]
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    spec = pod_spec(objs)
    assert spec["securityContext"]["runAsNonRoot"] is True
    c = matgto_container(spec)
    assert c["args"] == ["serve"] and c["image"] == "registry.example.com/matgto:0.1.0"
    env = env_of(c)
    assert env["MATGTO_STORE"] == "s3://matgto-cassettes/central"
    assert env["MATGTO_BIND"] == env["MATGTO_CONTROL_BIND"] == "0.0.0.0"
    assert "MATGTO_CASSETTE_DIR" not in env          # cassettes.source: none (the store)
    # Secrets are mounted where the environment points.
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for var, volume, secret in (("MATGTO_AUTH_TOKENS", "tokens", "matgto-tokens"),
                                ("MATGTO_CONTROL_TLS_CERT", "control-tls", "matgto-control-tls")):
        assert mounts[str(Path(env[var]).parent)] == volume
        assert volumes[volume]["secret"]["secretName"] == secret
    assert {"secretRef": {"name": "matgto-s3"}} in c["envFrom"]
    # Probes on the admin port (open paths, plain HTTP even with TLS on the control API).
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    svc = objs["Service"][0]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {
        "proxy": 8888, "control": 8889, "admin": 9090}
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    netpol = objs["NetworkPolicy"][0]["spec"]["ingress"][0]
    assert netpol["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ci"}}}]
    sm = objs["ServiceMonitor"][0]["spec"]["endpoints"][0]
    assert sm["port"] == "admin" and sm["path"] == "/metrics"
    assert sm["bearerTokenSecret"] == {"name": "matgto-metrics-token", "key": "token"}


def test_sidecar_job():
    objs = render(*EXAMPLES["sidecar"])
    assert sorted(objs) == ["Job", "NetworkPolicy"]
    spec = pod_spec(objs)
    assert spec["restartPolicy"] == "Never"
    c = matgto_container(spec)
    assert c in spec["initContainers"] and c["restartPolicy"] == "Always"  # native sidecar
    env = env_of(c)
    assert env["MATGTO_BIND"] == env["MATGTO_CONTROL_BIND"] == "127.0.0.1"
    assert env["MATGTO_MODE"] == "replay" and env["MATGTO_CASSETTE"] == "demo"
    assert env["MATGTO_CA_CERT"] == "/etc/matgto/ca/tls.crt"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    cassettes = next(m for m in c["volumeMounts"] if m["name"] == "cassettes")
    assert cassettes["mountPath"] == "/cassettes" and cassettes["readOnly"] is True
    app = spec["containers"][0]
    app_env = env_of(app)
    assert app_env["HTTP_PROXY"] == app_env["http_proxy"] == "http://127.0.0.1:8888"
    assert app_env["MATGTO_SERVER"] == "127.0.0.1:8889"
    assert app_env["REQUESTS_CA_BUNDLE"] == "/matgto-ca/tls.crt"
    assert app_env["TEST_SUITE"] == "integration"
    ca_cert = next(v for v in spec["volumes"] if v["name"] == "ca-cert")
    assert ca_cert["secret"]["items"] == [{"key": "tls.crt", "path": "tls.crt"}]  # no key
    assert objs["NetworkPolicy"][0]["spec"]["ingress"] == []


def test_inline_tokens_make_a_secret_and_config_wins():
    objs = render("--set", "auth.tokens=abcdefghijklmnop0123 read",
                  "--set", "config.BIND=127.0.0.1", "--set", "config.LOG_LEVEL=debug")
    secret = objs["Secret"][0]
    assert secret["stringData"]["tokens"].strip() == "abcdefghijklmnop0123 read"
    c = matgto_container(pod_spec(objs))
    env = env_of(c)
    assert env["MATGTO_AUTH_TOKENS"] == "/etc/matgto/tokens/tokens"
    assert env["MATGTO_BIND"] == "127.0.0.1" and env["MATGTO_LOG_LEVEL"] == "debug"
    tokens = next(v for v in pod_spec(objs)["volumes"] if v["name"] == "tokens")
    assert tokens["secret"]["secretName"] == secret["metadata"]["name"]


@pytest.mark.parametrize("values,message", [
    (["--set", "kind=daemon"], "kind"),
    (["--set", "cassettes.source=configMap"], "cassettes.configMap"),
    (["--set", "ports.proxy=70000"], "/ports/proxy"),
])
def test_bad_values_are_refused(values, message):
    r = helm("template", "rel", str(CHART), "--kube-version", KUBE, *values, check=False)
    assert r.returncode != 0 and message in r.stderr, r.stderr


def test_every_matgto_variable_is_a_serve_flag():
    help_text = subprocess.run([MATGTO_BIN, "serve", "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    for example in EXAMPLES.values():
        for name in env_of(matgto_container(pod_spec(render(*example)))):
            if name.startswith("MATGTO_"):
                assert f"(Env:{name})" in help_text, f"{name} is no `matgto serve` flag"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return None


@pytest.mark.parametrize("example", ["default", "sidecar"])
def test_matgto_starts_with_the_rendered_environment(example, tmp_path):
    """The container's environment, as rendered, is all the real binary gets
    (plus `serve`); mounted paths and ports are moved to the test's own."""
    values = EXAMPLES[example]
    if example == "sidecar":  # no CA Secret here: a CA directory instead
        values = values + ["--set", "interceptCa.existingSecret="]
    env = env_of(matgto_container(pod_spec(render(*values))))
    ports = {k: free_port() for k in ("PROXY", "CONTROL", "ADMIN")}
    for key, port in ports.items():
        env[f"MATGTO_{key}_PORT"] = str(port)
    for key in ("BIND", "CONTROL_BIND", "ADMIN_BIND"):
        env[f"MATGTO_{key}"] = "127.0.0.1"
    # Only directories the test replaces point into the container's file system.
    movable = {"MATGTO_CASSETTE_DIR", "MATGTO_CACHE_DIR", "MATGTO_CA_DIR"}
    assert {k for k, v in env.items() if v.startswith("/")} <= movable, env
    for key in movable & env.keys():
        d = tmp_path / key.lower()
        d.mkdir()
        env[key] = str(d)
    if example == "sidecar":  # cassette `demo` in use from the start: it must exist
        subprocess.run([MATGTO_BIN, "cassette", "--dir", env["MATGTO_CASSETTE_DIR"], "import",
                        str(write_demo(tmp_path)), "--name", "demo"], check=True, capture_output=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MATGTO_")}
    log = open(tmp_path / "matgto.log", "w+b")
    proc = subprocess.Popen([MATGTO_BIN, "serve"], env={**base, **env}, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        admin = f"http://127.0.0.1:{ports['ADMIN']}"
        deadline = time.monotonic() + 20
        while get(admin + "/readyz") != 200:
            assert proc.poll() is None, (tmp_path / "matgto.log").read_text()
            assert time.monotonic() < deadline, "no /readyz 200 within 20 s"
            time.sleep(0.1)
        assert get(admin + "/healthz") == 200
        socket.create_connection(("127.0.0.1", ports["PROXY"]), timeout=5).close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        log.close()
    text = (tmp_path / "matgto.log").read_text()
    assert code == 0, text
    if env.get("MATGTO_LOG_FORMAT") == "json":
        assert text.lstrip().startswith("{"), text


def write_demo(tmp_path: Path) -> Path:
    """A one-entry HAR, imported as cassette `demo`."""
    har = tmp_path / "demo.har"
    har.write_text('{"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, '
                   '"entries": [{"startedDateTime": "2026-01-01T00:00:00Z", "time": 1, '
                   '"request": {"method": "GET", "url": "http://example.test/", '
                   '"httpVersion": "HTTP/1.1", "headers": [], "queryString": [], '
                   '"cookies": [], "headersSize": -1, "bodySize": 0}, '
                   '"response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", '
                   '"headers": [], "cookies": [], "content": {"size": 2, "mimeType": '
                   '"text/plain", "text": "ok"}, "redirectURL": "", "headersSize": -1, '
                   '"bodySize": 2}, "cache": {}, "timings": {"send": 0, "wait": 1, '
                   '"receive": 0}}]}}')
    return har
