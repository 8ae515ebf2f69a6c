"""Request framing, routing and limits (issue 11, items 4-9 and the smaller
ones): every test drives the real binary with raw sockets, curl or requests
and is named after what it proves."""
import base64
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import UpstreamHandler, raw_exchange, wait_for


def error_of(raw: bytes):
    head = raw.split(b"\r\n\r\n")[0].decode("latin-1")
    status = int(head.split(" ")[1])
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    return status, headers.get("X-Matgto-Error")


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def connect(proxy: str, timeout=10.0) -> socket.socket:
    host, port = proxy.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_until_close(s: socket.socket) -> bytes:
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except (socket.timeout, ConnectionResetError):
        pass
    return b"".join(chunks)


class RawUpstream:
    """A bare HTTP/1.1 server that logs every request line it reads, keeps
    connections alive, and closes without answering a request for /die."""

    def __init__(self):
        self.seen = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        with conn:
            while True:
                line = f.readline()
                if not line:
                    return
                headers = {}
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, v = h.decode("latin-1").split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length", "0")))
                method, path = line.decode("latin-1").split(" ")[:2]
                self.seen.append((method, path, body))
                if path == "/die":
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self):
        self.sock.close()


@pytest.fixture
def raw_upstream():
    u = RawUpstream()
    yield u
    u.close()


# --- 4. request smuggling -------------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "transfer-encoding"])
def test_connection_header_cannot_drop_framing_so_no_request_is_smuggled(server, raw_upstream, framing):
    server.cli("use", "smuggle", "--mode", "passthrough")
    smuggled = f"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1:{raw_upstream.port}\r\n\r\n".encode()
    if framing == "content-length":
        framed = b"Content-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
    else:
        framed = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    request = (f"POST {raw_upstream.url('/upload')} HTTP/1.1\r\nHost: 127.0.0.1:{raw_upstream.port}\r\n"
               f"Connection: keep-alive, {framing}\r\n").encode() + framed
    with connect(server.proxy) as s:
        s.sendall(request)
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
    time.sleep(0.2)
    # One request upstream, carrying the whole body; nothing else.
    assert raw_upstream.seen == [("POST", "/upload", smuggled)]


# --- 5. Transfer-Encoding other than chunked-last ---------------------------

@pytest.mark.parametrize("te,version,expected", [
    (b"gzip", b"1.1", (400, "bad-transfer-encoding")),
    (b"chunked, gzip", b"1.1", (400, "bad-transfer-encoding")),
    (b"chunked, chunked", b"1.1", (400, "bad-transfer-encoding")),
    (b"chunked", b"1.0", (400, "bad-transfer-encoding")),
    (b"gzip, chunked", b"1.1", (501, "transfer-coding-unsupported")),
])
def test_transfer_encoding_other_than_final_chunked_is_refused_before_forwarding(server, upstream, te, version, expected):
    server.cli("use", "te", "--mode", "passthrough")
    before = UpstreamHandler.counter
    raw = raw_exchange(server.proxy,
                       b"POST " + upstream.url("/echo").encode() + b" HTTP/" + version + b"\r\nHost: a\r\n"
                       b"Transfer-Encoding: " + te + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                       b"GET " + upstream.url("/counter").encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert error_of(raw) == expected, raw
    assert b" 200 OK" not in raw  # the connection closed after the refusal
    assert UpstreamHandler.counter == before  # nothing reached the upstream


# --- 6. Host vs absolute-form authority ------------------------------------

def test_url_authority_wins_over_a_disagreeing_host_header_forwarded_and_recorded(server, upstream):
    server.cli("record", "host")
    r = requests.get(upstream.url("/echo"), headers={"Host": "evil.example"},
                     proxies={"http": server.proxy_url})
    assert r.status_code == 200
    assert ["Host", f"127.0.0.1:{upstream.port}"] in r.json()["headers"]
    server.cli("stop")
    data = server.cassette_path("host").read_bytes()
    assert b"evil.example" not in data and f"127.0.0.1:{upstream.port}".encode() in data


def test_two_host_headers_are_400(server, upstream):
    server.cli("use", "hosts", "--mode", "passthrough")
    raw = raw_exchange(server.proxy, f"GET {upstream.url('/echo')} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".encode())
    assert error_of(raw) == (400, "bad-request")


# --- 7. --no-intercept tunnels and "replay never touches the network" -------

def connect_tunnel(server, port) -> bytes:
    with connect(server.proxy) as s:
        s.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        s.settimeout(5)
        return s.recv(65536)


def test_no_intercept_tunnel_refused_in_replay_and_while_no_cassette(matgto, raw_upstream):
    server = matgto("--no-intercept", "localhost")
    before = len(raw_upstream.seen)
    # Default session, no cassette: refused like every request.
    raw = connect_tunnel(server, raw_upstream.port)
    assert error_of(raw) == (503, "no-cassette") and b"--no-intercept" in raw
    # Recording: the tunnel is relayed (nothing in it can be recorded).
    server.cli("record", "t")
    assert connect_tunnel(server, raw_upstream.port).startswith(b"HTTP/1.1 200")
    server.cli("stop")
    # Replay never touches the network.
    server.cli("replay", "t")
    raw = connect_tunnel(server, raw_upstream.port)
    assert error_of(raw) == (403, "no-intercept-refused"), raw
    assert f"localhost:{raw_upstream.port}".encode() in raw and b"never touches the network" in raw
    server.cli("stop")
    assert len(raw_upstream.seen) == before


def test_no_intercept_tunnel_to_an_unreachable_upstream_gets_502_not_a_dead_tunnel(matgto):
    server = matgto("--no-intercept", "localhost", "--mode", "passthrough")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    raw = connect_tunnel(server, port)
    assert error_of(raw) == (502, "upstream-unreachable"), raw


# --- 8. 408 is really sent ---------------------------------------------------

def test_stalled_request_headers_get_408_after_the_request_timeout_then_close(matgto, upstream):
    # The idle timeout is long: the header read of a started request uses
    # the request timeout.
    server = matgto("--request-timeout", "1", "--idle-timeout", "20", "--mode", "passthrough")
    with connect(server.proxy) as s:
        s.sendall(f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n".encode())
        start = time.monotonic()
        raw = read_until_close(s)
        elapsed = time.monotonic() - start
    assert error_of(raw) == (408, "request-timeout"), raw
    assert b"--request-timeout" in body_of(raw)
    assert 0.8 < elapsed < 5, elapsed


def test_a_stalled_request_after_another_on_the_connection_gets_its_own_full_timeout(matgto, upstream):
    # The deadline of the request before it is still pending when the
    # stalled one starts: the stalled one is still given the whole request
    # timeout from its own start, not from the earlier request's.
    server = matgto("--request-timeout", "1", "--idle-timeout", "20", "--mode", "passthrough")
    with connect(server.proxy) as s:
        s.sendall(f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        first = b""
        while b"\r\n\r\n" not in first:
            first += s.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")))
        while len(body) < length:
            body += s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head
        time.sleep(0.5)
        s.sendall(f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n".encode())
        start = time.monotonic()
        raw = read_until_close(s)
        elapsed = time.monotonic() - start
    assert error_of(raw) == (408, "request-timeout"), raw
    assert 0.8 < elapsed < 5, elapsed


def test_stalled_request_body_gets_408_then_close(matgto, upstream):
    server = matgto("--request-timeout", "1", "--mode", "passthrough")
    with connect(server.proxy) as s:
        s.sendall(f"POST {upstream.url('/echo')} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial".encode())
        raw = read_until_close(s)
    assert error_of(raw) == (408, "request-timeout"), raw


def test_idle_connection_is_closed_silently_after_the_idle_timeout(matgto, upstream):
    server = matgto("--request-timeout", "20", "--idle-timeout", "1", "--mode", "passthrough")
    with connect(server.proxy) as s:
        start = time.monotonic()
        raw = read_until_close(s)
        assert raw == b"" and time.monotonic() - start < 5
    # A keep-alive connection between requests is idle too.
    with connect(server.proxy) as s:
        s.sendall(f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        raw = read_until_close(s)
    assert raw.startswith(b"HTTP/1.1 200") and raw.count(b"HTTP/1.1") == 1


@pytest.mark.parametrize("mode", ["passthrough", "replay"])
def test_a_client_that_stops_reading_is_disconnected_after_the_write_timeout(matgto, upstream, mode):
    # 32 MiB: more than the socket buffers between the proxy and a client
    # with a 4 KiB receive buffer hold, so the write stalls until the
    # client reads. With the default --write-timeout (60 s) the client
    # would get the whole body after its pause; with 1 s it is cut off.
    size = 32 * 1024 * 1024
    url = upstream.url(f"/big?size={size}")
    server = matgto("--write-timeout", "1", "--mode", "passthrough")
    if mode == "replay":
        server.cli("record", "big")
        r = requests.get(url, proxies={"http": server.proxy_url}, timeout=60)
        assert r.status_code == 200 and len(r.content) == size
        server.cli("stop")
        server.cli("replay", "big")
    host, port = server.proxy.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((host, int(port)))
    with s:
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        time.sleep(3)  # a client that stopped reading
        received, closed = 0, False
        start = time.monotonic()
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    closed = True
                    break
                received += len(b)
        except ConnectionResetError:
            closed = True
        elapsed = time.monotonic() - start
    assert closed, "the connection stayed open"
    assert 0 < received < size, received  # the head and part of the body
    assert elapsed < 8, elapsed
    # The server keeps serving.
    r = requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}, timeout=10)
    assert r.status_code == (599 if mode == "replay" else 200)


# --- 9. --max-connections and DNS lookups with a deadline --------------------

def test_connections_beyond_max_connections_get_503_too_many_connections(matgto, upstream):
    server = matgto("--max-connections", "2", "--mode", "passthrough")

    def held_open():
        # Answered, so accepted and counted, and kept alive: with an I/O
        # thread per acceptor, a connection only connected may still wait
        # in another thread's accept queue when the third one is accepted.
        s = connect(server.proxy)
        s.sendall(f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        return s

    held = [held_open(), held_open()]

    def third_refused():
        raw = raw_exchange(server.proxy, f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        return raw if raw and error_of(raw)[0] == 503 else None

    raw = wait_for(third_refused, timeout=10, what="the third connection refused")
    assert error_of(raw) == (503, "too-many-connections")
    assert b"--max-connections" in body_of(raw)
    held.pop().close()
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url})),
        timeout=10, what="a connection accepted again")
    assert r.status_code == 200
    for s in held:
        s.close()


SLOW_DNS_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
/* Names ending in .slow.test take 3 s to fail; everything else is real. */
int getaddrinfo(const char* node, const char* service,
                const struct addrinfo* hints, struct addrinfo** res) {
  static int (*real)(const char*, const char*, const struct addrinfo*,
                     struct addrinfo**);
  if (!real) real = dlsym(RTLD_NEXT, "getaddrinfo");
  const char* suffix = ".slow.test";
  if (node && strlen(node) >= strlen(suffix) &&
      strcmp(node + strlen(node) - strlen(suffix), suffix) == 0) {
    sleep(3);
    return EAI_NONAME;
  }
  return real(node, service, hints, res);
}
"""


def test_slow_dns_lookup_times_out_with_504_and_does_not_stall_other_connects(matgto, upstream, tmp_path, monkeypatch):
    (tmp_path / "shim.c").write_text(SLOW_DNS_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "shim.so"), str(tmp_path / "shim.c"), "-ldl"],
                   check=True)
    monkeypatch.setenv("LD_PRELOAD", str(tmp_path / "shim.so"))
    # An ASan build insists its runtime comes first; the shim intercepts
    # only getaddrinfo, so the check can be waived.
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "verify_asan_link_order=0")
    server = matgto("--dns-timeout", "1", "--mode", "passthrough")
    monkeypatch.delenv("LD_PRELOAD")
    if asan:
        monkeypatch.setenv("ASAN_OPTIONS", asan)
    else:
        monkeypatch.delenv("ASAN_OPTIONS")
    proxies = {"http": server.proxy_url}
    slow = {}

    def lookup_slow():
        start = time.monotonic()
        slow["r"] = requests.get("http://a.slow.test/x", proxies=proxies, timeout=20)
        slow["elapsed"] = time.monotonic() - start

    threads = [threading.Thread(target=lookup_slow) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    # Three lookups are stuck; a name that resolves is not queued behind them.
    start = time.monotonic()
    r = requests.get(f"http://localhost:{upstream.port}/counter", proxies=proxies, timeout=20)
    assert r.status_code == 200 and time.monotonic() - start < 0.9
    for t in threads:
        t.join(20)
    assert slow["r"].status_code == 504 and slow["r"].headers["X-Matgto-Error"] == "dns-timeout"
    assert "a.slow.test" in slow["r"].text and slow["elapsed"] < 2.5


# --- smaller ones -----------------------------------------------------------

def test_ftp_url_gets_501_scheme_unsupported(server):
    server.cli("use", "ftp", "--mode", "passthrough")
    raw = raw_exchange(server.proxy, b"GET ftp://files.example/x HTTP/1.1\r\nHost: files.example\r\nConnection: close\r\n\r\n")
    assert error_of(raw) == (501, "scheme-unsupported") and b"ftp://" in raw


def test_post_is_not_retried_on_a_reused_upstream_connection(server, raw_upstream):
    server.cli("use", "retry", "--mode", "passthrough")
    with requests.Session() as client:
        client.proxies = {"http": server.proxy_url}
        assert client.get(raw_upstream.url("/warm")).status_code == 200
        # The upstream reads the POST, then drops the kept-alive connection.
        r = client.post(raw_upstream.url("/die"), data=b"charge card")
        assert r.status_code == 502
    assert [m for m, p, b in raw_upstream.seen] == ["GET", "POST"]  # sent once
    # An idempotent request on such a connection is still retried once.
    with requests.Session() as client:
        client.proxies = {"http": server.proxy_url}
        raw_upstream.seen.clear()
        assert client.get(raw_upstream.url("/warm")).status_code == 200
        client.get(raw_upstream.url("/die"))
    assert [(m, p) for m, p, b in raw_upstream.seen] == [("GET", "/warm"), ("GET", "/die"), ("GET", "/die")]


def test_cassette_with_bad_status_or_length_gets_502_and_the_connection_survives(matgto, upstream):
    server = matgto("--cassette-format", "json")
    server.cli("record", "bad")
    proxies = {"http": server.proxy_url}
    for path in ["/echo?a", "/echo?b", "/counter"]:
        assert requests.get(upstream.url(path), proxies=proxies).status_code == 200
    server.cli("stop")
    path = server.cassette_dir / "bad.json"
    cassette = json.loads(path.read_text())
    http = [i["http"] for i in cassette["interactions"]]
    http[0]["response"]["status"] = 1000
    for h in http[1]["response"]["headers"]:
        if h["name"].lower() == "content-length":
            h["value"] = "999"
    path.write_text(json.dumps(cassette))
    server.cli("replay", "bad")
    with requests.Session() as client:
        client.proxies = proxies
        r = client.get(upstream.url("/echo?a"))
        assert r.status_code == 502 and r.headers["X-Matgto-Error"] == "cassette-bad-response"
        assert "1000" in r.text
        r = client.get(upstream.url("/echo?b"))
        assert r.status_code == 502 and r.headers["X-Matgto-Error"] == "cassette-bad-response"
        assert "Content-Length 999" in r.text
        # Same client connection, next interaction fine.
        assert client.get(upstream.url("/counter")).status_code == 200


def test_stalled_request_over_tls_gets_408_too(matgto, upstream):
    # Reverse mode with TLS on the proxy port: the deadline cancels the read
    # under the TLS stream, which still writes the 408.
    import ssl

    server = matgto("--upstream", upstream.base, "--reverse-tls", "--request-timeout", "1",
                    "--mode", "passthrough")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with connect(server.proxy) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /counter HTTP/1.1\r\nHost: a\r\n")
        data = read_until_close(s)
    assert error_of(data) == (408, "request-timeout"), data


def test_final_chunk_trickled_a_byte_at_a_time_is_read_and_forwarded(server, upstream):
    """Beast 1.81 asserted on this valid input (found by the request fuzzer):
    builds with assertions (make test's ASan server) aborted. The body is
    read whole and forwarded."""
    server.cli("use", "trickle", "--mode", "passthrough")
    with connect(server.proxy) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"POST {upstream.url('/echo')} HTTP/1.1\r\nHost: a\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".encode())
        for piece in (b"0\r\n", b"\r", b"\n"):
            time.sleep(0.15)
            s.sendall(piece)
        s.settimeout(10)
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 200"), raw
    assert b"hello" in raw
    assert "matgto" in server.cli("status").stdout


def test_max_connections_is_a_budget_per_session_credential_on_the_shared_port(matgto, upstream):
    server = matgto("--max-connections", "2", "--mode", "passthrough")
    sessions = []
    for name in ("budget-a", "budget-b"):
        info = json.loads(server.cli("use", name, "--new-session", "--mode", "passthrough",
                                     "--json").stdout)
        sessions.append(info)

    def auth(session):
        user = urllib.parse.urlsplit(session["proxy_url"]).username
        token = base64.b64encode(f"{user}:".encode()).decode()
        return f"Proxy-Authorization: Basic {token}\r\n"

    def request(session=None, close=True):
        return (f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if close else ''}"
                f"{auth(session) if session else ''}\r\n").encode()

    def kept(session):
        """A keep-alive connection that has had one answered request."""
        s = connect(server.proxy)
        s.sendall(request(session, close=False))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head
        return s

    # Session a's two connections are its budget, not the port's.
    held = [kept(sessions[0]), kept(sessions[0])]
    raw = raw_exchange(server.proxy, request(sessions[0]))
    assert error_of(raw) == (503, "too-many-connections"), raw
    assert b"session of this proxy credential" in body_of(raw)
    # Session b and requests without a credential still have theirs.
    assert raw_exchange(server.proxy, request(sessions[1])).startswith(b"HTTP/1.1 200")
    assert raw_exchange(server.proxy, request()).startswith(b"HTTP/1.1 200")
    held.append(kept(sessions[1]))
    held.append(kept(sessions[1]))
    assert error_of(raw_exchange(server.proxy, request(sessions[1]))) == (503, "too-many-connections")
    # A connection of a's that closes frees a place for a's next one.
    held.pop(0).close()
    r = wait_for(lambda: (lambda raw: raw if raw.startswith(b"HTTP/1.1 200") else None)(
        raw_exchange(server.proxy, request(sessions[0]))), timeout=10, what="a's place freed")
    assert r.startswith(b"HTTP/1.1 200")
    for s in held:
        s.close()
