"""Bad input gets a precise error, the server keeps serving, nothing recorded is lost."""
import os
import signal
import socket
import subprocess
import threading
import time

import requests

from conftest import free_port, raw_exchange, wait_for


def still_serving(server, upstream):
    r = requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}, timeout=10)
    assert r.status_code == 200, r.content
    return r


def error_of(raw: bytes):
    head = raw.split(b"\r\n\r\n")[0].decode("latin-1")
    status = int(head.split(" ")[1])
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    return status, headers.get("X-Matgto-Error")


def test_garbage_bytes_get_400(server, upstream):
    server.cli("use", "g", "--mode", "passthrough")
    raw = raw_exchange(server.proxy, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    assert error_of(raw) == (400, "bad-request")
    raw = raw_exchange(server.proxy, b"GET http://x/ HTTP/9.9\r\n\r\n")
    assert error_of(raw)[0] == 400
    still_serving(server, upstream)


def test_origin_form_request_explains_how_to_use_the_proxy(server, upstream):
    server.cli("use", "o", "--mode", "passthrough")
    raw = raw_exchange(server.proxy, b"GET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert error_of(raw) == (400, "not-a-proxy-request")
    assert b"absolute-form" in raw
    still_serving(server, upstream)


def test_oversize_headers_get_431(matgto, upstream):
    server = matgto("--max-header-bytes", "4096", "--mode", "passthrough")
    raw = raw_exchange(server.proxy, f"GET {upstream.url('/counter')} HTTP/1.1\r\nHost: a\r\nX-Big: {'a' * 8000}\r\n\r\n".encode())
    assert error_of(raw) == (431, "header-too-large")
    still_serving(server, upstream)


def test_oversize_body_gets_413_and_nothing_is_recorded(matgto, upstream):
    server = matgto("--max-body-bytes", "1024")
    server.cli("record", "big")
    r = requests.post(upstream.url("/echo"), data=b"x" * 5000, proxies={"http": server.proxy_url})
    assert r.status_code == 413 and r.headers["X-Matgto-Error"] == "body-too-large"
    still_serving(server, upstream)
    out = server.cli("stop").stdout
    assert "recorded 1" in out  # only the successful request


def test_oversize_upstream_response_is_passed_on_but_not_stored(matgto, upstream, proto_modules):
    # --max-body-bytes limits what matgto holds in memory, not what a client
    # may get: a larger response is relayed whole. A recording spools it to
    # disk and stores it up to --max-stored-body-bytes; beyond, it says it
    # was not stored.
    server = matgto("--max-body-bytes", "1024", "--max-stored-body-bytes", "3000",
                    "--mode", "passthrough")
    r = requests.get(upstream.url("/big?size=4096"), proxies={"http": server.proxy_url})
    assert r.status_code == 200 and len(r.content) == 4096
    server.cli("record", "oversize")
    r = requests.get(upstream.url("/big?size=4096"), proxies={"http": server.proxy_url})
    assert r.status_code == 200 and len(r.content) == 4096
    r = requests.get(upstream.url("/big?size=2048"), proxies={"http": server.proxy_url})
    assert r.status_code == 200 and len(r.content) == 2048
    out = server.cli("stop").stdout
    assert "recorded 1" in out
    assert "exceeds 3000 bytes (--max-stored-body-bytes)" in out, out
    c = proto_modules[0].Cassette()
    c.ParseFromString(server.cassette_path("oversize").read_bytes())
    assert [len(i.http.response.body) for i in c.interactions] == [2048]
    still_serving(server, upstream)
    time.sleep(1.2)  # exchange log lines are flushed within a second
    assert "response-too-large-to-store" in server.output()


def test_client_hangs_up_mid_body(server, upstream):
    server.cli("record", "hangup")
    host, port = server.proxy.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST {upstream.url('/echo')} HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial".encode())
    still_serving(server, upstream)
    out = server.cli("stop").stdout
    assert "recorded 1" in out  # the half-sent request was neither forwarded nor recorded


def test_dead_upstream_gets_502_with_reason(server, upstream):
    server.cli("record", "dead")
    port = free_port()
    r = requests.get(f"http://127.0.0.1:{port}/x", proxies={"http": server.proxy_url})
    assert r.status_code == 502
    assert r.headers["X-Matgto-Error"] == "upstream-unreachable"
    assert f"127.0.0.1:{port}" in r.text and "refused" in r.text.lower()
    still_serving(server, upstream)
    assert "recorded 1" in server.cli("stop").stdout


def test_unresolvable_host_gets_502(server, upstream):
    server.cli("use", "dns", "--mode", "passthrough")
    r = requests.get("http://no-such-host.invalid/x", proxies={"http": server.proxy_url})
    assert r.status_code == 502 and r.headers["X-Matgto-Error"] == "upstream-unreachable"
    assert "no-such-host.invalid" in r.text


def test_slow_upstream_gets_504(matgto, upstream):
    server = matgto("--upstream-timeout", "0.5", "--mode", "passthrough")
    r = requests.get(upstream.url("/slow?s=3"), proxies={"http": server.proxy_url})
    assert r.status_code == 504 and r.headers["X-Matgto-Error"] == "upstream-timeout"


def test_a_slow_exchange_after_a_fast_one_gets_its_own_full_upstream_timeout(matgto, upstream):
    # The same client connection (and so the same upstream connection): the
    # earlier exchange's deadline is still pending when the slow one starts.
    server = matgto("--upstream-timeout", "1", "--mode", "passthrough")
    with requests.Session() as s:
        s.proxies = {"http": server.proxy_url}
        assert s.get(upstream.url("/counter")).status_code == 200
        time.sleep(0.6)
        start = time.monotonic()
        r = s.get(upstream.url("/slow?s=3"))
        elapsed = time.monotonic() - start
        assert r.status_code == 504 and r.headers["X-Matgto-Error"] == "upstream-timeout"
        assert 0.8 < elapsed < 2.5, elapsed
        # The timed-out upstream connection is not used again.
        assert s.get(upstream.url("/counter")).status_code == 200


def test_bad_connect_target_gets_400(server, upstream):
    for target in [b"example.com", b"example.com:0", b":443", b"[::1]:99999"]:
        raw = raw_exchange(server.proxy, b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert error_of(raw) == (400, "bad-connect"), raw
    server.cli("use", "c", "--mode", "passthrough")
    still_serving(server, upstream)


def test_sigterm_saves_active_recording(server, upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    server.cli("record", "term")
    for i in range(3):
        still_serving(server, upstream)
    assert server.stop(signal.SIGTERM) == 0
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("term").read_bytes())
    assert len(c.interactions) == 3 and c.complete
    assert [i.index for i in c.interactions] == [0, 1, 2]


def test_shutdown_command_lets_in_flight_exchange_finish(server, upstream):
    server.cli("record", "inflight")
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=requests.get(upstream.url("/slow?s=1"), proxies={"http": server.proxy_url})))
    t.start()
    time.sleep(0.3)
    server.cli("shutdown", "--grace", "5")
    t.join(10)
    assert result["r"].status_code == 200 and result["r"].content == b"slow"
    wait_for(lambda: not server.alive(), timeout=10, what="server exit")
    assert server.proc.returncode == 0
    assert server.cassette_path("inflight").exists()


def test_corrupt_and_truncated_cassettes_are_named_and_server_keeps_serving(server, upstream):
    server.cli("record", "good")
    still_serving(server, upstream)
    still_serving(server, upstream)
    server.cli("stop")
    data = server.cassette_path("good").read_bytes()
    server.cassette_path("trunc").write_bytes(data[: len(data) - 3])
    server.cassette_path("garbage").write_bytes(os.urandom(64))
    server.cassette_path("empty").write_bytes(b"")
    for name in ["trunc", "garbage", "empty"]:
        r = server.cli("replay", name, check=False)
        assert r.returncode == 1
        assert "DATA_LOSS" in r.stderr and f"{name}.pb" in r.stderr, r.stderr
    # The earlier good cassette still replays.
    server.cli("replay", "good")
    assert requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}).status_code == 200


class RawUpstream:
    """An upstream speaking whatever bytes the test gives, one connection at
    a time: each accepted connection reads a request, then plays `script`
    (a list of byte strings to send, or None to close), connection by
    connection."""

    def __init__(self, scripts):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.scripts = list(scripts)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.scripts:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            for step in self.scripts.pop(0):
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        break
                    data += piece
                if step is None:
                    break
                conn.sendall(step)
            conn.close()

    def close(self):
        self.sock.close()


def test_a_response_cut_short_or_not_http_gets_502_with_the_reason(server, upstream):
    server.cli("use", "raw", "--mode", "passthrough")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    raw = RawUpstream([[b"NOT HTTP AT ALL\r\n\r\n"], [b"HTTP/1.1 200 OK\r\nContent-Le"], [None],
                       [ok, None]])
    url = f"http://127.0.0.1:{raw.port}/x"
    proxies = {"http": server.proxy_url}
    try:
        for what in ("garbage", "a header cut short", "closed without a word"):
            r = requests.get(url, proxies=proxies, timeout=10)
            assert (r.status_code, r.headers["X-Matgto-Error"]) == (502, "upstream-bad-response"), \
                (what, r.status_code, r.text)
            assert f"127.0.0.1:{raw.port}" in r.text, r.text
        # The upstream is still asked, on a fresh connection.
        assert requests.get(url, proxies=proxies, timeout=10).text == "ok"
    finally:
        raw.close()
    still_serving(server, upstream)


def test_a_kept_alive_connection_the_upstream_closed_is_retried_on_a_fresh_one(server, upstream):
    server.cli("use", "raw", "--mode", "passthrough")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    # The first connection answers once, then closes when the second
    # request arrives on it; the second connection answers.
    raw = RawUpstream([[ok, None], [ok]])
    url = f"http://127.0.0.1:{raw.port}/x"
    try:
        s = requests.Session()
        s.proxies = {"http": server.proxy_url}
        assert s.get(url, timeout=10).text == "ok"
        assert s.get(url, timeout=10).text == "ok"
        assert raw.connections == 2
    finally:
        raw.close()


def test_an_upstream_that_closes_right_after_a_keep_alive_answer_is_left_for_a_fresh_one(server, upstream):
    """The upstream answers (no `Connection: close`) and closes at once: the
    answer and the end of the stream reach the proxy together. The next
    request on that connection is retried on a fresh one at once, not left
    waiting for --upstream-timeout."""
    server.cli("use", "raw", "--mode", "passthrough")
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    raw = RawUpstream([[ok], [ok], [ok]])
    url = f"http://127.0.0.1:{raw.port}/x"
    try:
        s = requests.Session()
        s.proxies = {"http": server.proxy_url}
        for _ in range(3):
            start = time.monotonic()
            assert s.get(url, timeout=10).text == "ok"
            assert time.monotonic() - start < 2
        assert raw.connections == 3
    finally:
        raw.close()


def test_interim_responses_from_the_upstream_are_skipped_and_the_final_one_recorded(server):
    """An upstream that answers 103 Early Hints (or 100 Continue) before its
    final response: the client gets the final response, and that is what
    the cassette keeps and replays, without the interim one's fields."""
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok"
    raw = RawUpstream([[b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + final,
                        b"HTTP/1.1 100 Continue\r\n\r\n" + final.replace(b"ok", b"OK")]])
    url = f"http://127.0.0.1:{raw.port}"
    proxies = {"http": server.proxy_url}
    server.cli("record", "interim")
    try:
        s = requests.Session()
        s.proxies = proxies
        for path, body in (("/hints", "ok"), ("/continue", "OK")):
            r = s.get(url + path, timeout=10)
            assert (r.status_code, r.text, r.headers.get("X-Final")) == (200, body, "yes"), r.text
            assert "Link" not in r.headers
    finally:
        raw.close()
    server.cli("stop")
    server.cli("replay", "interim")
    for path, body in (("/hints", "ok"), ("/continue", "OK")):
        r = requests.get(url + path, proxies=proxies, timeout=10)
        assert (r.status_code, r.text, r.headers.get("X-Final")) == (200, body, "yes"), r.text
        assert "Link" not in r.headers
    server.cli("stop")
