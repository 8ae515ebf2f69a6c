#!/usr/bin/env python3
"""matgto benchmarks: one command, one table, ratios against a baseline
measured in the same run.

Rows:
  nginx direct           wrk -> nginx (the baseline: fastest possible static answer)
  matgto replay          wrk -> matgto (replaying a cassette of that same nginx response)
  matgto passthrough     wrk -> matgto -> nginx (forwarding, nothing recorded)

Each load runs wrk for --seconds with --connections keep-alive connections on
loopback. Usage: bench/run.sh [--seconds 5] [--connections 32]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATGTO = os.environ.get("MATGTO_BIN", str(ROOT / "build/dev/bin/matgto"))
LUA = str(Path(__file__).with_name("wrk_report.lua"))


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port: int, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_nginx(work: Path, body: bytes) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (work / "www").mkdir()
    (work / "www/bench.txt").write_bytes(body)
    conf = work / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process on;
worker_processes 2;
user root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {work}/www;
    location / {{ add_header Cache-Control no-store; }}
  }}
  client_body_temp_path {work}/tmp;
  proxy_temp_path {work}/tmp;
  fastcgi_temp_path {work}/tmp;
  uwsgi_temp_path {work}/tmp;
  scgi_temp_path {work}/tmp;
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port)
    return proc, port


def start_matgto(work: Path, *args) -> tuple[subprocess.Popen, dict]:
    ready = work / f"ready-{time.monotonic_ns()}.json"
    proc = subprocess.Popen([MATGTO, "serve", "--proxy-port", "0", "--control-port", "0",
                             "--cassette-dir", str(work / "cassettes"), "--threads", "2",
                             "--ready-file", str(ready), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("matgto did not start: " + proc.stderr.read().decode())
        time.sleep(0.02)
    return proc, json.loads(ready.read_text())


def cli(info: dict, *args):
    subprocess.run([MATGTO, "--server", info["control"], *args], check=True,
                   stdout=subprocess.DEVNULL)


def wrk(url: str, seconds: int, connections: int, target: str | None = None) -> dict:
    env = dict(os.environ, WRK_TARGET=target or "")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", LUA, url],
                         capture_output=True, text=True, env=env, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_RESULT"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    r = {k: int(v) for k, v in fields.items()}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--body-bytes", type=int, default=1024)
    a = ap.parse_args()
    for tool in ("wrk", "nginx", "curl"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is missing (scripts/install-deps.sh test installs it)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="matgto-bench-"))
    procs = []
    try:
        body = (b"matgto bench body " * (a.body_bytes // 18 + 1))[: a.body_bytes]
        nginx, nport = start_nginx(work, body)
        procs.append(nginx)
        target = f"http://127.0.0.1:{nport}/bench.txt"

        rows = []
        # Warm-up and baseline.
        wrk(target, 1, a.connections)
        base = wrk(target, a.seconds, a.connections)
        rows.append(("nginx direct (baseline)", base, None))

        m, info = start_matgto(work)
        procs.append(m)
        proxy = f"http://{info['proxy']}"
        cli(info, "record", "bench")
        subprocess.run(["curl", "-sf", "--proxy", proxy, target, "-o", "/dev/null"], check=True)
        cli(info, "stop")
        cli(info, "replay", "bench")
        check = subprocess.run(["curl", "-sf", "--proxy", proxy, target], capture_output=True, check=True)
        assert check.stdout == body, "replayed body differs"
        wrk(proxy + "/", 1, a.connections, target)
        rep = wrk(proxy + "/", a.seconds, a.connections, target)
        rows.append(("matgto replay (HTTP, keep-alive)", rep, rss_kib(m.pid)))
        cli(info, "stop")

        cli(info, "use", "pt", "--mode", "passthrough")
        pt = wrk(proxy + "/", a.seconds, a.connections, target)
        rows.append(("matgto passthrough -> nginx", pt, rss_kib(m.pid)))
        cli(info, "stop")

        print(f"\nmatgto bench: {a.connections} keep-alive connections, {a.seconds}s per row, "
              f"{a.body_bytes}-byte body, wrk -t1, {os.cpu_count()} cores, loopback\n")
        hdr = f"{'scenario':36} {'req/s':>10} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'peak RSS':>9}"
        print(hdr)
        print("-" * len(hdr))
        for name, r, rss in rows:
            ratio = r["rps"] / base["rps"]
            print(f"{name:36} {r['rps']:10.0f} {ratio:7.2f} {r['p50_us']/1000:8.2f} "
                  f"{r['p99_us']/1000:8.2f} {r['errors']:7d} {(str(rss // 1024) + ' MiB') if rss else '-':>9}")
        print("\nratio = req/s / nginx direct req/s in this same run.")
        bad = [name for name, r, _ in rows if r["errors"]]
        if bad:
            print(f"bench: errors in {bad}", file=sys.stderr)
            return 1
        return 0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
