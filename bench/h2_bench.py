"""HTTP/2 and gRPC rows of bench/bench.py (issue 13), all driven by h2load
(Debian's nghttp2-client), a native HTTP/2 load generator:

  nginx over h2 (TLS, ALPN) and h2c serving the body directly: the baselines;
  matgto replaying the same body over h2 and h2c (reverse mode: h2load
    cannot use a proxy, so matgto stands in for the origin);
  a gRPC unary call (a 16-byte message echoed) to a real grpcio server
    directly, next to matgto replaying it (h2c, recorded first from that
    server through matgto).

Each row: h2load -c C -m 8 for the given seconds after a one-second warm-up;
requests per second, mean time per request (h2load reports no percentiles),
and the CPU the server under test spent per request.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

STREAMS = 8  # concurrent streams per connection (h2load -m)

GRPC_SERVER = r"""
import sys, time
from concurrent import futures
import grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Unary": echo}),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.wait_for_termination()
"""


def start_nginx_h2(work: Path, body: bytes, free_port, wait_port):
    """nginx serving /item/<0..9> over h2 with TLS and over h2c."""
    d = work / "nginx-h2"
    (d / "www" / "item").mkdir(parents=True)
    for i in range(10):
        (d / "www" / "item" / str(i)).write_bytes(body)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem"),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    tls, plain = free_port(), free_port()
    (d / "nginx.conf").write_text(f"""
daemon off; master_process on; worker_processes auto; user root;
pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off; default_type text/plain;
  http2_max_requests 1000000; keepalive_requests 1000000;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{tls} ssl http2;
    listen 127.0.0.1:{plain} http2;
    ssl_certificate {d}/c.pem; ssl_certificate_key {d}/k.pem;
    root {d}/www;
    location / {{ add_header Cache-Control no-store; }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(tls)
    wait_port(plain)
    return proc, tls, plain


def h2load(urls: list[str], seconds: int, conns: int, data: Path | None = None,
           headers=()) -> dict:
    args = ["h2load", "-c", str(conns), "-m", str(STREAMS), "-t", "1",
            "-D", str(seconds), "--warm-up-time", "1"]
    for h in headers:
        args += ["-H", h]
    if data is not None:
        args += ["-d", str(data)]
    out = subprocess.run(args + urls, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out)
    done, ok = int(m.group(2)), int(m.group(3))
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    bad = int(status.group(3)) + int(status.group(4)) if status else 0
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    mean_ms = 0.0
    if mean:
        v = mean.group(1)
        mean_ms = float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") \
            else float(v[:-1]) * 1000
    return {"rps": rps, "requests": done, "errors": (done - ok) + bad, "mean_ms": mean_ms}


def rows(*, work: Path, pb, body: bytes, seconds: int, conns: int, start_matgto, cli,
         write_cassette, free_port, wait_port, cpu_us) -> list[tuple]:
    """The section's rows, in bench.py's row format."""
    if shutil.which("h2load") is None:
        print("bench: h2load is missing (apt package nghttp2-client; scripts/install-deps.sh "
              "test installs it): no HTTP/2 rows", file=sys.stderr)
        return []
    out = []
    procs = []

    def measure(pid, run):
        before = cpu_us(pid)
        r = run()
        r["cpu_us"] = (cpu_us(pid) - before) / max(1, r["requests"])
        return r

    def add(name, r, base, note=""):
        out.append(("HTTP/2", name, r["rps"], r["rps"] / base["rps"], r["mean_ms"], 0.0,
                    r["errors"], None, (note + "; " if note else "") + "mean latency in p50 column",
                    r.get("cpu_us")))

    try:
        nginx, tls, plain = start_nginx_h2(work, body, free_port, wait_port)
        procs.append(nginx)
        paths = [f"/item/{i}" for i in range(10)]
        cas = work / "cassettes"
        write_cassette(pb, cas / "h2tls.pb", "h2tls", f"https://127.0.0.1:{tls}", 10, body)
        write_cassette(pb, cas / "h2c.pb", "h2c", f"http://127.0.0.1:{plain}", 10, body)

        rev_tls, info_tls = start_matgto(work, "--log-level", "off", "--upstream",
                                         f"https://127.0.0.1:{tls}", "--reverse-tls")
        procs.append(rev_tls)
        cli(info_tls, "replay", "h2tls")
        rev_plain, info_plain = start_matgto(work, "--log-level", "off", "--upstream",
                                             f"http://127.0.0.1:{plain}")
        procs.append(rev_plain)
        cli(info_plain, "replay", "h2c")

        def urls(origin):
            return [origin + p for p in paths]

        base_tls = measure(nginx.pid, lambda: h2load(urls(f"https://127.0.0.1:{tls}"), seconds, conns))
        add("nginx h2 (TLS) serving the body (baseline)", base_tls, base_tls)
        r = measure(rev_tls.pid, lambda: h2load(urls(f"https://{info_tls['proxy']}"), seconds, conns))
        add("matgto replay over h2 (TLS)", r, base_tls)
        base_plain = measure(nginx.pid, lambda: h2load(urls(f"http://127.0.0.1:{plain}"), seconds, conns))
        add("nginx h2c serving the body (baseline)", base_plain, base_plain)
        r = measure(rev_plain.pid, lambda: h2load(urls(f"http://{info_plain['proxy']}"), seconds, conns))
        add("matgto replay over h2c", r, base_plain)

        # gRPC: a real grpcio server, then matgto replaying its answer.
        grpc_server = subprocess.Popen([sys.executable, "-c", GRPC_SERVER], stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
        procs.append(grpc_server)
        gport = int(grpc_server.stdout.readline())
        message = b"matgto bench grpc"[:16]
        frame = work / "grpc-request.bin"
        frame.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
        grpc_headers = ["content-type: application/grpc", "te: trailers"]
        direct = f"http://127.0.0.1:{gport}/bench.Echo/Unary"
        rec, info_rec = start_matgto(work, "--log-level", "off", "--upstream", f"http://127.0.0.1:{gport}")
        procs.append(rec)
        cli(info_rec, "record", "grpc-bench")
        subprocess.run(["h2load", "-n", "1", "-c", "1", "-d", str(frame), "-H", grpc_headers[0],
                        "-H", grpc_headers[1], f"http://{info_rec['proxy']}/bench.Echo/Unary"],
                       check=True, capture_output=True)
        cli(info_rec, "stop")
        cli(info_rec, "replay", "grpc-bench")
        base_grpc = measure(grpc_server.pid, lambda: h2load([direct], seconds, conns, frame, grpc_headers))
        add("gRPC unary, grpcio server direct (baseline)", base_grpc, base_grpc, "Python grpcio")
        r = measure(rec.pid, lambda: h2load([f"http://{info_rec['proxy']}/bench.Echo/Unary"],
                                            seconds, conns, frame, grpc_headers))
        add("gRPC unary, matgto replay (h2c)", r, base_grpc)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return out
