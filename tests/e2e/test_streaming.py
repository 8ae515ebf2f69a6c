"""Streamed bodies (issue 13): Server-Sent Events and chunked streams are
relayed to the client as they arrive while being recorded with each piece's
arrival time, then replayed piece by piece: at once (default) or with the
recorded gaps (--stream-timing as-recorded, scaled by --stream-speed).
Arrival is asserted, not only the final body."""

import http.client
import os
import http.server
import subprocess
import threading
import time

import pytest

from conftest import sanitized

GAP = 0.3  # seconds between the upstream's events
LARGE = os.urandom(8 << 20)  # over the 1 MiB a recording holds in memory


class StreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/events"):
            # An event stream delimited by the connection's close.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(4):
                self.wfile.write(b"id: %d\ndata: event %d\n\n" % (i, i))
                self.wfile.flush()
                time.sleep(GAP)
            self.close_connection = True
        elif self.path.startswith("/tokens"):
            # A chunked body, like an LLM's token stream.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(4):
                piece = b'{"token": "t%d"}\n' % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(GAP)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/forever"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(10_000):
                    piece = b"data: tick %d\n\n" % i
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the proxy let go of the stream
            self.close_connection = True
        elif self.path.startswith("/large"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(LARGE)))
            self.end_headers()
            for at in range(0, len(LARGE), 1 << 20):
                self.wfile.write(LARGE[at:at + (1 << 20)])
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.send_error(404)


@pytest.fixture
def stream_upstream():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StreamHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def read_lines(proxy: str, url: str, stop_after=None):
    """GET `url` through the proxy; each non-empty body line with the time
    (since the request) it arrived."""
    host, port = proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    start = time.monotonic()
    conn.request("GET", url)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    lines = []
    while True:
        line = resp.readline()
        if not line:
            break
        if line.strip():
            lines.append((line, time.monotonic() - start))
            if stop_after is not None and len(lines) >= stop_after:
                break
    conn.close()
    return lines


def gaps(lines, every=1):
    times = [t for _, t in lines][::every]
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("path, per_event", [("/events", 2), ("/tokens", 1)])
def test_stream_relayed_as_it_arrives_and_replayed_in_its_pieces(server, stream_upstream, path,
                                                                  per_event):
    url = stream_upstream + path
    server.cli("record", "stream")
    live = read_lines(server.proxy, url)
    server.cli("stop")
    assert len(live) == 4 * per_event
    # Relayed, not buffered: the first event came long before the last.
    assert live[0][1] < GAP, live
    assert live[-1][1] - live[0][1] > 2.5 * GAP, live

    server.cli("replay", "stream")
    fast = read_lines(server.proxy, url)
    server.cli("stop")
    assert [l for l, _ in fast] == [l for l, _ in live]
    assert fast[-1][1] < GAP, fast  # as fast as possible by default

    server.cli("replay", "stream", "--stream-timing", "as-recorded")
    paced = read_lines(server.proxy, url)
    server.cli("stop")
    assert [l for l, _ in paced] == [l for l, _ in live]
    for gap in gaps(paced, per_event):
        assert GAP * 0.6 < gap < GAP * 1.8, gaps(paced, per_event)

    server.cli("replay", "stream", "--stream-timing", "as-recorded", "--stream-speed", "3")
    quick = read_lines(server.proxy, url)
    server.cli("stop")
    for gap in gaps(quick, per_event):
        assert gap < GAP * 0.75, gaps(quick, per_event)


def test_a_client_leaving_an_endless_event_stream_keeps_its_complete_events(server, stream_upstream):
    url = stream_upstream + "/forever"
    server.cli("record", "endless")
    live = read_lines(server.proxy, url, stop_after=3)
    assert [l for l, _ in live] == [b"data: tick 0\n", b"data: tick 1\n", b"data: tick 2\n"]
    time.sleep(0.3)  # the proxy notices on its next write
    out = server.cli("stop").stdout
    assert "recorded 1" in out, out

    server.cli("replay", "endless")
    replayed = read_lines(server.proxy, url)
    server.cli("stop")
    got = [l for l, _ in replayed]
    assert got[:3] == [b"data: tick 0\n", b"data: tick 1\n", b"data: tick 2\n"], got
    assert all(l.startswith(b"data: tick ") for l in got), got
    assert server.alive()


def curl_lines(proxy: str, url: str):
    """curl over h2c prior knowledge in a CONNECT tunnel, unbuffered: each
    body line with the time it came out."""
    start = time.monotonic()
    p = subprocess.Popen(["curl", "-sS", "-N", "--max-time", "10", "--proxy", f"http://{proxy}",
                          "--proxytunnel", "--http2-prior-knowledge", url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    for line in p.stdout:
        if line.strip():
            lines.append((line, time.monotonic() - start))
    p.wait(timeout=15)
    assert p.returncode == 0, p.stderr.read()
    return lines


def test_an_http2_client_gets_an_event_stream_as_it_arrives(server, stream_upstream):
    # h2c from the client; the upstream speaks HTTP/1.1 only, which matgto
    # finds out when it answers the h2c preface, and falls back to.
    url = stream_upstream + "/events"
    server.cli("record", "h2events")
    live = curl_lines(server.proxy, url)
    server.cli("stop")
    assert [l for l, _ in live] == [b"id: %d\n" % (i // 2) if i % 2 == 0 else
                                    b"data: event %d\n" % (i // 2) for i in range(8)]
    assert live[0][1] < GAP and live[-1][1] - live[0][1] > 2.5 * GAP, live

    server.cli("replay", "h2events", "--stream-timing", "as-recorded")
    paced = curl_lines(server.proxy, url)
    server.cli("stop")
    assert [l for l, _ in paced] == [l for l, _ in live]
    for gap in gaps(paced, 2):
        assert GAP * 0.6 < gap < GAP * 1.8, gaps(paced, 2)


def vm_hwm_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture
def big_file_nginx(tmp_path):
    """nginx serving a 1 GiB file (sparse: no disk used) with Content-Length."""
    import socket
    from conftest import free_port, wait_for
    www = tmp_path / "www"
    www.mkdir()
    for name, size in (("big.bin", 1 << 30), ("medium.bin", 128 << 20)):
        with open(www / name, "wb") as f:
            f.truncate(size)
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off; master_process off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{
  access_log off; sendfile on;
  client_body_temp_path {tmp_path}/b; proxy_temp_path {tmp_path}/p; fastcgi_temp_path {tmp_path}/f;
  uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;
  server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(up, what="nginx")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def download(proxy: str, url: str):
    r = subprocess.run(["curl", "-sS", "--max-time", "120", "--proxy", f"http://{proxy}",
                        "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
                       capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stderr
    return r.stdout


def body_files(directory):
    return sorted(p.name for p in directory.glob("*.body-*"))


def test_a_large_body_is_spooled_to_disk_while_recorded_and_replayed_whole(server,
                                                                           stream_upstream):
    server.cli("record", "large")
    host, port = server.proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", stream_upstream + "/large")
    resp = conn.getresponse()
    first = resp.read(4 << 20)
    # Half-way, the recording holds it in a file beside its journal.
    assert body_files(server.cassette_dir) == ["large.pb.journal.body-0"]
    assert first + resp.read() == LARGE
    conn.close()
    assert "recorded 1" in server.cli("stop").stdout
    assert body_files(server.cassette_dir) == []
    assert server.cassette_path("large").stat().st_size > len(LARGE)

    server.cli("replay", "large")
    replayed = subprocess.run(["curl", "-sS", "--proxy", server.proxy_url,
                               stream_upstream + "/large"], capture_output=True, timeout=30)
    server.cli("stop")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == LARGE


def test_a_recording_stopped_as_soon_as_a_large_response_arrived_keeps_it(server, upstream,
                                                                          proto_modules):
    """A body relayed as it arrives (over 1 MiB, with its Content-Length) is
    recorded before its last piece reaches the client: a test that stops the
    recording the moment it has the response (over gRPC, as the clients do)
    finds the exchange in the cassette. The last piece used to go first, and
    the stop could win: the cassette lacked the exchange."""
    import grpc
    _, control_pb2, control_pb2_grpc = proto_modules
    channel = grpc.insecure_channel(server.control, options=[("grpc.enable_http_proxy", 0)])
    stub = control_pb2_grpc.ProxyControlStub(channel)
    host, port = server.proxy.rsplit(":", 1)
    sent = b"y" * (1536 << 10)  # a large request body too: more to redact and record
    for i in range(3):
        stub.StartRecording(control_pb2.StartRecordingRequest(name=f"quick-{i}"))
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", upstream.url(f"/big?size={1536 << 10}"), body=sent)
        resp = conn.getresponse()
        assert resp.status == 200 and len(resp.read()) == 1536 << 10
        stopped = stub.StopRecording(control_pb2.StopRecordingRequest())
        conn.close()
        assert stopped.summary.session.recorded == 1, stopped
    channel.close()


def test_a_1gib_download_is_relayed_and_recorded_without_buffering(matgto, big_file_nginx):
    if sanitized():
        pytest.skip("a sanitizer build's RSS is its shadow memory and quarantine, not matgto's; "
                    "the dev build runs this test")
    # Passed through: relayed as it arrives, nothing kept.
    server = matgto("--mode", "passthrough", "--log-level", "info")
    assert download(server.proxy, big_file_nginx + "/big.bin") == f"200 {1 << 30}"
    assert vm_hwm_mib(server.proc.pid) < 64, vm_hwm_mib(server.proc.pid)
    time.sleep(1.2)  # the exchange's log line is flushed within a second
    # Logged with what the client got, although nothing of it was kept.
    assert f"bytes_out={1 << 30}" in server.output(), server.output()[-2000:]

    # Recorded: spooled to disk as it arrives, then copied into the
    # cassette by the kernel when it is saved; memory never holds it.
    rec = matgto()
    rec.cli("record", "big")
    assert download(rec.proxy, big_file_nginx + "/big.bin") == f"200 {1 << 30}"
    out = rec.cli("stop").stdout
    assert "recorded 1" in out, out
    assert vm_hwm_mib(rec.proc.pid) < 64, vm_hwm_mib(rec.proc.pid)
    assert rec.cassette_path("big").stat().st_size > 1 << 30
    assert body_files(rec.cassette_dir) == []
    rec.cassette_path("big").unlink()  # a gigabyte of disk

    # Past --max-stored-body-bytes the client still gets all of it, and
    # matgto says it did not record it.
    small = matgto("--max-stored-body-bytes", str(8 << 20))
    small.cli("record", "capped")
    assert download(small.proxy, big_file_nginx + "/medium.bin") == f"200 {128 << 20}"
    out = small.cli("stop").stdout
    assert "recorded 0" in out, out
    assert body_files(small.cassette_dir) == []
    time.sleep(1.2)  # the exchange's log line is flushed within a second
    assert "response-too-large-to-store" in small.output(), small.output()[-2000:]
    assert "(--max-stored-body-bytes)" in out, out
