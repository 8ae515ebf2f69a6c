#!/usr/bin/env python3
"""Load and time for matgto (issue 11, "Proof that it holds"): connections held, slow
clients, and a soak. bench.py runs the first two in `make bench`; the soak is its own
target (`make soak`, SOAK_SECONDS, default 600) because it is long.

  idle connections   N (default 10,000) TCP connections opened to the proxy port and held
                     without a byte sent; after the hold, how many are still open, the
                     server's RSS and descriptors, and the latency of normal requests
                     (wrk) while they are held, next to the same wrk run without them.
  slowloris          N (default 1,000) clients that send a request line and then one
                     header byte every `--trickle` seconds; wrk measures normal requests
                     meanwhile (p50/p99 next to the run without them). The server runs with
                     --request-timeout/--idle-timeout of `--slow-timeout` seconds so that
                     the run also shows what a slow client gets and when: a 408, or a
                     close with no answer.
  soak               a fixed request rate (replay, keep-alive connections, one new
                     connection every 50 requests per worker) for `--seconds`; RSS
                     sampled every 5 s: at start (after 10 s of warm-up), at the end, the
                     peak; errors (a status other than 200, a wrong body, an exception)
                     and latency p50/p99.

Descriptors: the bench raises its own RLIMIT_NOFILE soft limit to the hard limit, and the
servers it starts inherit it (a server needs one per held connection).

Usage: bench/run.sh (the whole bench), or
       build/venv/bin/python bench/load.py soak --seconds 600 --rate 200
"""
from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import statistics
import sys
import tempfile
import shutil
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (wrk, start_matgto, start_nginx, write_cassette, ...)


def raise_nofile(want: int) -> int:
    """Raises this process's soft descriptor limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(want, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def connect_many(addr: tuple[str, int], n: int) -> tuple[list[socket.socket], int]:
    """Opens n connections (non-blocking connects, completed with poll); returns the
    sockets that connected and how many failed."""
    socks, failed = [], 0
    pending = {}
    poller = select.poll()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(addr)
        if err not in (0, 115):  # 115: EINPROGRESS
            failed += 1
            s.close()
            continue
        pending[s.fileno()] = s
        poller.register(s, select.POLLOUT)
        # Keep the number of half-open connects under the listen backlog.
        while len(pending) >= 512:
            failed += _finish_connects(poller, pending, socks, 5000)
    while pending:
        before = len(pending)
        failed += _finish_connects(poller, pending, socks, 10000)
        if len(pending) == before:  # nothing moved in 10 s
            failed += len(pending)
            for s in pending.values():
                s.close()
            pending.clear()
    return socks, failed


def _finish_connects(poller, pending, socks, timeout_ms) -> int:
    failed = 0
    for fd, _ in poller.poll(timeout_ms):
        s = pending.pop(fd, None)
        if s is None:
            continue
        poller.unregister(fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            socks.append(s)
        else:
            failed += 1
            s.close()
    return failed


def still_open(socks: list[socket.socket]) -> tuple[int, int, int]:
    """(open and silent, answered with bytes, closed by the server)."""
    silent = answered = closed = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK)
            if data:
                answered += 1
            else:
                closed += 1
        except BlockingIOError:
            silent += 1
        except OSError:
            closed += 1
    return silent, answered, closed


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def idle_connections(work: Path, base: str, n: int, hold: float, seconds: int, conns: int):
    """Returns (row for the table, detail line)."""
    # Room for the idle ones and wrk's (the default --max-connections is
    # 10,000, which the idle ones alone would fill).
    m, info = bench.start_matgto(work, "--max-connections", str(n + conns + 64))
    try:
        bench.cli(info, "replay", "small")
        proxy = f"http://{info['proxy']}"
        host, port = info["proxy"].rsplit(":", 1)
        without = bench.wrk(proxy + "/", seconds, conns, WRK_TARGET=base, WRK_ITEMS=10)
        rss0 = bench.current_rss_mib(m.pid)
        t = time.perf_counter()
        socks, failed = connect_many((host, int(port)), n)
        opened_s = time.perf_counter() - t
        time.sleep(1.0)
        fds = open_fds(m.pid)
        rss = bench.current_rss_mib(m.pid)
        during = bench.wrk(proxy + "/", seconds, conns, WRK_TARGET=base, WRK_ITEMS=10)
        time.sleep(max(0.0, hold - seconds - 1.0))
        silent, answered, closed = still_open(socks)
        close_all(socks)
        alive = m.poll() is None
        detail = (f"idle connections: {len(socks)}/{n} opened in {opened_s:.1f}s ({failed} failed), "
                  f"after {hold:.0f}s {silent} still open, {answered} answered, {closed} closed by the "
                  f"server; server RSS {rss0:.0f} -> {rss:.0f} MiB "
                  f"({(rss - rss0) * 1024 / max(1, len(socks)):.1f} KiB per connection), "
                  f"{fds} descriptors; p50/p99 {without['p50_us'] / 1000:.2f}/"
                  f"{without['p99_us'] / 1000:.2f} ms without, {during['p50_us'] / 1000:.2f}/"
                  f"{during['p99_us'] / 1000:.2f} ms while held; server {'up' if alive else 'DOWN'}")
        ok = alive and silent == n and during["errors"] == 0
        return without, during, round(rss), detail, ok
    finally:
        m.send_signal(signal.SIGTERM)
        try:
            m.wait(timeout=20)
        except Exception:
            m.kill()


def slowloris(work: Path, base: str, n: int, trickle: float, slow_timeout: float, seconds: int,
              conns: int):
    m, info = bench.start_matgto(work, "--request-timeout", str(slow_timeout),
                                 "--idle-timeout", str(slow_timeout))
    try:
        bench.cli(info, "replay", "small")
        proxy = f"http://{info['proxy']}"
        host, port = info["proxy"].rsplit(":", 1)
        without = bench.wrk(proxy + "/", seconds, conns, WRK_TARGET=base, WRK_ITEMS=10)
        socks, failed = connect_many((host, int(port)), n)
        started = time.monotonic()
        state = {"stop": False, "sent": 0}
        ends: dict[int, tuple[float, bytes]] = {}  # index -> (seconds, first bytes)

        def drip():
            line = f"GET {base}/item/1 HTTP/1.1\r\nHost: slow\r\n".encode()
            for s in socks:
                try:
                    s.send(line)
                except OSError:
                    pass
            # Valid header lines, one byte at a time: the request never ends.
            headers = b"".join(b"X-Slow-%d: %d\r\n" % (j, j) for j in range(2000))
            i = 0
            while not state["stop"]:
                byte = headers[i % len(headers):i % len(headers) + 1]
                for k, s in enumerate(socks):
                    if k in ends:
                        continue
                    try:
                        data = s.recv(256)
                        ends[k] = (time.monotonic() - started, data)
                        continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        ends[k] = (time.monotonic() - started, b"")
                        continue
                    try:
                        s.send(byte)
                        state["sent"] += 1
                    except OSError:
                        ends[k] = (time.monotonic() - started, b"")
                i += 1
                time.sleep(trickle)

        th = threading.Thread(target=drip, daemon=True)
        th.start()
        time.sleep(1.0)
        during = bench.wrk(proxy + "/", seconds, conns, WRK_TARGET=base, WRK_ITEMS=10)
        # Let the timeout act, then see what the slow clients got.
        wait_until = started + slow_timeout + 5
        while time.monotonic() < wait_until and len(ends) < len(socks):
            time.sleep(0.5)
        state["stop"] = True
        th.join(timeout=30)
        got408 = sum(1 for _, d in ends.values() if d.startswith(b"HTTP/1.1 408"))
        other = sum(1 for _, d in ends.values() if d and not d.startswith(b"HTTP/1.1 408"))
        bare = sum(1 for _, d in ends.values() if not d)
        times = sorted(t for t, _ in ends.values())
        cut = (f"cut after {times[0]:.1f}-{times[-1]:.1f}s" if times else "none cut")
        close_all(socks)
        alive = m.poll() is None
        detail = (f"slowloris: {len(socks)}/{n} slow clients ({failed} failed to connect), one "
                  f"header byte per client every {trickle}s, server --request-timeout/"
                  f"--idle-timeout {slow_timeout:g}s: {len(ends)} ended ({cut}): {got408} got 408, "
                  f"{other} another answer, {bare} a close with no answer; {len(socks) - len(ends)} "
                  f"still open; p50/p99 {without['p50_us'] / 1000:.2f}/{without['p99_us'] / 1000:.2f} ms "
                  f"without, {during['p50_us'] / 1000:.2f}/{during['p99_us'] / 1000:.2f} ms during; "
                  f"server {'up' if alive else 'DOWN'}")
        ok = alive and during["errors"] == 0
        return without, during, round(bench.current_rss_mib(m.pid)), detail, ok
    finally:
        m.send_signal(signal.SIGTERM)
        try:
            m.wait(timeout=20)
        except Exception:
            m.kill()


def soak(seconds: int, rate: int, workers: int) -> int:
    import http.client
    raise_nofile(4096)
    work = Path(tempfile.mkdtemp(prefix="matgto-soak-"))
    procs = []
    try:
        pb = bench.proto_modules(work)
        body = (b"matgto soak body " * 64)[:1024]
        nginx, nport, _ = bench.start_nginx(work, body, 10)
        procs.append(nginx)
        base = f"http://127.0.0.1:{nport}"
        bench.write_cassette(pb, work / "cassettes" / "small.pb", "small", base, 10, body)
        m, info = bench.start_matgto(work)
        procs.append(m)
        bench.cli(info, "replay", "small")
        host, port = info["proxy"].rsplit(":", 1)
        lock = threading.Lock()
        stats = {"ok": 0, "errors": 0, "error_kinds": {}, "lat": []}
        stop_at = time.monotonic() + seconds
        interval = workers / rate

        def worker(w: int):
            conn = None
            k = 0
            next_t = time.monotonic() + w * interval / workers
            while True:
                now = time.monotonic()
                if now >= stop_at:
                    break
                if next_t > now:
                    time.sleep(next_t - now)
                next_t += interval
                if conn is None or k % 50 == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
                url = f"{base}/item/{(w + k) % 10}"
                k += 1
                t = time.perf_counter()
                try:
                    conn.request("GET", url)
                    r = conn.getresponse()
                    data = r.read()
                    err = None if (r.status == 200 and data == body) else f"status {r.status}"
                except Exception as e:  # noqa: BLE001 - every failure counts
                    err = type(e).__name__
                    conn.close()
                    conn = None
                lat = time.perf_counter() - t
                with lock:
                    if err:
                        stats["errors"] += 1
                        stats["error_kinds"][err] = stats["error_kinds"].get(err, 0) + 1
                    else:
                        stats["ok"] += 1
                        stats["lat"].append(lat)
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(workers)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        samples = []  # (seconds, RSS MiB), every 5 s
        next_sample = t0
        while any(th.is_alive() for th in threads):
            if time.monotonic() >= next_sample:
                samples.append((time.monotonic() - t0, bench.current_rss_mib(m.pid)))
                next_sample += 5
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        samples.append((elapsed, bench.current_rss_mib(m.pid)))
        warm = [r for t, r in samples if t >= min(10, seconds / 2)] or [samples[-1][1]]
        lat = sorted(stats["lat"]) or [0.0]
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
        total = stats["ok"] + stats["errors"]
        alive = m.poll() is None
        print(f"\nmatgto soak: {seconds}s at {rate} requests/s target ({workers} workers, "
              f"keep-alive, a new connection every 50 requests), replay of 10 interactions, "
              f"{os.cpu_count()} cores, loopback\n")
        print(f"requests      {total} ({total / elapsed:.0f}/s achieved)")
        print(f"errors        {stats['errors']} {stats['error_kinds'] or ''}")
        print(f"latency       p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1] * 1000:.1f} ms")
        print(f"RSS           start {warm[0]:.1f} MiB (after warm-up), end {warm[-1]:.1f} MiB, "
              f"peak {max(r for _, r in samples):.1f} MiB, growth {warm[-1] - warm[0]:+.1f} MiB")
        print(f"descriptors   {open_fds(m.pid)} at the end")
        print(f"server        {'up' if alive else 'DOWN'}")
        print("RSS samples   " + " ".join(f"{r:.0f}" for _, r in samples[:: max(1, len(samples) // 24)]))
        return 0 if stats["errors"] == 0 and alive else 1
    finally:
        for p_ in procs:
            p_.send_signal(signal.SIGTERM)
            try:
                p_.wait(timeout=10)
            except Exception:
                p_.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("soak")
    s.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "600")))
    s.add_argument("--rate", type=int, default=int(os.environ.get("SOAK_RATE", "200")))
    s.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()
    if a.cmd == "soak":
        return soak(a.seconds, a.rate, a.workers)
    return 2


if __name__ == "__main__":
    sys.exit(main())
