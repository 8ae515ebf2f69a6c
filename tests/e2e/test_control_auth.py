"""The secured control API from the CLI: bearer tokens with scopes and name
prefixes (--auth-tokens), TLS (--control-tls-cert/--control-tls-key) and
mTLS (--control-client-ca), start-up errors and the warning for a control
port beyond loopback. Certificates are made at test time with the openssl
CLI."""
import os
import subprocess
from pathlib import Path

import grpc
import pytest

from conftest import MATGTO_BIN

READ = "read-token-0123456789"
WRITE = "write-token-0123456789"
ADMIN = "admin-token-0123456789"
TEAM_A = "team-a-token-0123456789"

TOKENS = f"""# test tokens
{READ}   read
{WRITE}  write   # recorders
{ADMIN}  admin

{TEAM_A} write team-a/
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            cwd=d)


def make_leaf(d: Path, name: str, ca: str, ext: str):
    (d / f"{name}.ext").write_text(ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a
    client certificate from another CA."""
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_leaf(d, "server", "ca",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    make_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    make_leaf(d, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n")
    return d


@pytest.fixture
def tokens(tmp_path):
    p = tmp_path / "tokens.txt"
    p.write_text(TOKENS)
    p.chmod(0o600)
    return p


def cli(server, *args, token=None, env=None, tls=()):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MATGTO_")}
    e.update(env or {})
    cmd = [MATGTO_BIN, "--server", server.control, *tls]
    if token:
        cmd += ["--token", token]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, env=e)


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def refused(r, code, *fragments):
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"matgto: {code}:" in r.stderr, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr
    return r


def import_cassette(server, name, token=WRITE, tls=()):
    har = server.dir / f"{name.replace('/', '_')}.har"
    har.write_text('{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":['
                   '{"startedDateTime":"2024-01-01T00:00:00Z","time":1,"request":{"method":"GET",'
                   '"url":"http://example.test/a","httpVersion":"HTTP/1.1","headers":[],'
                   '"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},"response":'
                   '{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[],'
                   '"cookies":[],"content":{"size":2,"mimeType":"text/plain","text":"hi"},'
                   '"redirectURL":"","headersSize":-1,"bodySize":2},"cache":{},'
                   '"timings":{"send":0,"wait":1,"receive":0}}]}}')
    return ok(cli(server, "cassette", "import", str(har), "--name", name, token=token, tls=tls))


def test_each_scope_allowed_and_refused(matgto, tokens):
    s = matgto("--auth-tokens", str(tokens))
    out = s.output()
    assert "control API: plaintext, 4 tokens from" in out, out
    for t in (READ, WRITE, ADMIN, TEAM_A):
        assert t not in out  # tokens are never logged
    import_cassette(s, "shared")

    # read: status, list, get, replay in a session of its own; no recording.
    ok(cli(s, "status", token=READ))
    assert "shared" in ok(cli(s, "cassette", "ls", token=READ)).stdout
    ok(cli(s, "cassette", "export", "shared", token=READ))
    ok(cli(s, "ca", "export", token=READ))
    refused(cli(s, "record", "new", token=READ), "PERMISSION_DENIED",
            "StartRecording needs a token with scope 'write'", "this token has 'read'")
    refused(cli(s, "use", "missing", "--mode", "auto", token=READ), "PERMISSION_DENIED",
            "UseCassette needs a token with scope 'write'", "would be recorded")
    refused(cli(s, "cassette", "rm", "shared", token=READ), "PERMISSION_DENIED",
            "DeleteCassette needs")
    r = ok(cli(s, "replay", "shared", "--new-session", "--json", token=READ))
    session = __import__("json").loads(r.stdout)["id"]
    ok(cli(s, "fault", "--session", session, "add", "--status", "503", token=READ))
    ok(cli(s, "stop", "--session", session, token=READ))
    refused(cli(s, "shutdown", token=READ), "PERMISSION_DENIED",
            "Shutdown needs a token with scope 'admin'")

    # write: records, stops, deletes; cannot shut down. Via MATGTO_TOKEN.
    env = {"MATGTO_TOKEN": WRITE}
    ok(cli(s, "record", "rec", env=env))
    refused(cli(s, "stop", token=READ), "PERMISSION_DENIED",
            "StopRecording needs a token with scope 'write'", "records cassette 'rec'")
    ok(cli(s, "stop", env=env))
    ok(cli(s, "cassette", "rm", "rec", env=env))
    refused(cli(s, "shutdown", env=env), "PERMISSION_DENIED", "scope 'admin'",
            "this token has 'write'")

    # missing or wrong token: UNAUTHENTICATED, with a hint; never echoed.
    r = refused(cli(s, "status"), "UNAUTHENTICATED", "requires a token",
                "give --token or set MATGTO_TOKEN")
    r = refused(cli(s, "cassette", "ls", token="not-a-real-token-000"), "UNAUTHENTICATED",
                "not one this server accepts")
    assert "not-a-real-token-000" not in r.stderr
    assert "not-a-real-token-000" not in s.output()

    # admin shuts down.
    ok(cli(s, "shutdown", token=ADMIN))
    s.proc.wait(timeout=20)
    assert s.proc.returncode == 0


def test_prefix_token_only_touches_its_cassettes(matgto, tokens):
    s = matgto("--auth-tokens", str(tokens))
    for name in ("team-a/login", "team-b/login", "shared"):
        import_cassette(s, name)
    ls = ok(cli(s, "cassette", "ls", token=TEAM_A)).stdout
    assert "team-a/login" in ls and "team-b/login" not in ls and "shared" not in ls, ls
    assert "no cassettes" in ok(cli(s, "cassette", "ls", "team-b/", token=TEAM_A)).stdout
    ok(cli(s, "cassette", "export", "team-a/login", token=TEAM_A))
    refused(cli(s, "cassette", "export", "team-b/login", token=TEAM_A), "PERMISSION_DENIED",
            "start with 'team-a/'", "'team-b/login'")
    refused(cli(s, "cassette", "rm", "shared", token=TEAM_A), "PERMISSION_DENIED",
            "DeleteCassette")
    refused(cli(s, "record", "team-b/x", "--new-session", token=TEAM_A), "PERMISSION_DENIED",
            "StartRecording")
    import json
    other = json.loads(ok(cli(s, "record", "team-b/rec", "--new-session", "--json",
                              token=WRITE)).stdout)["id"]
    mine = json.loads(ok(cli(s, "record", "team-a/rec", "--new-session", "--json",
                             token=TEAM_A)).stdout)["id"]
    sessions = ok(cli(s, "sessions", token=TEAM_A)).stdout
    assert mine in sessions and other not in sessions, sessions
    assert other in ok(cli(s, "sessions", token=READ)).stdout
    refused(cli(s, "stop", "--session", other, token=TEAM_A), "PERMISSION_DENIED",
            f"session '{other}' is not one")
    refused(cli(s, "fault", "--session", other, "ls", token=TEAM_A), "PERMISSION_DENIED")
    ok(cli(s, "stop", "--session", mine, token=TEAM_A))
    ok(cli(s, "stop", "--session", other, token=WRITE))


def test_startup_errors_name_the_file(tmp_path, pki):
    def serve(*args):
        return subprocess.run([MATGTO_BIN, "serve", "--proxy-port", "0", "--control-port", "0",
                               "--cassette-dir", str(tmp_path / "c"), "--ca-dir",
                               str(tmp_path / "ca"), *args],
                              capture_output=True, text=True, timeout=30)

    bad = tmp_path / "bad-tokens.txt"
    bad.write_text(f"# ok\n{READ} read\n{WRITE} owner\n")
    r = serve("--auth-tokens", str(bad))
    assert r.returncode == 2 and f"{bad}:3: unknown scope 'owner'" in r.stderr, r.stderr
    assert WRITE not in r.stderr + r.stdout
    r = serve("--auth-tokens", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "cannot read token file" in r.stderr, r.stderr
    r = serve("--control-tls-cert", str(pki / "server.pem"), "--control-tls-key",
              str(pki / "client.key"))
    assert r.returncode == 2 and "is not the key of --control-tls-cert" in r.stderr, r.stderr
    r = serve("--control-tls-cert", str(pki / "server.pem"), "--control-tls-key",
              str(tmp_path / "nope.key"))
    assert r.returncode == 2 and "cannot read --control-tls-key" in r.stderr, r.stderr
    r = serve("--control-tls-cert", str(pki / "server.pem"))
    assert r.returncode == 2 and "go together" in r.stderr, r.stderr
    r = serve("--control-client-ca", str(pki / "ca.pem"))
    assert r.returncode == 2 and "--control-client-ca needs" in r.stderr, r.stderr


def test_tls_with_tokens(matgto, pki, tokens):
    s = matgto("--control-tls-cert", str(pki / "server.pem"), "--control-tls-key",
               str(pki / "server.key"), "--auth-tokens", str(tokens))
    assert "control API: TLS, 4 tokens" in s.output()
    tls = ("--tls-ca", str(pki / "ca.pem"))
    ok(cli(s, "status", token=READ, tls=tls))
    refused(cli(s, "record", "x", token=READ, tls=tls), "PERMISSION_DENIED", "scope 'write'")
    refused(cli(s, "status", tls=tls), "UNAUTHENTICATED")
    # The CA from the environment, and an https:// address.
    ok(cli(s, "status", token=READ, env={"MATGTO_TLS_CA": str(pki / "ca.pem")}))
    r = subprocess.run([MATGTO_BIN, "--server", f"https://{s.control}", "--tls-ca",
                        str(pki / "ca.pem"), "--token", READ, "status"],
                       capture_output=True, text=True, timeout=60)
    ok(r)
    # Plaintext to a TLS port, and a CA that did not sign the server: no
    # connection (exit 3) with a hint.
    r = cli(s, "--timeout", "5", "status", token=READ)
    assert r.returncode == 3 and "give --tls-ca" in r.stderr, r.stderr
    r = cli(s, "--timeout", "5", "status", token=READ, tls=("--tls-ca", str(pki / "rogue-ca.pem")))
    assert r.returncode == 3 and "Check --tls-ca" in r.stderr, r.stderr
    # The health service answers without a token (probes).
    creds = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes())
    with grpc.secure_channel(s.control, creds) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check")
        assert check(b"", timeout=10) == b"\x08\x01"  # status: SERVING


def test_mtls_requires_a_client_certificate_from_the_ca(matgto, pki, tokens):
    s = matgto("--control-tls-cert", str(pki / "server.pem"), "--control-tls-key",
               str(pki / "server.key"), "--control-client-ca", str(pki / "ca.pem"),
               "--auth-tokens", str(tokens))
    assert "control API: mTLS (client certificates required), 4 tokens" in s.output()
    ca = ("--tls-ca", str(pki / "ca.pem"))
    mine = (*ca, "--tls-cert", str(pki / "client.pem"), "--tls-key", str(pki / "client.key"))
    ok(cli(s, "status", token=READ, tls=mine))
    ok(cli(s, "status", token=READ, env={"MATGTO_TLS_CA": str(pki / "ca.pem"),
                                        "MATGTO_TLS_CERT": str(pki / "client.pem"),
                                        "MATGTO_TLS_KEY": str(pki / "client.key")}))
    refused(cli(s, "shutdown", token=WRITE, tls=mine), "PERMISSION_DENIED", "scope 'admin'")
    # Tokens still apply with a certificate.
    refused(cli(s, "status", tls=mine), "UNAUTHENTICATED")
    # No certificate, or one from another CA: the handshake fails.
    r = cli(s, "--timeout", "5", "status", token=READ, tls=ca)
    assert r.returncode == 3 and "--tls-cert/--tls-key" in r.stderr, r.stderr
    rogue = (*ca, "--tls-cert", str(pki / "rogue.pem"), "--tls-key", str(pki / "rogue.key"))
    r = cli(s, "--timeout", "5", "status", token=READ, tls=rogue)
    assert r.returncode == 3, r.stderr
    r = cli(s, "status", token=READ, tls=(*ca, "--tls-cert", str(pki / "client.pem")))
    assert r.returncode == 2 and "go together" in r.stderr, r.stderr


def test_warning_for_a_control_port_beyond_loopback(tmp_path, pki, tokens):
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails
    # after the security check, so nothing listens beyond loopback.
    def serve(*args):
        return subprocess.run([MATGTO_BIN, "serve", "--proxy-port", "0", "--control-port", "0",
                               "--cassette-dir", str(tmp_path / "c"), "--ca-dir",
                               str(tmp_path / "ca"), "--control-bind", "192.0.2.1", *args],
                              capture_output=True, text=True, timeout=30)

    r = serve()
    assert "WARNING: the control API listens on 192.0.2.1" in r.stderr, r.stderr
    assert "without TLS and without tokens" in r.stderr
    r = serve("--auth-tokens", str(tokens))
    assert "without TLS (tokens travel in clear text)" in r.stderr, r.stderr
    r = serve("--auth-tokens", str(tokens), "--control-tls-cert", str(pki / "server.pem"),
              "--control-tls-key", str(pki / "server.key"))
    assert "WARNING" not in r.stderr, r.stderr
    # A token file others may read is pointed out.
    loose = tmp_path / "loose-tokens.txt"
    loose.write_text(TOKENS)
    loose.chmod(0o644)
    r = serve("--auth-tokens", str(loose))
    assert f"WARNING: token file {loose} is readable by other users (mode 0644)" in r.stderr, \
        r.stderr


def test_no_warning_on_loopback(matgto):
    s = matgto()
    assert "WARNING: the control API" not in s.output()
    assert "control API: plaintext, no tokens" in s.output()


def test_cli_refuses_a_plaintext_token_to_another_machine_unless_told():
    """As the clients do: a token leaves this machine only over TLS, or in
    plaintext when the server is written http:// on purpose."""
    cmd = [MATGTO_BIN, "status", "--token", WRITE]
    r = subprocess.run([*cmd, "--server", "192.0.2.1:8889"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "refusing to send the token in plaintext to 192.0.2.1:8889" in r.stderr
    # Written http://, it tries (and finds nobody there: exit 3, unreachable).
    r = subprocess.run([*cmd, "--server", "http://192.0.2.1:8889", "--timeout", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r
    assert "refusing" not in r.stderr


def test_event_stream_and_admin_port_follow_the_tokens(matgto, tokens, upstream):
    """WatchEvents (`matgto tail`) needs a token like any call and shows a
    prefix token only its cassettes; the admin port's /metrics and page take
    the same tokens (not a prefix token: they show every session), while
    /healthz and /readyz stay open for probes."""
    import json
    import time
    import urllib.error
    import urllib.request
    s = matgto("--auth-tokens", str(tokens), "--admin-port", "0")
    admin = json.loads(s.ready.read_text())["admin"]

    def get(path, token=None):
        req = urllib.request.Request(f"http://{admin}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert get("/healthz") == 200 and get("/readyz") == 200
    assert get("/metrics") == 401
    assert get("/metrics", "not-a-token-at-all-000") == 401
    assert get("/metrics", READ) == 200
    assert get("/metrics", TEAM_A) == 401

    refused(cli(s, "tail", "--json"), "UNAUTHENTICATED")
    refused(cli(s, "tail", "--cassette", "team-b/x", token=TEAM_A), "PERMISSION_DENIED", "team-a/")

    # A team-a watcher sees its own cassette's exchanges, not the others'.
    e = {k: v for k, v in os.environ.items() if not k.startswith("MATGTO_")}
    tail = subprocess.Popen([MATGTO_BIN, "--server", s.control, "--token", TEAM_A, "tail", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    try:
        assert "following events" in tail.stderr.readline()
        for name, token in (("other/one", WRITE), ("team-a/one", TEAM_A)):
            r = ok(cli(s, "record", name, "--new-session", "--json", token=token))
            proxy = json.loads(r.stdout)["proxy_address"]
            subprocess.run(["curl", "-s", "-x", f"http://{proxy}", upstream.url("/counter")],
                           check=True, capture_output=True)
            ok(cli(s, "stop", "--session", json.loads(r.stdout)["id"], token=token))
        time.sleep(1.5)
    finally:
        tail.terminate()
        out, _ = tail.communicate(timeout=10)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    cassettes = {ev[kind].get("cassette") for ev in events
                 for kind in ("exchange", "session", "miss") if kind in ev}
    assert "team-a/one" in cassettes, out
    assert "other/one" not in cassettes, out
