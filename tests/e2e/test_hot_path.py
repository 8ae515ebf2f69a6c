"""The replay hot path allocates nothing once a connection is warm (issue 12).

The real server runs with a tiny malloc-counting library preloaded (built
here with cc); wrk replays as fast as it can on one keep-alive connection
after a warm-up, and the whole process (every thread: proxy, gRPC, log
flusher) may call malloc only a few times in that while: one per request
would be tens of thousands.
"""
from __future__ import annotations

import hashlib
import http.client
import http.server
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import MATGTO_BIN, sanitized, wait_for

COUNTING_MALLOC = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>
extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
static atomic_long calls;
void* malloc(size_t n) { atomic_fetch_add(&calls, 1); return __libc_malloc(n); }
void* calloc(size_t n, size_t s) { atomic_fetch_add(&calls, 1); return __libc_calloc(n, s); }
void* realloc(void* p, size_t n) { atomic_fetch_add(&calls, 1); return __libc_realloc(p, n); }
/* SIGUSR2: "MALLOCS <n>" on stderr (async-signal-safe: write only). */
static void report(int sig) {
  (void)sig;
  char buf[40] = "MALLOCS ";
  char digits[24];
  int n = 0, len = 8;
  long v = atomic_load(&calls);
  do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
  while (n > 0) buf[len++] = digits[--n];
  buf[len++] = '\n';
  (void)!write(2, buf, (size_t)len);
}
__attribute__((constructor)) static void init(void) { signal(SIGUSR2, report); }
"""


@pytest.fixture
def counting_malloc(tmp_path, monkeypatch):
    if sanitized():
        pytest.skip("a sanitizer build replaces malloc itself; the dev build runs this test")
    (tmp_path / "count.c").write_text(COUNTING_MALLOC)
    lib = tmp_path / "count.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "count.c")],
                   check=True)
    monkeypatch.setenv("LD_PRELOAD", str(lib))
    return lib


def mallocs(server) -> int:
    # The shim writes to stderr, which shares the log file with stdout's
    # buffered lines: its line may land inside one of theirs.
    seen = len(re.findall(r"MALLOCS \d+\n", server.output()))
    server.proc.send_signal(signal.SIGUSR2)
    return wait_for(lambda: (lambda found: int(found[-1]) if len(found) > seen else None)(
        re.findall(r"MALLOCS (\d+)\n", server.output())), timeout=10, what="the malloc count")


def replay_many(proxy: str, url: str, n: int) -> None:
    host, port = proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(n):
            conn.request("GET", url)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200 and body, (r.status, body[:200])
    finally:
        conn.close()


def wrk(proxy: str, url: str, seconds: int) -> int:
    """Requests wrk made through `proxy` in `seconds` on one keep-alive
    connection (absolute-form targets, as a forward proxy receives them)."""
    script = Path(__file__).parent.parent.parent / "bench" / "wrk_report.lua"
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", str(script),
                          f"http://{proxy}/"], env={**os.environ, "WRK_TARGET": url},
                         capture_output=True, text=True, check=True).stdout
    fields = dict(kv.split("=") for kv in
                  next(line for line in out.splitlines() if line.startswith("WRK_RESULT")).split()[1:])
    assert fields["errors"] == "0", out
    return int(fields["requests"])


def test_a_warm_keep_alive_connection_replays_without_malloc(matgto, upstream, counting_malloc):
    recorder = matgto()
    recorder.cli("record", "hot")
    # A path without a query: URLs with one still allocate while the
    # redactor parses them for secrets (see README, Performance).
    url = upstream.url("/echo")
    replay_many(recorder.proxy, url, 1)
    recorder.cli("stop")
    cassette_dir = recorder.cassette_dir
    recorder.stop()

    # The default log level (a line per exchange, its query values
    # redacted) and metrics stay on; the one recording answers every repeat.
    server = matgto("--cassette-dir", str(cassette_dir))
    server.cli("replay", "hot")
    replay_many(server.proxy, url, 1)
    wrk(server.proxy, url, 1)  # warm: buffers, arenas and caches reach their size
    before = mallocs(server)
    n = wrk(server.proxy, url, 2)
    after = mallocs(server)
    assert n > 1000, n
    # Threads other than the proxy's (gRPC's pollers, the log flusher) may
    # allocate now and then; the hot path must not: well under one per
    # hundred requests (one per request would be n).
    assert after - before < n // 100, f"{after - before} mallocs for {n} replayed requests"
    # Replayed, not forwarded: nothing reached the upstream but the recording.
    assert "replayed" in server.cli("status").stdout


# Under the 1 MiB a recording keeps in memory, far over what a socket takes
# at once: written in part at once, the rest by an async write.
BLOB = random.Random(12).randbytes(900 << 10)


class BlobHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._send(BLOB)

    def do_POST(self):
        # What arrived, as its digest: a request body the proxy sent in part
        # at once must arrive whole and in order.
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(hashlib.sha256(body).hexdigest().encode())

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def slow_get(proxy: str, url: str) -> bytes:
    """GET through `proxy` by a client with a small receive buffer that
    reads in small pieces with pauses: the proxy's writes fill the socket."""
    host, port = proxy.rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
    s.settimeout(10)
    s.connect((host, int(port)))
    try:
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: {url.split('/')[2]}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            piece = s.recv(8192)
            assert piece, f"closed after {len(body)} of {length} bytes"
            body += piece
            if len(body) % (64 << 10) < 8192:
                time.sleep(0.01)
        return body
    finally:
        s.close()


def test_a_write_larger_than_the_socket_takes_arrives_whole_and_in_order(matgto):
    blob = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BlobHandler)
    threading.Thread(target=blob.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{blob.server_address[1]}/blob"
    try:
        server = matgto()
        server.cli("record", "large-writes")
        assert slow_get(server.proxy, url) == BLOB  # relayed while recorded
        host, port = server.proxy.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", url, body=BLOB)  # forwarded to the upstream
        r = conn.getresponse()
        assert r.read() == hashlib.sha256(BLOB).hexdigest().encode()
        conn.close()
        server.cli("stop")
    finally:
        blob.shutdown()
        blob.server_close()
    server.cli("replay", "large-writes")
    assert slow_get(server.proxy, url) == BLOB  # replayed, upstream gone
