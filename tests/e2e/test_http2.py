"""HTTP/2 with clients and upstreams (issue 13): curl --http2 over intercepted
TLS, curl --http2-prior-knowledge in a CONNECT tunnel (h2c), Python httpx
with http2=True; each recorded from a real nginx speaking HTTP/2, then
replayed byte-identical with nginx gone."""

import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_for


class Nginx:
    """nginx from apt, HTTP/2 on one port: TLS (ALPN h2) or h2c."""

    def __init__(self, tmp: Path, tls_pki=None):
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        listen = f"127.0.0.1:{self.port} http2"
        tls = ""
        if tls_pki is not None:
            listen = f"127.0.0.1:{self.port} ssl http2"
            tls = (f"ssl_certificate {tls_pki / 'good.pem'};\n"
                   f"ssl_certificate_key {tls_pki / 'good.key'};\n")
        conf = tmp / "nginx.conf"
        conf.write_text(f"""
daemon off; master_process off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen {listen};
    {tls}
    location /files/ {{ root {tmp}; }}
    location / {{
      add_header X-Upstream nginx-h2;
      return 200 "hello over $server_protocol for $request_uri\\n";
    }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._listening, what="nginx listening")

    def _listening(self):
        import socket
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited: " + self.proc.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def matgto_ca(server) -> Path:
    return server.dir.parent / "ca" / "matgto-ca.pem"


def curl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args],
                          capture_output=True, text=True, timeout=30)


def test_curl_http2_over_intercepted_tls_recorded_and_replayed(matgto, pki, tmp_path):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    nginx = Nginx(tmp_path / "nginx", tls_pki=pki)
    url = f"https://127.0.0.1:{nginx.port}/h2?x=1"
    args = ["--proxy", server.proxy_url, "--cacert", str(matgto_ca(server)), "--http2",
            "-D", "-", "-w", "\nversion=%{http_version}", url]
    try:
        server.cli("record", "h2tls")
        live = curl(*args)
        server.cli("stop")
    finally:
        nginx.stop()
    assert live.returncode == 0, live.stderr
    assert "hello over HTTP/2.0 for /h2?x=1" in live.stdout, live.stdout
    assert live.stdout.endswith("version=2"), live.stdout  # curl to matgto: h2
    assert "x-upstream: nginx-h2" in live.stdout

    show = server.cli("cassette", "show", "h2tls").stdout
    assert "  h2    GET" in show, show  # matgto to nginx: h2 too

    server.cli("replay", "h2tls")
    replayed = curl(*args)
    server.cli("stop")
    assert replayed.returncode == 0, replayed.stderr
    # Status, headers (the recorded Date too), body and version: identical.
    assert replayed.stdout == live.stdout


def test_a_large_http2_download_is_relayed_spooled_and_replayed(matgto, pki, tmp_path):
    # Over the 1 MiB a recording holds in memory: relayed as it arrives from
    # nginx over HTTP/2, kept in a file beside the journal, saved whole.
    nginx = Nginx(tmp_path / "nginx", tls_pki=pki)
    (tmp_path / "nginx" / "files").mkdir()
    data = os.urandom(6 << 20)
    (tmp_path / "nginx" / "files" / "big.bin").write_bytes(data)
    url = f"https://127.0.0.1:{nginx.port}/files/big.bin"
    out = tmp_path / "got.bin"
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    capped = matgto("--upstream-ca-file", str(pki / "ca.pem"),
                    "--max-stored-body-bytes", str(4 << 20))
    args = ["--proxy", None, "--cacert", None, "--http2", "-o", str(out),
            "-w", "%{http_code} %{http_version}", url]

    def get(s):
        args[1], args[3] = s.proxy_url, str(matgto_ca(s))
        r = curl(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    try:
        server.cli("record", "bigh2")
        assert get(server) == "200 2" and out.read_bytes() == data
        assert "recorded 1" in server.cli("stop").stdout
        capped.cli("record", "capped")
        assert get(capped) == "200 2" and out.read_bytes() == data
        stopped = capped.cli("stop").stdout
        assert "recorded 0" in stopped and "(--max-stored-body-bytes)" in stopped, stopped
    finally:
        nginx.stop()
    assert not list(server.cassette_dir.glob("*.body-*"))
    assert "  h2    GET" in server.cli("cassette", "show", "bigh2").stdout

    server.cli("replay", "bigh2")
    out.unlink()
    assert get(server) == "200 2"
    server.cli("stop")
    assert out.read_bytes() == data


def test_curl_h2c_prior_knowledge_in_a_tunnel_recorded_and_replayed(server, tmp_path):
    nginx = Nginx(tmp_path / "nginx")
    url = f"http://127.0.0.1:{nginx.port}/plain"
    args = ["--proxy", server.proxy_url, "--proxytunnel", "--http2-prior-knowledge",
            "-w", "\nversion=%{http_version}", url]
    try:
        server.cli("record", "h2c")
        live = curl(*args)
        server.cli("stop")
    finally:
        nginx.stop()
    assert live.returncode == 0, live.stderr
    assert live.stdout == "hello over HTTP/2.0 for /plain\n\nversion=2", live.stdout

    server.cli("replay", "h2c")
    replayed = curl(*args)
    server.cli("stop")
    assert replayed.stdout == live.stdout, replayed.stderr


def test_httpx_http2_through_the_proxy(matgto, pki, tmp_path):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    nginx = Nginx(tmp_path / "nginx", tls_pki=pki)
    url = f"https://127.0.0.1:{nginx.port}/httpx"

    def get():
        trust = ssl.create_default_context(cafile=str(matgto_ca(server)))
        with httpx.Client(http2=True, proxy=server.proxy_url, verify=trust, timeout=10) as c:
            r = c.get(url)
            return r.http_version, r.status_code, r.headers.get("x-upstream"), r.content

    try:
        server.cli("record", "httpx")
        live = get()
        server.cli("stop")
    finally:
        nginx.stop()
    assert live == ("HTTP/2", 200, "nginx-h2", b"hello over HTTP/2.0 for /httpx\n")
    server.cli("replay", "httpx")
    assert get() == live
    server.cli("stop")


def test_http2_replay_miss_is_a_clear_error(server):
    # No upstream at all: a replay miss over h2c still gets matgto's own
    # answer with its X-Matgto-Error header.
    server.cli("replay", "empty", "--on-miss", "error", check=False)
    r = curl("--proxy", server.proxy_url, "--proxytunnel", "--http2-prior-knowledge",
             "-D", "-", "http://127.0.0.1:9/none")
    server.cli("stop", check=False)
    assert "HTTP/2 " in r.stdout, r.stdout + r.stderr
    assert "x-matgto-error:" in r.stdout.lower(), r.stdout
