"""HTTPS interception with real TLS on both sides: curl, requests, openssl s_client."""
import concurrent.futures
import os
import socket
import ssl
import stat
import subprocess
import threading
import http.server
from pathlib import Path

import pytest
import requests

from conftest import free_port, wait_for  # noqa: F401


class TlsUpstream:
    def __init__(self, pki: Path, leaf="good"):
        calls = {"n": 0}

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                calls["n"] += 1
                body = f"secure {self.path} call {calls['n']}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Set-Cookie", "tls=secret-cookie; Secure")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / f"{leaf}.pem", pki / f"{leaf}.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.calls = calls
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path, host="localhost"):
        return f"https://{host}:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_upstream(pki):
    u = TlsUpstream(pki)
    yield u
    u.close()


def ca_of(server) -> Path:
    path = server.dir / "matgto-ca.pem"
    path.write_text(server.cli("ca", "export").stdout)
    return path


def curl_tls(server, url, cacert, *extra):
    # HTTP/1.1 inside the tunnel: these tests check HTTP/1.1 interception
    # (curl would negotiate h2 with matgto; test_http2.py covers that).
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", server.proxy_url,
                           "--http1.1", "--cacert", str(cacert), url, *extra],
                          capture_output=True, timeout=30)


def test_curl_records_https_and_replays_with_upstream_gone(matgto, pki, tls_upstream):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca = ca_of(server)
    server.cli("record", "https")
    live = [curl_tls(server, tls_upstream.url(p, host), ca) for p, host in
            [("/a", "localhost"), ("/b?x=1", "localhost"), ("/ip", "127.0.0.1")]]
    assert all(r.returncode == 0 for r in live), [r.stderr for r in live]
    server.cli("stop")
    data = server.cassette_path("https").read_bytes()
    assert f"https://localhost:{tls_upstream.port}/a".encode() in data
    assert f"https://127.0.0.1:{tls_upstream.port}/ip".encode() in data
    assert b"secret-cookie" not in data
    tls_upstream.close()
    server.cli("replay", "https")
    again = [curl_tls(server, tls_upstream.url(p, host), ca) for p, host in
             [("/a", "localhost"), ("/b?x=1", "localhost"), ("/ip", "127.0.0.1")]]
    assert [r.stdout for r in again] == [r.stdout for r in live]


def test_python_requests_with_verify(matgto, pki, tls_upstream):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca = ca_of(server)
    p = {"https": server.proxy_url}
    server.cli("record", "req")
    live = requests.get(tls_upstream.url("/r"), proxies=p, verify=str(ca)).content
    server.cli("stop")
    tls_upstream.close()
    server.cli("replay", "req")
    assert requests.get(tls_upstream.url("/r"), proxies=p, verify=str(ca)).content == live
    # Without trusting the CA the client refuses, and the server keeps serving.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_upstream.url("/r"), proxies=p, verify=True)
    assert requests.get(tls_upstream.url("/r"), proxies=p, verify=str(ca)).content == live


def s_client_leaf(server, connect_host, servername=None):
    args = ["openssl", "s_client", "-proxy", server.proxy, "-connect", connect_host, "-showcerts"]
    args += ["-servername", servername] if servername else ["-noservername"]
    r = subprocess.run(args, input=b"", capture_output=True, timeout=20)
    pem = r.stdout.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
    pem = b"-----BEGIN CERTIFICATE-----" + pem + b"-----END CERTIFICATE-----\n"
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem,
                          capture_output=True, check=True).stdout.decode()
    return pem, text, r.stdout.decode(errors="replace")


def test_leaf_certificates_from_s_client(server, tls_upstream):
    ca = ca_of(server)
    server.cli("use", "s", "--mode", "passthrough")
    pem, text, out = s_client_leaf(server, f"localhost:{tls_upstream.port}", "api.example.test")
    assert "DNS:api.example.test" in text
    ca_subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(ca)],
                                capture_output=True, text=True).stdout.split("=", 1)[1].strip()
    assert "matgto CA" in ca_subject
    assert "matgto CA" in text.split("Issuer:")[1].splitlines()[0]
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca)], input=pem, capture_output=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    dates = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(398 * 86400)], input=pem,
                           capture_output=True)
    assert dates.returncode != 0, "leaf valid for more than 398 days"
    assert "ecdsa-with-SHA256" in text and "TLS Web Server Authentication" in text
    # No SNI: the certificate is for the CONNECT host, an IP as an IP SAN.
    _, text_ip, _ = s_client_leaf(server, f"127.0.0.1:{tls_upstream.port}")
    assert "IP Address:127.0.0.1" in text_ip


def connect_tunnel(server, target: str) -> socket.socket:
    """A socket to the proxy on which CONNECT `target` was answered 200."""
    host, port = server.proxy.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=20)
    raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = raw.recv(1)
        assert chunk, f"proxy closed the CONNECT: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return raw


def test_many_names_intercepted_at_once_each_get_their_own_certificate(matgto, pki, tls_upstream):
    # Two I/O threads make and share leaf certificates for 24 names (SNI)
    # while clients handshake for all of them at once, three connections per
    # name: each client checks the certificate it got against its own name,
    # and its request goes through the tunnel to the upstream.
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca = ca_of(server)
    server.cli("use", "many", "--mode", "passthrough")
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["http/1.1"])
    target = f"localhost:{tls_upstream.port}"
    names = [f"host-{i}.example.test" for i in range(24)]

    def one(name):
        with ctx.wrap_socket(connect_tunnel(server, target), server_hostname=name) as tls:
            sans = [v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS"]
            tls.sendall(f"GET /{name} HTTP/1.1\r\nHost: {target}\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
        return name, sans, data

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, names * 3))
    for name, sans, data in results:
        assert sans == [name]
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert f"secure /{name} call".encode() in data
    assert tls_upstream.calls["n"] == len(results)
    assert server.alive()


def test_untrusted_expired_and_mismatched_upstreams_get_502(matgto, pki):
    server = matgto()
    ca = ca_of(server)
    server.cli("use", "u", "--mode", "passthrough")
    cases = [("good", "unable to get local issuer certificate")]
    for leaf, reason in cases:
        up = TlsUpstream(pki, leaf)
        r = curl_tls(server, up.url("/x"), ca, "-i")
        up.close()
        assert b"HTTP/1.1 502" in r.stdout
        assert b"X-Matgto-Error: upstream-tls-error" in r.stdout
        assert reason.encode() in r.stdout, r.stdout
    server2 = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca2 = ca_of(server2)
    server2.cli("record", "bad")
    for leaf, reason in [("expired", "certificate has expired"), ("wrongname", "hostname mismatch")]:
        up = TlsUpstream(pki, leaf)
        r = curl_tls(server2, up.url("/x"), ca2, "-i")
        up.close()
        assert b"upstream-tls-error" in r.stdout and reason.encode() in r.stdout.lower(), r.stdout
    assert "recorded 0" in server2.cli("stop").stdout


def test_insecure_upstream_is_loud_and_works(matgto, pki, tls_upstream):
    server = matgto("--insecure-upstream")
    ca = ca_of(server)
    server.cli("use", "i", "--mode", "passthrough")
    r = curl_tls(server, tls_upstream.url("/x"), ca)
    assert r.returncode == 0 and r.stdout.startswith(b"secure /x")
    assert "NOT verified" in server.output()
    assert '"insecure_upstream": true' in server.cli("status", "--json").stdout


def test_ca_is_created_once_reused_and_private(matgto):
    a = matgto()
    pem_a = a.cli("ca", "export").stdout
    ca_dir = a.dir.parent / "ca"
    assert stat.S_IMODE((ca_dir / "matgto-ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    a.stop()
    b = matgto()
    assert b.cli("ca", "export").stdout == pem_a
    assert "created a new CA" not in b.output()


def test_bring_your_own_ca(matgto, pki, tls_upstream):
    server = matgto("--ca-cert", str(pki / "ca.pem"), "--ca-key", str(pki / "ca.key"))
    assert server.cli("ca", "export").stdout == (pki / "ca.pem").read_text()
    server.cli("use", "b", "--mode", "passthrough")
    r = requests.get(tls_upstream.url("/own"), proxies={"https": server.proxy_url}, verify=str(pki / "ca.pem"))
    assert r.status_code == 502  # upstream not trusted (no --upstream-ca-file), but TLS to us worked


def test_handshake_aborts_and_garbage_after_connect_leave_server_serving(matgto, pki, tls_upstream):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca = ca_of(server)
    server.cli("use", "g", "--mode", "passthrough")
    host, port = server.proxy.rsplit(":", 1)
    for payload in [b"\x16\x03\x01\x00\x05hello", b"\x16", b"\x00\x01garbage\r\n\r\n", b""]:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(f"CONNECT localhost:{tls_upstream.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
            if payload:
                s.sendall(payload)
    # A client that distrusts the CA aborts the handshake.
    bad = subprocess.run(["curl", "-sS", "--proxy", server.proxy_url, tls_upstream.url("/x")],
                         capture_output=True, timeout=30)
    assert bad.returncode != 0
    r = curl_tls(server, tls_upstream.url("/after"), ca)
    assert r.returncode == 0 and r.stdout.startswith(b"secure /after")


def test_plain_http_inside_connect_tunnel(server, upstream):
    server.cli("record", "tunnel")
    r = subprocess.run(["curl", "-sS", "--proxytunnel", "--proxy", server.proxy_url,
                        upstream.url("/echo?t=1")], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    server.cli("stop")
    assert upstream.url("/echo?t=1").encode() in server.cassette_path("tunnel").read_bytes()


def test_no_intercept_relays_bytes(matgto, pki, tls_upstream):
    server = matgto("--no-intercept", "local*")
    server.cli("use", "n", "--mode", "passthrough")
    # The client sees the upstream's own certificate, not one from matgto.
    r = curl_tls(server, tls_upstream.url("/pinned"), pki / "ca.pem")
    assert r.returncode == 0 and r.stdout.startswith(b"secure /pinned"), r.stderr
    assert '"no_intercept": [\n   "local*"' in server.cli("status", "--json").stdout


def test_alpn_offers_h2_unless_no_http2(matgto, pki, tls_upstream):
    # The upstream here speaks HTTP/1.1 only: with h2 to the client, matgto
    # falls back to HTTP/1.1 upstream (it offered h2 there too).
    for flags, version in [((), b"|2"), (("--no-http2",), b"|1.1")]:
        server = matgto("--upstream-ca-file", str(pki / "ca.pem"), *flags)
        ca = ca_of(server)
        server.cli("use", "a", "--mode", "passthrough")
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", server.proxy_url,
                            "--cacert", str(ca), "--http2", "-w", "|%{http_version}",
                            tls_upstream.url("/h2")], capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith(b"secure /h2"), r.stdout + r.stderr
        assert r.stdout.endswith(version), r.stdout


def test_reverse_mode_plain_and_tls(matgto, pki, tls_upstream):
    server = matgto("--upstream", f"https://localhost:{tls_upstream.port}",
                    "--upstream-ca-file", str(pki / "ca.pem"))
    server.cli("record", "rev")
    live = subprocess.run(["curl", "-sS", f"http://{server.proxy}/rev?q=1"], capture_output=True).stdout
    assert live.startswith(b"secure /rev?q=1")
    server.cli("stop")
    assert f"https://localhost:{tls_upstream.port}/rev?q=1".encode() in server.cassette_path("rev").read_bytes()
    tls_upstream.close()
    server.cli("replay", "rev")
    # Node's fetch ignores HTTP_PROXY; in reverse mode it just talks to the proxy port.
    assert subprocess.run(["curl", "-sS", f"http://{server.proxy}/rev?q=1"], capture_output=True).stdout == live
    server.stop()
    tls_server = matgto("--upstream", f"https://localhost:{tls_upstream.port}", "--reverse-tls",
                        "--cassette-dir", str(server.cassette_dir), "--cassette", "rev", "--mode", "replay")
    ca = ca_of(tls_server)
    port = tls_server.proxy.rsplit(":", 1)[1]
    r = subprocess.run(["curl", "-sS", "--cacert", str(ca), f"https://localhost:{port}/rev?q=1"],
                       capture_output=True)
    assert r.stdout == live, r.stderr


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_clients_resume_their_tls_sessions_with_tickets(matgto, pki, tls_upstream, version):
    """A client that reconnects resumes its session (the ticket matgto gave
    it) instead of a full handshake: on the reverse TLS port, and inside a
    CONNECT tunnel. matgto keeps no server-side session cache."""
    server = matgto("--upstream", f"https://localhost:{tls_upstream.port}",
                    "--upstream-ca-file", str(pki / "ca.pem"), "--reverse-tls",
                    "--mode", "passthrough")
    ctx = ssl.create_default_context(cafile=str(ca_of(server)))
    ctx.minimum_version = ctx.maximum_version = version
    port = int(server.proxy.rsplit(":", 1)[1])

    def exchange(sock, session):
        with ctx.wrap_socket(sock, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET /resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
            return s.session_reused, s.session

    session, reused = None, []
    for _ in range(3):
        was_reused, session = exchange(socket.create_connection(("127.0.0.1", port)), session)
        reused.append(was_reused)
    assert reused == [False, True, True]

    # The same through a CONNECT tunnel of a forward proxy.
    proxy = matgto("--upstream-ca-file", str(pki / "ca.pem"), "--mode", "passthrough")
    ctx = ssl.create_default_context(cafile=str(ca_of(proxy)))
    ctx.minimum_version = ctx.maximum_version = version
    session, reused = None, []
    for _ in range(3):
        sock = connect_tunnel(proxy, f"localhost:{tls_upstream.port}")
        was_reused, session = exchange(sock, session)
        reused.append(was_reused)
    assert reused == [False, True, True]


def test_the_cheapest_safe_suite_wins_and_clients_without_it_still_connect(matgto, pki, tls_upstream):
    """matgto picks AES-128-GCM with SHA-256 whatever order the client lists
    its suites in (OpenSSL's default, and Python's, puts AES-256-GCM-SHA384
    first); a client that offers only AES-256 or ChaCha20 still connects."""
    server = matgto("--upstream", f"https://localhost:{tls_upstream.port}",
                    "--upstream-ca-file", str(pki / "ca.pem"), "--reverse-tls",
                    "--mode", "passthrough")
    port = int(server.proxy.rsplit(":", 1)[1])

    def negotiated(version, ciphers=None):
        ctx = ssl.create_default_context(cafile=str(ca_of(server)))
        ctx.minimum_version = ctx.maximum_version = version
        if ciphers:
            ctx.set_ciphers(ciphers)
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                             server_hostname="localhost") as s:
            s.sendall(b"GET /suite HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
            return s.cipher()[0]

    assert negotiated(ssl.TLSVersion.TLSv1_3) == "TLS_AES_128_GCM_SHA256"
    assert negotiated(ssl.TLSVersion.TLSv1_2,
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
                      ) == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert negotiated(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES256-GCM-SHA384"
                      ) == "ECDHE-ECDSA-AES256-GCM-SHA384"
    assert negotiated(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305"
                      ) == "ECDHE-ECDSA-CHACHA20-POLY1305"
    # TLS 1.3 suites cannot be narrowed from Python: openssl s_client can.
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                        "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
                       input=b"", capture_output=True, timeout=10)
    assert b"Cipher is TLS_AES_256_GCM_SHA384" in r.stdout, r.stdout[-500:]
