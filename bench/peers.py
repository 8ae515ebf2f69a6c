#!/usr/bin/env python3
"""The record/replay tools a user would pick instead of matgto, measured the
way matgto is in the same run (`make bench PEERS=1`, bench.py --peers):

  Talkback 4.2    npm; reverse proxy to the upstream; tapes (JSON5 files)
  Mountebank 2.9  npm; an imposter with a proxyAlways proxy, `mb save
                  --removeProxies`, then `mb --configfile` replays the saved stubs
  WireMock 3.13   npm `wiremock` (the standalone jar) on the installed JRE;
                  `--proxy-all --record-mappings`, then the mappings alone
  mitmproxy 8.1   Debian; a forward proxy like matgto: `mitmdump -w`, then
                  `--server-replay --server-replay-nopop`

scripts/install-peers.sh installs what is missing (npm packages into
build/bench/peers/node_modules, never global). Each peer records the bench's
nginx (the same body, /item/0..9) from wrk-shaped requests, is stopped, and
is started again to replay what it saved. Rows (section "Peers"):

  <peer> record -> nginx   wrk through the recording peer, every exchange
                           proxied and recorded its way (Talkback: OVERWRITE,
                           the tape file rewritten; Mountebank: proxyAlways,
                           responses kept in memory; WireMock: mapping files;
                           mitmproxy: the flow file); ratio against the nginx
                           reverse-proxy hop
  <peer> replay            wrk against the replaying peer; ratio against nginx
                           serving the body directly (matgto's replay row's
                           baseline); "start" = exec to its port accepting

Same wrk settings as the matgto rows (connections, seconds, an unmeasured 1 s
warm-up first; 10 s for WireMock, whose JIT needs it); CPU per request and
peak RSS (VmHWM) of the peer's process from /proc. Their
per-request logging is off (nothing reads it). A peer that does not install,
start or answer gets a row saying why; its errors do not fail the bench.

Alone, for a quick comparison: build/venv/bin/python bench/peers.py --seconds 2
(nginx direct and hop baselines, matgto replay and record, then the peers).
"""
from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (wrk, measured, rss_mib, start_nginx, ...)

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / "build/bench/peers"
MODULES = PEERS_DIR / "node_modules"
ITEMS = 10

# Talkback is a library: this starts its server with the options given as JSON
# (listening on loopback: Node's listen() takes {port, host} where a port goes).
TALKBACK_JS = """
const talkback = require(process.argv[1]);
const o = JSON.parse(process.argv[2]);
talkback({host: o.upstream, port: {port: o.port, host: "127.0.0.1"}, path: o.path,
          record: o.record, silent: true, summary: false}).start();
"""


class PeerError(Exception):
    pass


class Ctx:
    """What every peer run needs from the bench: the upstream, the body it
    serves, the wrk settings, and the two baselines of this run."""

    def __init__(self, work: Path, base: str, body: bytes, seconds: int, conns: int,
                 b_http: dict, b_hop: dict):
        self.work, self.base, self.body = work, base, body
        self.seconds, self.conns = seconds, conns
        self.b_http, self.b_hop = b_http, b_hop


class Running:
    def __init__(self, proc: subprocess.Popen, port: int, start_ms: float):
        self.proc, self.port, self.start_ms = proc, port, start_ms


def install() -> None:
    """scripts/install-peers.sh: installs what is missing; a failure shows
    later as a peer's row."""
    subprocess.run([str(ROOT / "scripts/install-peers.sh")], stdout=sys.stderr, check=False)


def _log_tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(l.strip() for l in text[-lines:])[:200]


def spawn(ctx: Ctx, tag: str, cmd: list[str], port: int, cwd: Path | None = None,
          after=None, timeout: float = 60.0) -> Running:
    """Starts `cmd` (output to a log in the work dir), runs `after()` once
    the process is up (Mountebank: create the imposter), and waits until
    `port` accepts; start_ms is exec to accepting."""
    log = ctx.work / f"peer-{tag}-{time.monotonic_ns()}.log"
    t = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    deadline = time.monotonic() + timeout
    pending = after
    try:
        while True:
            if proc.poll() is not None:
                raise PeerError(f"exited with {proc.returncode}: {_log_tail(log)}")
            if time.monotonic() > deadline:
                raise PeerError(f"port {port} not open after {timeout:.0f} s: {_log_tail(log)}")
            if pending is not None:
                try:
                    pending()
                    pending = None
                except urllib.error.HTTPError as e:  # up, but said no
                    raise PeerError(f"{e}: {e.read().decode(errors='replace')[:120]}") from e
                except OSError:  # not listening yet
                    time.sleep(0.005)
                    continue
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return Running(proc, port, (time.perf_counter() - t) * 1000)
            except OSError:
                time.sleep(0.005)
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch(port: int, target: str) -> tuple[int, bytes]:
    """One GET shaped like wrk's (a Host header and nothing else: Talkback
    matches on headers), through a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"127.0.0.1:{port}")
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Peer:
    """One tool: how it records, saves and replays. `forward`: wrk sends
    absolute-form targets to it (a forward proxy, like matgto's rows);
    otherwise origin-form paths (a reverse proxy in front of the upstream)."""
    forward = False
    name = "?"
    warmup_s = 1  # unmeasured wrk run first, as the matgto rows

    def missing(self) -> str | None:
        return None

    def record(self, ctx: Ctx, d: Path, port: int) -> Running:
        raise NotImplementedError

    def save(self, ctx: Ctx, run: Running, d: Path) -> None:
        """After priming: make what was recorded replayable (default: nothing
        beyond a clean stop)."""

    def replay(self, ctx: Ctx, d: Path, port: int) -> Running:
        raise NotImplementedError

    def stop(self, run: Running) -> None:
        stop(run.proc)

    def target(self, ctx: Ctx, i: int) -> str:
        return f"{ctx.base if self.forward else ''}/item/{i}"

    def wrk(self, ctx: Ctx, run: Running, seconds: int) -> dict:
        url = f"http://127.0.0.1:{run.port}/"
        return bench.wrk(url, seconds, ctx.conns, WRK_TARGET=ctx.base if self.forward else "",
                         WRK_ITEMS=ITEMS)


def _npm_version(pkg: str) -> str | None:
    try:
        return json.loads((MODULES / pkg / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _major_minor(v: str | None) -> str:
    return ".".join((v or "?").split(".")[:2])


class Talkback(Peer):
    def __init__(self):
        self.version = _npm_version("talkback")
        self.name = f"Talkback {_major_minor(self.version)}"

    def missing(self):
        if shutil.which("node") is None:
            return "no node"
        return None if self.version else "not installed (npm talkback)"

    def _start(self, ctx, d, port, mode):
        opts = {"upstream": ctx.base, "port": port, "path": str(d), "record": mode}
        return spawn(ctx, "talkback", ["node", "-e", TALKBACK_JS, str(MODULES / "talkback"),
                                       json.dumps(opts)], port)

    def record(self, ctx, d, port):
        # OVERWRITE: every request proxied and its tape written (NEW would
        # replay a request it has a tape for: not recording).
        return self._start(ctx, d, port, "OVERWRITE")

    def replay(self, ctx, d, port):
        return self._start(ctx, d, port, "DISABLED")


class Mountebank(Peer):
    def __init__(self):
        self.version = _npm_version("@mbtest/mountebank")
        self.name = f"Mountebank {_major_minor(self.version)}"
        self.mb = MODULES / "@mbtest/mountebank/bin/mb"

    def missing(self):
        if shutil.which("node") is None:
            return "no node"
        return None if self.version and self.mb.exists() else "not installed (npm @mbtest/mountebank)"

    def _mb(self, ctx, d, admin, port, *args, after=None):
        d.mkdir(parents=True, exist_ok=True)
        return spawn(ctx, "mb", ["node", str(self.mb), "start", "--port", str(admin), "--host",
                                 "127.0.0.1", "--loglevel", "warn", "--nologfile", "--pidfile",
                                 str(d / "mb.pid"), *args], port, cwd=d, after=after)

    def record(self, ctx, d, port):
        self.admin = bench.free_port()
        imposter = {"protocol": "http", "port": port, "host": "127.0.0.1", "stubs": [{"responses": [
            {"proxy": {"to": ctx.base, "mode": "proxyAlways",
                       "predicateGenerators": [{"matches": {"method": True, "path": True}}]}}]}]}

        def create():
            req = urllib.request.Request(f"http://127.0.0.1:{self.admin}/imposters",
                                         data=json.dumps(imposter).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=5).read()

        return self._mb(ctx, d, self.admin, port, after=create)

    def save(self, ctx, run, d):
        subprocess.run(["node", str(self.mb), "save", "--port", str(self.admin), "--host", "127.0.0.1",
                        "--savefile", str(d / "imposters.json"), "--removeProxies"],
                       check=True, capture_output=True, cwd=d, timeout=60)

    def replay(self, ctx, d, port):
        # The saved imposter keeps its port: the replay listens where the
        # recording did.
        saved = json.loads((d / "imposters.json").read_text())
        port = saved["imposters"][0]["port"]
        return self._mb(ctx, d, bench.free_port(), port, "--configfile", str(d / "imposters.json"),
                        "--noParse")


class WireMock(Peer):
    warmup_s = 10  # the JVM's JIT: CPU per request still falls for ~10 s of load

    def __init__(self):
        jars = sorted(glob.glob(str(MODULES / "wiremock/build/wiremock-standalone-*.jar")))
        self.jar = jars[-1] if jars else None
        v = Path(self.jar).stem.rsplit("-", 1)[1] if self.jar else None
        self.name = f"WireMock {_major_minor(v)}"

    def missing(self):
        if self.jar is None:
            return "not installed (npm wiremock)"
        return None if shutil.which("java") else "no JRE (java) for the standalone jar"

    def _start(self, ctx, d, port, *args):
        d.mkdir(parents=True, exist_ok=True)
        return spawn(ctx, "wiremock", ["java", "-jar", self.jar, "--port", str(port), "--bind-address",
                                       "127.0.0.1", "--root-dir", str(d), "--disable-banner", *args],
                     port)

    def record(self, ctx, d, port):
        return self._start(ctx, d, port, "--proxy-all", ctx.base, "--record-mappings")

    def replay(self, ctx, d, port):
        return self._start(ctx, d, port)


class Mitmproxy(Peer):
    forward = True

    def __init__(self):
        self.exe = shutil.which("mitmdump")
        v = None
        if self.exe:
            out = subprocess.run([self.exe, "--version"], capture_output=True, text=True).stdout
            v = next((l.split()[1] for l in out.splitlines() if l.startswith("Mitmproxy:")), None)
        self.name = f"mitmproxy {_major_minor(v)}"

    def missing(self):
        return None if self.exe else "not installed (apt mitmproxy)"

    def _start(self, ctx, d, port, *args):
        d.mkdir(parents=True, exist_ok=True)
        return spawn(ctx, "mitmdump", [self.exe, "-q", "--listen-host", "127.0.0.1", "-p", str(port),
                                       "--set", f"confdir={d / 'conf'}", *args], port)

    def record(self, ctx, d, port):
        return self._start(ctx, d, port, "-w", str(d / "flows"))

    def replay(self, ctx, d, port):
        return self._start(ctx, d, port, "--server-replay", str(d / "flows"),
                           "--server-replay-nopop")

    def stop(self, run):
        stop(run.proc, signal.SIGINT)  # mitmdump flushes the flow file on SIGINT


def _row(name: str, r: dict, baseline: dict, run: Running, note: str):
    return ("Peers", name, r["rps"], r["rps"] / baseline["rps"], r["p50_us"] / 1000,
            r["p99_us"] / 1000, r["errors"], bench.rss_mib(run.proc.pid), note, r.get("cpu_us"))


def _failed(name: str, why: str):
    return ("Peers", name, 0.0, 0.0, None, None, 0, None, f"FAILED: {why}"[:160], None)


def _why(e: Exception) -> str:
    if isinstance(e, subprocess.CalledProcessError):
        out = (e.stderr or e.stdout or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        return f"{Path(e.cmd[1]).name} {e.cmd[2]} exited {e.returncode}: {out.strip()[-120:]}"
    return str(e) if isinstance(e, PeerError) else f"{type(e).__name__}: {e}"


def _measure(peer: Peer, ctx: Ctx, run: Running) -> dict:
    peer.wrk(ctx, run, peer.warmup_s)
    return bench.measured(run.proc.pid, lambda: peer.wrk(ctx, run, ctx.seconds))


def _check(peer: Peer, ctx: Ctx, run: Running, what: str) -> None:
    for i in range(ITEMS):
        status, body = fetch(run.port, peer.target(ctx, i))
        if status != 200 or body != ctx.body:
            raise PeerError(f"{what} /item/{i}: status {status}, {len(body)}-byte body "
                            f"(want 200 and the {len(ctx.body)}-byte body)")


def run_peer(peer: Peer, ctx: Ctx) -> list[tuple]:
    """Record (prime the 10 items, save, stop), record under wrk on a fresh
    instance, replay what was saved on a fresh instance: two rows."""
    rec_name, rep_name = f"{peer.name} record -> nginx", f"{peer.name} replay"
    why = peer.missing()
    if why:
        return [_failed(rec_name, why), _failed(rep_name, why)]
    d = ctx.work / f"peer-{peer.name.split()[0].lower()}"
    saved, scratch = d / "saved", d / "scratch"
    rows = []
    try:
        run = peer.record(ctx, saved, bench.free_port())
        try:
            _check(peer, ctx, run, "recording")
            peer.save(ctx, run, saved)
        finally:
            peer.stop(run)
        run = peer.record(ctx, scratch, bench.free_port())
        try:
            r = _measure(peer, ctx, run)
            rows.append(_row(rec_name, r, ctx.b_hop, run,
                             f"vs nginx hop; start {run.start_ms:.0f} ms"))
        finally:
            peer.stop(run)
    except Exception as e:  # noqa: BLE001  (any failure is the peer's row, not the bench's)
        return [_failed(rec_name, _why(e)), _failed(rep_name, "nothing recorded")]
    try:
        run = peer.replay(ctx, saved, bench.free_port())
        try:
            _check(peer, ctx, run, "replay")
            r = _measure(peer, ctx, run)
            rows.append(_row(rep_name, r, ctx.b_http, run,
                             f"vs nginx direct; start {run.start_ms:.0f} ms"))
        finally:
            peer.stop(run)
    except Exception as e:  # noqa: BLE001
        rows.append(_failed(rep_name, _why(e)))
    return rows


def peer_rows(ctx: Ctx, only: str | None = None) -> list[tuple]:
    """Installs what is missing, then every peer's record and replay rows
    (`only`: comma-separated first words of their names)."""
    install()
    peers = [Talkback(), Mountebank(), WireMock(), Mitmproxy()]
    if only:
        keep = {x.strip().lower() for x in only.split(",")}
        peers = [p for p in peers if p.name.split()[0].lower() in keep]
    rows = []
    for peer in peers:
        print(f"bench: peers: {peer.name}", file=sys.stderr)
        rows += run_peer(peer, ctx)
    return rows


def main() -> int:
    """The peers next to matgto's replay and record rows, nothing else."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--body-bytes", type=int, default=1024)
    ap.add_argument("--only", help="comma-separated peer names (talkback, mountebank, wiremock, mitmproxy)")
    a = ap.parse_args()
    import tempfile
    work = Path(tempfile.mkdtemp(prefix="matgto-bench-peers-"))
    procs, rows = [], []
    S, C = a.seconds, a.connections
    try:
        pb = bench.proto_modules(work)
        body = (b"matgto bench body " * (a.body_bytes // 18 + 1))[: a.body_bytes]
        hop_port = bench.free_port()
        nginx, nport, _ = bench.start_nginx(work, body, ITEMS, hop_port)
        procs.append(nginx)
        base, hop = f"http://127.0.0.1:{nport}", f"http://127.0.0.1:{hop_port}"
        bench.write_cassette(pb, work / "cassettes/small.pb", "small", base, ITEMS, body)

        def add(section, name, r, baseline, rss=None, note=""):
            rows.append((section, name, r["rps"], r["rps"] / baseline["rps"], r["p50_us"] / 1000,
                         r["p99_us"] / 1000, r["errors"], rss, note, r.get("cpu_us")))

        bench.wrk(base + "/", 1, C, WRK_ITEMS=ITEMS, WRK_TARGET="")
        b_http = bench.measured(nginx.pid, lambda: bench.wrk(base + "/", S, C, WRK_ITEMS=ITEMS, WRK_TARGET=""))
        add("HTTP", "nginx direct (baseline)", b_http, b_http)
        b_hop = bench.measured(nginx.pid, lambda: bench.wrk(hop + "/", S, C, WRK_ITEMS=ITEMS, WRK_TARGET=""))
        add("Forward", "nginx reverse-proxy hop (baseline)", b_hop, b_hop, note="CPU: both nginx hops")
        m, info = bench.start_matgto(work)
        procs.append(m)
        proxy = f"http://{info['proxy']}"
        bench.cli(info, "replay", "small")
        bench.wrk(proxy + "/", 1, C, WRK_TARGET=base, WRK_ITEMS=ITEMS)
        small = bench.measured(m.pid, lambda: bench.wrk(proxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=ITEMS))
        add("HTTP", "matgto replay, 10 interactions", small, b_http, bench.rss_mib(m.pid))
        bench.cli(info, "stop")
        bench.cli(info, "record", "bench-record")
        rec = bench.measured(m.pid, lambda: bench.wrk(proxy + "/", S, C, WRK_TARGET=base, WRK_ITEMS=ITEMS))
        add("Forward", "matgto record -> nginx", rec, b_hop, bench.rss_mib(m.pid))
        bench.cli(info, "stop")

        rows += peer_rows(Ctx(work, base, body, S, C, b_http, b_hop), a.only)
        print(f"\nmatgto bench, peers: {C} keep-alive connections, {S}s per row, {a.body_bytes}-byte "
              f"body, wrk -t1, {os.cpu_count()} cores, loopback; load {os.getloadavg()[0]:.2f}\n")
        bench.print_table(rows)
        print("ratio = rate / the row's baseline rate in this same run (replay: nginx direct; "
              "record: the nginx hop).")
        return 0
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
