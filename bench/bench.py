#!/usr/bin/env python3
"""matgto benchmarks: one command, one table, every ratio against a baseline
measured in the same run on the same machine.

HTTP (baseline: nginx serving the same body directly)
  nginx direct                      wrk -> nginx (and with 1 connection: latency)
  replay, 10 interactions           wrk -> matgto (forward proxy, absolute-form)
  replay, 1 connection              the same, one connection (latency)
  replay, 10,000 interactions       same, random item of 10,000 (ratio also vs 10, and
                                    vs nginx serving a random one of 10,000 files)
Forward (baseline: an nginx reverse-proxy hop to the same nginx, keep-alive upstream,
         in an nginx of its own, a worker per core: a process between client and upstream,
         as matgto is; rounds alternate hop, passthrough and record)
  hop inside the upstream's nginx   the hop served by the upstream's own workers
                                    (no second process to wake), for reference
  passthrough -> nginx              wrk -> matgto -> nginx, nothing recorded
  record -> nginx                   wrk -> matgto -> nginx, every exchange recorded
  passthrough / record, one thread  the same two with --threads <cores/2>, for
    per two cores                   reference (the other rows run the server's default,
                                    one thread per core, as many as the hop's nginx
                                    has workers)
  replay of what record recorded    the record row's cassette (each of 10 URLs thousands
                                    of times) replayed: each request takes the next
                                    recording of its URL; baseline nginx direct (once,
                                    not in rounds)
  record, a new token per request   the same, each request with a new bearer token
                                    (a secret learned, and looked for, per exchange)
Load: wrk -t2 -c64 (--wrk-threads, --connections), the settings of the performance
issue's table; the 1-connection rows run one wrk thread.
Rounds: the rows compared with a baseline run in 5 rounds, each round running the
row and its baseline back to back; "per s" and CPU are medians of the rounds, the
ratio is the median of the rounds' ratios (the note gives their range): the
machine's speed drifts between rounds by more than the differences measured.
Logging: every nginx runs with access_log off and error_log warn, and the matgto
servers of the HTTP, Forward, Sessions and HTTPS rows alike with --log-level warn
(errors and every replay miss, no line per exchange). What the default --log-level
info (a line per exchange) costs is the Logging row.
The CPU column is CPU time per request of the server measured (nginx: master and
workers; for the hop inside the upstream's nginx, hop and upstream), from /proc.
The Forward rows' notes add what an exchange cost the whole machine (every core's
busy time from /proc/stat: wrk, the upstream, the proxy and the kernel's network
work); with every core busy the rate is the cores' time divided by it. The record
row also gives its rate against passthrough's (the same rounds): what recording
itself costs.
Start-up: exec to ready file (best of 5) and idle RSS of a fresh server.
Recording memory: a fresh server records until --record-exchanges (1,000,000): RSS
  after about 10,000 and at the end, then the time `matgto stop` takes to save.
HTTPS (baseline: nginx serving TLS directly; rounds alternating nginx and matgto)
  nginx TLS keep-alive              wrk https -> nginx
  replay TLS keep-alive             wrk https -> matgto (reverse mode, --reverse-tls)
  nginx TLS new handshake/request   Connection: close
  replay TLS new handshake/request  handshakes per second through matgto
Load (baseline: the same wrk run on the same fresh server without the extra clients;
      bench/load.py, descriptor limit raised for the bench and the servers it starts)
  10,000 idle connections           held open, silent, while wrk runs; all must stay open
  1,000 slowloris clients           one header byte each every 0.5 s while wrk runs
Sessions (baseline: one session reached by proxy credential)
  32 sessions, spread               every request names one of 32 sessions in
                                    turn (Proxy-Authorization), each replaying
  idle memory                       RSS with 1 and with 256 sessions open
WebSocket (baseline: a native echo server, same client: bench/wsload, Go)
  direct echo                       8 connections, pipelined text messages,
                                    messages/s counted both ways
  record / replay                   the same load through matgto
Cassette load: time of a Replay call on the 10,000-interaction cassette; with
  bench/huge_cassettes.py a 1,000,000-interaction one and one with 1 GiB of bodies:
  load time, RSS after the load and after replaying a few hundred random items.
HTTP/2 and gRPC (bench/h2_bench.py, h2load from nghttp2-client): nginx serving the
  body over h2 (TLS) and h2c next to matgto replaying it over each (reverse mode);
  gRPC unary calls to a real grpcio server next to matgto replaying them.
Peers (--peers, `make bench PEERS=1`; bench/peers.py): Talkback, Mountebank, WireMock and
  mitmproxy, installed by scripts/install-peers.sh, each recording the same nginx and
  replaying it under the same wrk load: record rows against the nginx hop, replay rows
  against nginx direct, with CPU per request, peak RSS and start-up time.
Object store (bench/s3_bench.py, SeaweedFS): time to first answer of a replay from a
  bucket, cold and warm (cache), and a save of the 10,000-interaction cassette, each
  next to the same on a local directory.

Usage: bench/run.sh [--seconds 5] [--connections 64] [--wrk-threads 2] [--idle-connections 10000]
                    [--slow-clients 1000] [--record-exchanges 1000000] [--no-load] [--no-s3]
                    [--peers] [--no-h2] [--h2-only]
The soak (fixed rate, RSS at start and end) is `make soak` (bench/load.py soak).
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


def proto_modules(work: Path):
    from grpc_tools import protoc  # type: ignore
    import grpc_tools
    out = work / "py"
    out.mkdir()
    std = str(Path(grpc_tools.__file__).parent / "_proto")
    rc = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{std}", f"--python_out={out}",
                      f"--grpc_python_out={out}", str(ROOT / "proto/matgto/v1/cassette.proto"),
                      str(ROOT / "proto/matgto/v1/control.proto")])
    assert rc == 0
    sys.path.insert(0, str(out))
    from matgto.v1 import cassette_pb2  # type: ignore
    return cassette_pb2


def control(info: dict):
    import grpc
    from matgto.v1 import control_pb2, control_pb2_grpc  # type: ignore
    channel = grpc.insecure_channel(info["control"], options=[("grpc.enable_http_proxy", 0)])
    return control_pb2, control_pb2_grpc.ProxyControlStub(channel)


def open_sessions(info: dict, name: str, n: int) -> list:
    pb, stub = control(info)
    return [stub.Replay(pb.ReplayRequest(name=name, new_session=True)).session for _ in range(n)]


def stop_sessions(info: dict, sessions: list):
    pb, stub = control(info)
    for s in sessions:
        stub.StopRecording(pb.StopRecordingRequest(session=s.id))


def basic(session) -> str:
    import base64
    return "Basic " + base64.b64encode(f"{session.id}:matgto".encode()).decode()


def current_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_cassette(pb, path: Path, name: str, base_url: str, items: int, body: bytes):
    """A cassette of `items` GET /item/<i> exchanges answered like nginx."""
    c = pb.Cassette(schema_version=1, name=name, complete=True)
    for i in range(items):
        it = c.interactions.add(index=i)
        it.http.request.method = "GET"
        it.http.request.url = f"{base_url}/item/{i}"
        it.http.request.http_version = "HTTP/1.1"
        it.http.request.headers.add(name="Host", value=base_url.split("://")[1])
        it.http.response.status = 200
        it.http.response.reason = "OK"
        it.http.response.http_version = "HTTP/1.1"
        for k, v in [("Server", "nginx"), ("Content-Type", "text/plain"),
                     ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]:
            it.http.response.headers.add(name=k, value=v)
        it.http.response.body = body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(c.SerializeToString())


def hop_server(listen_port: int, upstream_port: int) -> str:
    """nginx config: a reverse-proxy hop on `listen_port` to `upstream_port`
    with keep-alive upstream connections (the baseline of a recording proxy)."""
    return f"""
  upstream direct {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{listen_port};
    location / {{
      proxy_pass http://direct;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }}
  }}"""


def run_nginx(d: Path, servers: str) -> subprocess.Popen:
    """nginx (a worker per core, no access log) with `servers` in its http block,
    its files under `d`."""
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process on;
worker_processes auto;
user root;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  default_type text/plain;{servers}
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
}}
""")
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_nginx(work: Path, body: bytes, items: int, hop_port: int | None = None):
    """nginx serving /item/<i> on `port` (and TLS on `tls_port`); with
    `hop_port`, also a reverse-proxy hop there to `port`, served by the
    same workers."""
    port, tls_port = free_port(), free_port()
    www = work / "www"
    (www / "item").mkdir(parents=True)
    for i in range(items):
        (www / "item" / str(i)).write_bytes(body)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(work / "nginx.key"), "-out", str(work / "nginx.pem"),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    proc = run_nginx(work, f"""
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {work}/nginx.pem;
    ssl_certificate_key {work}/nginx.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    root {www};
    location / {{ add_header Cache-Control no-store; }}
  }}""" + ("" if hop_port is None else hop_server(hop_port, port)))
    wait_port(port)
    wait_port(tls_port)
    if hop_port is not None:
        wait_port(hop_port)
    return proc, port, tls_port


def start_nginx_hop(work: Path, upstream_port: int):
    """An nginx of its own (a worker per core) with a hop to `upstream_port`: a
    process between the client and the upstream, as matgto is."""
    port = free_port()
    proc = run_nginx(work / "hop", hop_server(port, upstream_port))
    wait_port(port)
    return proc, port


# I/O threads of every matgto started (--threads on the command line of
# bench.py); 0: the server's default, as a user gets it (one per
# core), as nginx runs a worker per core ("worker_processes auto").
THREADS = 0
# wrk's threads (-t): the table ran wrk -t2 -c64.
WRK_THREADS = 2

# matgto logging as the nginx baselines do (access_log off, error_log warn):
# warnings, errors and replay misses, no line per exchange.
LIKE_NGINX_LOGS = ("--log-level", "warn")


def start_matgto(work: Path, *args, env=None, poll=0.02, threads=None):
    ready = work / f"ready-{time.monotonic_ns()}.json"
    threads = THREADS if threads is None else threads
    proc = subprocess.Popen([MATGTO, "serve", "--proxy-port", "0", "--control-port", "0",
                             "--cassette-dir", str(work / "cassettes"), "--threads", str(threads),
                             "--ca-dir", str(work / "ca"), "--ready-file", str(ready), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("matgto did not start: " + proc.stderr.read().decode())
        time.sleep(poll)
    return proc, json.loads(ready.read_text())


def cli(info: dict, *args, env=None):
    subprocess.run([MATGTO, "--server", info["control"], *args], check=True,
                   stdout=subprocess.DEVNULL, env=env)


def wrk(url: str, seconds: int, connections: int, **env) -> dict:
    e = dict(os.environ)
    e.update({k: str(v) for k, v in env.items()})
    threads = max(1, min(WRK_THREADS, connections))
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", LUA, url],
                         capture_output=True, text=True, env=e, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_RESULT"))
    r = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def cpu_us(pid: int) -> float:
    """CPU time (user + system) of `pid` and its children processes so far
    (nginx: the master and its workers), in microseconds."""
    total = 0
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK") * 1e6


def machine_busy_us() -> float:
    """CPU time every core of the machine spent busy so far (user, system,
    interrupts: all but idle and I/O wait), in microseconds."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK") * 1e6


def measured(pid: int, run) -> dict:
    """Runs `run()` (a wrk call) and adds the CPU per request `pid` spent, and
    the whole machine's (wrk, the upstream, the kernel's network work too):
    with every core busy, requests per second is the cores' time divided by
    that figure."""
    before, machine = cpu_us(pid), machine_busy_us()
    r = run()
    r["cpu_us"] = (cpu_us(pid) - before) / max(1, r["requests"])
    r["machine_us"] = (machine_busy_us() - machine) / max(1, r["requests"])
    return r


def median(runs: list[dict]) -> dict:
    """The median round by requests per second, with the median CPU per
    request (the server's, the machine's) of all rounds (`measured`)."""
    r = dict(sorted(runs, key=lambda x: x["rps"])[len(runs) // 2])
    for key in ("cpu_us", "machine_us"):
        r[key] = sorted(x[key] for x in runs)[len(runs) // 2]
    return r


ROUNDS = 5  # alternating rounds of the rows compared with a baseline


def paired(runs: list[dict], baseline: list[dict]) -> tuple[float, str]:
    """The ratio of `runs` to `baseline` round by round (round i of each
    ran back to back, under the same load on the machine), the median of
    those, and the range for the note. The machine's speed drifts by more
    than the differences measured (whole rounds 20% apart); a ratio of two
    medians taken from different rounds carries that drift, the ratios of
    rounds run side by side do not."""
    ratios = sorted(r["rps"] / b["rps"] for r, b in zip(runs, baseline))
    return ratios[len(ratios) // 2], f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}"


def start_ms(work: Path, *args) -> tuple[float, float]:
    """Time from exec to the ready file, and RSS once ready (idle), of a
    fresh server; the best of 5 starts."""
    best, rss = 1e9, 0.0
    for _ in range(5):
        t = time.perf_counter()
        proc, _info = start_matgto(work, "--log-level", "off", *args, poll=0.001)
        took = (time.perf_counter() - t) * 1000
        time.sleep(0.3)
        if took < best:
            best, rss = took, current_rss_mib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return best, rss


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def wsload_binary() -> str | None:
    """Builds bench/wsload (Go, gorilla/websocket from the module proxy) into
    build/bench/; None when there is no Go toolchain."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        return None
    out = ROOT / "build/bench/wsload"
    subprocess.run([go, "build", "-o", str(out), "."], cwd=ROOT / "bench/wsload", check=True)
    return str(out)


def wsload_rows(rows, info, proxy: str, pid: int, messages: int, conns: int = 8) -> str:
    binary = wsload_binary()
    if binary is None:
        rows.append(("WebSocket", "skipped: no Go toolchain for bench/wsload", 0, 0, None, None, 0, None, ""))
        return "skipped (no Go)"
    server = subprocess.Popen([binary, "-serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"ws://127.0.0.1:{port}/bench"

        def run(via=None) -> dict:
            cmd = [binary, "-url", url, "-c", str(conns), "-n", str(messages)]
            if via:
                cmd += ["-proxy", via]
            return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

        direct = run()
        cli(info, "record", "ws")
        rec = run(proxy)
        cli(info, "stop")
        cli(info, "replay", "ws")
        rep = run(proxy)
        base = direct["messages_per_second"]
        rows.append(("WebSocket", "direct native echo server (baseline)", base, 1.0, None, None,
                     direct["errors"], None, "messages/s"))
        rows.append(("WebSocket", "matgto record", rec["messages_per_second"], rec["messages_per_second"] / base,
                     None, None, rec["errors"], rss_mib(pid), "messages/s"))
        rows.append(("WebSocket", "matgto replay", rep["messages_per_second"], rep["messages_per_second"] / base,
                     None, None, rep["errors"], rss_mib(pid), "messages/s"))
        return f"{conns} connections x {messages} pipelined text messages (bench/wsload), counted both ways"
    finally:
        server.kill()
        server.wait()


def record_memory(work: Path, base: str, conns: int, target: int) -> list[str]:
    """RSS of a fresh server while it records: after about 10,000 exchanges
    and after `target`, then how long `matgto stop` took to save them."""
    m, info = start_matgto(work, "--log-level", "warn")
    try:
        proxy = f"http://{info['proxy']}"
        cli(info, "record", "bench-memory")
        pb, stub = control(info)

        def recorded() -> int:
            return sum(x.recorded for x in stub.GetStatus(pb.GetStatusRequest()).sessions)

        wrk(proxy + "/", 1, conns, WRK_TARGET=base, WRK_ITEMS=10)
        first_n, first_rss = recorded(), current_rss_mib(m.pid)
        n = first_n
        t0 = time.perf_counter()
        while n < target:
            wrk(proxy + "/", 5, conns, WRK_TARGET=base, WRK_ITEMS=10)
            n = recorded()
        took = time.perf_counter() - t0
        end_rss = current_rss_mib(m.pid)
        t = time.perf_counter()
        cli(info, "stop")
        stop_s = time.perf_counter() - t
        size = (work / "cassettes" / "bench-memory.pb").stat().st_size
        # The peak (VmHWM) is that of the save, if any step of it held more
        # than the recording did (stop streams the journal into the cassette).
        # The rate counts the exchanges recorded after the first reading.
        rate = (f"{(n - first_n) / took:,.0f}/s" if n > first_n and took > 0
                else "no rate: the target was reached in the warm-up")
        return [f"recording memory: RSS {first_rss:.1f} MiB after {first_n:,} exchanges, "
                f"{end_rss:.1f} MiB after {n:,} ({rate}); `matgto stop` saved them "
                f"({size / 2**20:,.0f} MiB) in {stop_s:.1f} s, peak RSS during the save "
                f"{rss_mib(m.pid):,} MiB, RSS then {current_rss_mib(m.pid):.1f} MiB"]
    finally:
        m.send_signal(signal.SIGTERM)
        m.wait(timeout=60)


def print_table(rows):
    hdr = (f"{'':10} {'scenario':40} {'per s':>10} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} "
           f"{'errors':>7} {'RSS MiB':>8} {'CPU us':>7}  note")
    print(hdr)
    print("-" * len(hdr))
    for row in rows:
        section, name, rps, ratio, p50, p99, errors, rss, note = row[:9]
        cpu = row[9] if len(row) > 9 else None
        f = lambda v: f"{v:8.2f}" if v is not None else f"{'-':>8}"
        c = f"{cpu:7.1f}" if cpu is not None else f"{'-':>7}"
        print(f"{section:10} {name:40} {rps:10.0f} {ratio:7.2f} {f(p50)} {f(p99)} {errors:7d} "
              f"{(str(rss) if rss else '-'):>8} {c}  {note}")


def main() -> int:
    global THREADS, WRK_THREADS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=WRK_THREADS,
                    help="wrk's threads (-t); the issue's table ran wrk -t2 -c64")
    ap.add_argument("--body-bytes", type=int, default=1024)
    ap.add_argument("--ws-messages", type=int, default=20000, help="per WebSocket connection (8)")
    ap.add_argument("--idle-connections", type=int, default=10_000)
    ap.add_argument("--slow-clients", type=int, default=1_000)
    ap.add_argument("--no-load", action="store_true", help="skip the idle and slowloris rows")
    ap.add_argument("--no-s3", action="store_true", help="skip the object store rows")
    ap.add_argument("--peers", action="store_true",
                    help="also Talkback, Mountebank, WireMock and mitmproxy (bench/peers.py; installs them)")
    ap.add_argument("--record-exchanges", type=int, default=1_000_000,
                    help="how many exchanges the recording-memory row records")
    ap.add_argument("--no-huge", action="store_true",
                    help="skip the 1,000,000-interaction and 1 GiB cassette load rows")
    ap.add_argument("--cassettes-only", action="store_true",
                    help="only the cassette load rows (bench/huge_cassettes.py)")
    ap.add_argument("--no-h2", action="store_true", help="skip the HTTP/2 and gRPC rows")
    ap.add_argument("--h2-only", action="store_true",
                    help="only the HTTP/2 and gRPC rows (bench/h2_bench.py)")
    ap.add_argument("--logging-only", action="store_true",
                    help="only the rows that measure what logging and metrics cost")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="matgto's I/O threads (default: the server's own, one per core; "
                         "nginx runs a worker per core)")
    a = ap.parse_args()
    THREADS = a.threads
    WRK_THREADS = a.wrk_threads
    import load  # bench/load.py
    nofile = load.raise_nofile(a.idle_connections + 1024)
    for tool in ("wrk", "nginx", "curl", "openssl"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is missing (scripts/install-deps.sh test installs it)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="matgto-bench-"))
    procs = []
    rows = []  # (section, name, rps, ratio, p50, p99, errors, rss, note)
    try:
        pb = proto_modules(work)
        body = (b"matgto bench body " * (a.body_bytes // 18 + 1))[: a.body_bytes]
        many = 10_000
        hop_port = free_port()
        nginx, nport, ntls = start_nginx(work, body, many, hop_port)
        procs.append(nginx)
        base = f"http://127.0.0.1:{nport}"
        hop = f"http://127.0.0.1:{hop_port}"
        cas = work / "cassettes"
        write_cassette(pb, cas / "small.pb", "small", base, 10, body)
        write_cassette(pb, cas / "big.pb", "big", base, many, body)
        write_cassette(pb, cas / "tls.pb", "tls", "https://bench.test", 10, body)
        S, C = a.seconds, a.connections

        def add(section, name, r, baseline, rss=None, note="", rounds=None):
            """A row; with `rounds` (the row's and its baseline's rounds) the
            ratio is the paired one (see paired) and the note gives its range."""
            ratio = r["rps"] / baseline["rps"]
            if rounds is not None:
                ratio, spread = paired(*rounds)
                note = f"{note}; {spread}" if note else spread
            rows.append((section, name, r["rps"], ratio, r["p50_us"] / 1000,
                         r["p99_us"] / 1000, r["errors"], rss, note, r.get("cpu_us")))

        if a.cassettes_only:
            import huge_cassettes  # bench/huge_cassettes.py
            for line in huge_cassettes.rows(start_matgto, control, work, pb, body, base, cas / "big.pb"):
                print(line)
            return 0

        def h2_rows():
            import h2_bench  # bench/h2_bench.py
            return h2_bench.rows(work=work, pb=pb, body=body, seconds=S, conns=C,
                                 start_matgto=start_matgto, cli=cli, write_cassette=write_cassette,
                                 free_port=free_port, wait_port=wait_port, cpu_us=cpu_us)

        if a.h2_only:
            rows += h2_rows()
            print_table(rows)
            return 0

        # --- Logging and metrics: the same replay with `--log-level info`
        # (a line per exchange) and the admin port on, next to logging off.
        # Rounds alternate between the two servers (medians of 5 each), so
        # that a burst of load on the machine hits both alike; the CPU each
        # server spent per request is the steadier figure.
        quiet, qinfo = start_matgto(work, "--log-level", "off")
        procs.append(quiet)
        cli(qinfo, "replay", "small")
        qproxy = f"http://{qinfo['proxy']}"
        loud, linfo = start_matgto(work, "--log-level", "info", "--admin-port", "0")
        procs.append(loud)
        cli(linfo, "replay", "small")
        lproxy = f"http://{linfo['proxy']}"
        wrk(qproxy + "/", 1, C, WRK_TARGET=base, WRK_ITEMS=10)
        wrk(lproxy + "/", 1, C, WRK_TARGET=base, WRK_ITEMS=10)
        offs, ons = [], []
        for _ in range(5):
            offs.append(measured(quiet.pid, lambda: wrk(qproxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=10)))
            ons.append(measured(loud.pid, lambda: wrk(lproxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=10)))

        off, on = median(offs), median(ons)
        add("Logging", "replay, --log-level off (baseline)", off, off)
        add("Logging", "replay, --log-level info + /metrics", on, off,
            note=f"logging costs {(1 - on['rps'] / off['rps']) * 100:.1f}% of throughput, "
                 f"{(on['cpu_us'] / off['cpu_us'] - 1) * 100:.1f}% CPU per request")
        if a.logging_only:
            print_table(rows)
            return 0

        # --- Start-up: exec to ready file, and idle RSS, of a fresh server
        ready_ms, idle_rss = start_ms(work)

        # --- HTTP: nginx serving the body directly, matgto replaying it from
        # 10 and from 10,000 interactions (a server each), in alternating
        # rounds (medians), so that a burst of load on the machine hits all
        # alike; then the same at 1 connection (latency).
        m, info = start_matgto(work, *LIKE_NGINX_LOGS)
        procs.append(m)
        proxy = f"http://{info['proxy']}"
        cli(info, "replay", "small")
        check = subprocess.run(["curl", "-sf", "--proxy", proxy, base + "/item/3"], capture_output=True, check=True)
        assert check.stdout == body, "replayed body differs"
        mb, binfo = start_matgto(work, *LIKE_NGINX_LOGS)
        procs.append(mb)
        bproxy = f"http://{binfo['proxy']}"
        t = time.perf_counter()
        cli(binfo, "replay", "big")
        load_ms = (time.perf_counter() - t) * 1000
        http_cases = [("direct", nginx.pid, base, "", 10), ("small", m.pid, proxy, base, 10),
                      ("direct_many", nginx.pid, base, "", many), ("big", mb.pid, bproxy, base, many)]
        for _key, _pid, url, target, items in http_cases:
            wrk(url + "/", 1, C, WRK_ITEMS=items, WRK_TARGET=target)
        runs = {key: [] for key, *_ in http_cases}
        ones = {"direct": [], "small": []}
        for _ in range(ROUNDS):
            for key, pid, url, target, items in http_cases:
                runs[key].append(measured(pid, lambda: wrk(url + "/", S, C, WRK_ITEMS=items,
                                                           WRK_TARGET=target)))
        for _ in range(ROUNDS):
            for key, pid, url, target, items in http_cases[:2]:  # direct, small
                ones[key].append(measured(pid, lambda: wrk(url + "/", S, 1, WRK_ITEMS=items,
                                                           WRK_TARGET=target)))
        b_http, small, big = (median(runs[k]) for k in ("direct", "small", "big"))
        b_one, one = median(ones["direct"]), median(ones["small"])
        add("HTTP", "nginx direct (baseline)", b_http, b_http)
        add("HTTP", "nginx direct, 1 connection (baseline)", b_one, b_one, note="latency")
        add("HTTP", "matgto replay, 10 interactions", small, b_http, rss_mib(m.pid),
            rounds=(runs["small"], runs["direct"]))
        add("HTTP", "matgto replay, 1 connection", one, b_one,
            note=f"latency; p50 {one['p50_us']} us vs nginx {b_one['p50_us']} us",
            rounds=(ones["small"], ones["direct"]))
        # Spreading the requests over 10,000 items slows nginx too (its
        # files, matgto's interactions: more memory touched per request):
        # the row below compares like with like.
        many_ratio = paired(runs["big"], runs["direct_many"])
        add("HTTP", "matgto replay, 10,000 interactions", big, b_http, rss_mib(mb.pid),
            f"{paired(runs['big'], runs['small'])[0]:.2f}x of 10; "
            f"{many_ratio[0]:.2f}x nginx on 10,000 files ({many_ratio[1]}); nginx itself "
            f"{paired(runs['direct_many'], runs['direct'])[0]:.2f}x of 10 files",
            rounds=(runs["big"], runs["direct"]))
        cli(binfo, "stop")
        mb.terminate()
        mb.wait(timeout=30)
        cli(info, "stop")

        # --- Record and passthrough (baseline: an nginx reverse-proxy hop to
        # the same nginx, keep-alive upstream connections)
        # Two servers, one passing through and one recording, so that rounds
        # can alternate between the four (ROUNDS rounds): a burst of load on
        # the machine hits them alike.
        hproc, hop_own_port = start_nginx_hop(work, nport)
        procs.append(hproc)
        mp, pinfo = start_matgto(work, *LIKE_NGINX_LOGS)
        procs.append(mp)
        cli(pinfo, "use", "pt", "--mode", "passthrough")
        mr, rinfo = start_matgto(work, *LIKE_NGINX_LOGS)
        procs.append(mr)
        cli(rinfo, "record", "bench-record")
        # The same two with one I/O thread per two cores (the default
        # until 2026-12-04 evening), for reference.
        half = max(1, (os.cpu_count() or 1) // 2)
        mp_n, pinfo_n = start_matgto(work, *LIKE_NGINX_LOGS, threads=half)
        procs.append(mp_n)
        cli(pinfo_n, "use", "pt", "--mode", "passthrough")
        mr_n, rinfo_n = start_matgto(work, *LIKE_NGINX_LOGS, threads=half)
        procs.append(mr_n)
        cli(rinfo_n, "record", "bench-record-cores")
        forward = [("hop", hproc.pid, f"http://127.0.0.1:{hop_own_port}", ""),
                   ("shared", nginx.pid, hop, ""),
                   ("pt", mp.pid, f"http://{pinfo['proxy']}", base),
                   ("rec", mr.pid, f"http://{rinfo['proxy']}", base),
                   ("pt_n", mp_n.pid, f"http://{pinfo_n['proxy']}", base),
                   ("rec_n", mr_n.pid, f"http://{rinfo_n['proxy']}", base)]
        runs = {key: [] for key, *_ in forward}
        for _key, _pid, url, target in forward:
            wrk(url + "/", 1, C, WRK_ITEMS=10, WRK_TARGET=target)
        for _ in range(ROUNDS):
            for key, pid, url, target in forward:
                runs[key].append(measured(pid, lambda: wrk(url + "/", S, C, WRK_ITEMS=10,
                                                           WRK_TARGET=target)))
        b_hop, shared, pt, rec = (median(runs[k]) for k in ("hop", "shared", "pt", "rec"))

        def machine(r):
            """What a forwarded exchange cost the whole machine (every core
            is busy: the rate follows it), and the proxy's share of it."""
            return f"machine {r['machine_us']:.1f} us/req ({r['machine_us'] - r['cpu_us']:.1f} not the proxy)"

        add("Forward", "nginx reverse-proxy hop (baseline)", b_hop, b_hop,
            note=f"nginx of its own; CPU: the hop; {machine(b_hop)}")
        add("Forward", "nginx hop inside the upstream's nginx", shared, b_hop,
            note="CPU: hop and upstream", rounds=(runs["shared"], runs["hop"]))
        add("Forward", "matgto passthrough -> nginx", pt, b_hop, rss_mib(mp.pid),
            note=machine(pt), rounds=(runs["pt"], runs["hop"]))
        # Recording's own cost: the same exchanges passed through, in the
        # same rounds.
        add("Forward", "matgto record -> nginx", rec, b_hop, rss_mib(mr.pid),
            note=f"{machine(rec)}; {paired(runs['rec'], runs['pt'])[0]:.2f}x of passthrough",
            rounds=(runs["rec"], runs["hop"]))
        per_two = f"--threads {half} (per two cores)"
        add("Forward", "  passthrough, " + per_two, median(runs["pt_n"]), b_hop,
            rss_mib(mp_n.pid), rounds=(runs["pt_n"], runs["hop"]))
        add("Forward", "  record, " + per_two, median(runs["rec_n"]), b_hop,
            rss_mib(mr_n.pid), rounds=(runs["rec_n"], runs["hop"]))
        cli(rinfo, "stop")
        cli(rinfo_n, "stop")
        # What was just recorded, replayed: a recorded load test holds each
        # of its 10 URLs thousands of times, and each request takes the
        # next recording of its URL.
        recorded = sum(r["requests"] for r in runs["rec"])
        cli(rinfo, "replay", "bench-record")
        wrk(f"http://{rinfo['proxy']}/", 1, C, WRK_ITEMS=10, WRK_TARGET=base)
        again = measured(mr.pid, lambda: wrk(f"http://{rinfo['proxy']}/", S, C, WRK_ITEMS=10,
                                             WRK_TARGET=base))
        add("Forward", "matgto replay of what record recorded", again, b_http, rss_mib(mr.pid),
            f"ratio vs nginx direct; over {recorded:,} interactions, 10 URLs")
        cli(rinfo, "stop")
        for proc in (mp, mr, mp_n, mr_n, hproc):
            proc.terminate()
            proc.wait(timeout=30)
        # Each request with a new bearer token: the recording learns a
        # secret per exchange and must keep every earlier one scrubbed.
        cli(info, "record", "bench-record-tokens")
        tok = measured(m.pid, lambda: wrk(proxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=10,
                                          WRK_BEARER=1))
        add("Forward", "matgto record, a new token per request", tok, b_hop, rss_mib(m.pid),
            f"{tok['requests']:,} exchanges")
        cli(info, "stop")

        # --- Recording memory: a fresh server records until --record-exchanges
        record_lines = record_memory(work, base, C, a.record_exchanges)

        # --- Sessions: one vs 32, all replaying `small`, reached by credential
        one = open_sessions(info, "small", 1)
        wrk(proxy + "/", 1, C, WRK_TARGET=base, WRK_ITEMS=10, WRK_AUTH=basic(one[0]))
        s1 = wrk(proxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=10, WRK_AUTH=basic(one[0]))
        add("Sessions", "1 session by credential (baseline)", s1, s1, rss_mib(m.pid),
            f"{s1['rps'] / small['rps']:.2f}x of default session")
        many_sessions = open_sessions(info, "small", 31) + one
        auth = ",".join(basic(x) for x in many_sessions)
        s32 = wrk(proxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=10, WRK_AUTH=auth)
        add("Sessions", "32 sessions, requests spread over all", s32, s1, rss_mib(m.pid),
            f"{s32['rps'] / small['rps']:.2f}x of default session")
        pb_, stub_ = control(info)
        served = sum(x.replayed for x in stub_.GetStatus(pb_.GetStatusRequest()).sessions)
        assert served >= s32["requests"], "spread traffic was not answered by the sessions"
        stop_sessions(info, many_sessions)
        # Idle memory: a fresh server, 1 then 256 sessions open.
        mm, minfo = start_matgto(work, *LIKE_NGINX_LOGS, "--max-sessions", "256")
        procs.append(mm)
        opened = open_sessions(minfo, "small", 1)
        time.sleep(0.5)
        rss1 = current_rss_mib(mm.pid)
        opened += open_sessions(minfo, "small", 255)
        time.sleep(0.5)
        rss256 = current_rss_mib(mm.pid)
        per_session_kib = (rss256 - rss1) * 1024 / 255
        stop_sessions(minfo, opened)

        # --- Load: idle connections and slow clients, each on a fresh server
        load_notes, load_failed = [], []
        if not a.no_load:
            without, during, rss, note, ok = load.idle_connections(
                work, base, a.idle_connections, hold=max(15.0, S + 5.0), seconds=S, conns=C)
            add("Load", "baseline for idle (same server, none held)", without, without)
            add("Load", f"while {a.idle_connections:,} idle connections held", during, without, rss)
            load_notes.append(note)
            if not ok:
                load_failed.append("idle connections")
            without, during, rss, note, ok = load.slowloris(
                work, base, a.slow_clients, trickle=0.5, slow_timeout=10, seconds=S, conns=C)
            add("Load", "baseline for slowloris (none slow)", without, without)
            add("Load", f"during {a.slow_clients:,} slowloris clients", during, without, rss)
            load_notes.append(note)
            if not ok:
                load_failed.append("slowloris")

        # --- HTTPS (reverse mode with TLS on the proxy port): keep-alive,
        # then a new handshake per request, each in ROUNDS rounds alternating
        # between nginx and matgto (medians), as the HTTP rows.
        tls_url = f"https://127.0.0.1:{ntls}/"
        mt, tinfo = start_matgto(work, *LIKE_NGINX_LOGS, "--upstream", "https://bench.test", "--reverse-tls",
                                 "--cassette", "tls", "--mode", "replay")
        procs.append(mt)
        murl = f"https://{tinfo['proxy']}/"
        tls_cases = [("nginx", nginx.pid, tls_url), ("matgto", mt.pid, murl)]
        for _key, _pid, url in tls_cases:
            wrk(url, 1, C, WRK_ITEMS=10)
        tls_runs = {(key, close): [] for key, *_ in tls_cases for close in (0, 1)}
        for close in (0, 1):
            for _ in range(ROUNDS):
                for key, pid, url in tls_cases:
                    tls_runs[(key, close)].append(measured(
                        pid, lambda: wrk(url, S, C, WRK_ITEMS=10, WRK_CLOSE=close)))
        b_tls, r_tls = median(tls_runs[("nginx", 0)]), median(tls_runs[("matgto", 0)])
        b_hs, r_hs = median(tls_runs[("nginx", 1)]), median(tls_runs[("matgto", 1)])
        add("HTTPS", "nginx TLS keep-alive (baseline)", b_tls, b_tls)
        add("HTTPS", "matgto replay TLS keep-alive", r_tls, b_tls, rss_mib(mt.pid),
            rounds=(tls_runs[("matgto", 0)], tls_runs[("nginx", 0)]))
        add("HTTPS", "nginx new TLS handshake per request", b_hs, b_hs, None, "handshakes/s")
        add("HTTPS", "matgto new TLS handshake per request", r_hs, b_hs, rss_mib(mt.pid), "handshakes/s",
            rounds=(tls_runs[("matgto", 1)], tls_runs[("nginx", 1)]))

        # --- WebSocket: a native load generator (bench/wsload), pipelined
        ws_note = wsload_rows(rows, info, proxy, m.pid, a.ws_messages)

        # --- Peers: the same record and replay through the tools a user
        # would pick instead (bench/peers.py), against the same baselines
        if a.peers:
            import peers  # bench/peers.py
            rows += peers.peer_rows(peers.Ctx(work, base, body, S, C, b_http, b_hop))

        if not a.no_h2:
            rows += h2_rows()

        huge_lines = []
        if not a.no_huge:
            import huge_cassettes  # bench/huge_cassettes.py
            huge_lines = huge_cassettes.rows(start_matgto, control, work, pb, body, base, cas / "big.pb")
        s3_lines = []
        if not a.no_s3:
            import s3_bench  # bench/s3_bench.py
            s3_lines = s3_bench.s3_rows(MATGTO, start_matgto, cli, work, cas / "big.pb", body, base)

        threads_note = (f"{THREADS} I/O threads (--threads)" if THREADS > 0 else
                        f"{os.cpu_count() or 1} I/O thread(s) (its default, one per core)")
        print(f"\nmatgto bench: {C} keep-alive connections, {S}s per row, {a.body_bytes}-byte body, "
              f"wrk -t{WRK_THREADS}, {os.cpu_count()} cores, loopback; nginx {os.cpu_count()} workers (auto), matgto {threads_note}; "
              f"WebSocket: {ws_note}\n")
        print(f"server measured: {MATGTO}\n")
        print_table(rows)
        print(f"\nstart-up: ready file {ready_ms:.0f} ms after exec (best of 5), idle RSS {idle_rss:.1f} MiB")
        print(f"cassette load: Replay of 10,000 interactions took {load_ms:.0f} ms (gRPC call, parse + index)")
        for line in huge_lines + record_lines:
            print(line)
        print(f"idle sessions: RSS {rss1:.1f} MiB with 1 session open, {rss256:.1f} MiB with 256 "
              f"(each replaying the 10-interaction cassette, own listener): "
              f"{per_session_kib:.0f} KiB per session")
        for note in load_notes:
            print(note)
        for line in s3_lines:
            print(line)
        print(f"descriptor limit (RLIMIT_NOFILE) of the bench and its servers: {nofile}")
        print("ratio = rate / the section's baseline rate in this same run; where the note gives "
              "\"rounds\", the median of the rounds' ratios (each round ran the row and its "
              "baseline back to back) and their range.")
        # A peer's errors are its own (shown in its row), not a failure of matgto.
        bad = [r[1] for r in rows if r[6] and r[0] != "Peers"] + load_failed
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
