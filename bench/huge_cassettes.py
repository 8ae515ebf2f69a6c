"""Cassette load rows of bench/bench.py: how long a Replay of a large cassette
takes and what the server's memory is after it, and after replaying a few
hundred random items from it.

  10,000 interactions   the bench's big.pb (233-byte bodies by default)
  1,000,000             GET /item/<i>, 233-byte bodies (the issue's figure)
  1 GiB of bodies       1,024 interactions of 1 MiB each

Each cassette is replayed by a fresh server. Memory is read from
/proc/<pid>/status: RssAnon is the heap (what matgto allocated), RssFile the
pages of mapped files that are resident (the binary, its libraries and the
cassette's pages while they are touched; clean page cache the kernel may drop).
Cassettes are written from one serialized interaction, so a million take a
few seconds.
"""
from __future__ import annotations

import http.client
import random
import time
from pathlib import Path


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if not n:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def write_cassette(pb, path: Path, name: str, base: str, items: int, body: bytes):
    """`items` GET <base>/item/<i, 7 digits> exchanges answered with `body`."""
    it = pb.Interaction()
    it.http.request.method = "GET"
    it.http.request.url = f"{base}/item/#######"
    it.http.request.http_version = "HTTP/1.1"
    it.http.request.headers.add(name="Host", value=base.split("://")[1])
    r = it.http.response
    r.status, r.reason, r.http_version = 200, "OK", "HTTP/1.1"
    for k, v in [("Server", "nginx"), ("Content-Type", "text/plain"),
                 ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]:
        r.headers.add(name=k, value=v)
    r.body = body
    head, tail = it.SerializeToString().split(b"#######")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(pb.Cassette(schema_version=1, name=name).SerializeToString())
        for i in range(items):
            # Interaction.index (field 1) first, then the template.
            payload = b"\x08" + varint(i) + head + b"%07d" % i + tail
            f.write(b"\x2a" + varint(len(payload)) + payload)
        f.write(pb.Cassette(complete=True).SerializeToString())


def memory(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def fmt(m: dict) -> str:
    return f"RSS {m['VmRSS']:.0f} MiB (anon {m['RssAnon']:.0f}, file {m['RssFile']:.0f})"


def replay_some(proxy: str, base: str, items: int, count: int, body_len: int) -> None:
    host, port = proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for i in random.Random(7).sample(range(items), min(count, items)):
        conn.request("GET", f"{base}/item/{i:07d}")
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200 and len(data) == body_len, (i, r.status, data[:200])
    conn.close()


def rows(start_matgto, control, work: Path, pb, body: bytes, base: str, big: Path | None,
         replays: int = 300) -> list[str]:
    """One line per cassette: load time and memory. `big` is the bench's
    10,000-interaction cassette (its items are /item/<i> without padding)."""
    cas = work / "cassettes"
    cases = []
    if big is not None:
        cases.append(("10,000 interactions", big.stem, 10_000, len(body), False))
    small = (b"matgto bench body " * 13)[:233]
    t = time.perf_counter()
    write_cassette(pb, cas / "million.pb", "million", base, 1_000_000, small)
    gen_s = time.perf_counter() - t
    cases.append(("1,000,000 interactions", "million", 1_000_000, len(small), True))
    mib = (b"matgto bench body " * (2**20 // 18 + 1))[: 2**20]
    write_cassette(pb, cas / "gib.pb", "gib", base, 1024, mib)
    cases.append(("1 GiB of bodies (1,024 x 1 MiB)", "gib", 1024, len(mib), True))
    lines = [f"cassette load: the 1,000,000-interaction cassette was written in {gen_s:.1f} s"]
    for label, name, items, body_len, padded in cases:
        m, info = start_matgto(work)
        try:
            ctl, stub = control(info)
            stub.GetStatus(ctl.GetStatusRequest())  # channel up
            before = memory(m.pid)
            t = time.perf_counter()
            stub.Replay(ctl.ReplayRequest(name=name))
            load_ms = (time.perf_counter() - t) * 1000
            loaded = memory(m.pid)
            size = (cas / f"{name}.pb").stat().st_size / 2**20
            if padded:
                replay_some(info["proxy"], base, items, replays, body_len)
                used = memory(m.pid)
                after = f"; after {replays} random replays {fmt(used)}"
            else:
                after = ""
            lines.append(f"cassette load: {label} ({size:,.0f} MiB file): Replay took {load_ms:.0f} ms "
                         f"(one gRPC call); idle {fmt(before)}, loaded {fmt(loaded)}{after}")
        finally:
            m.terminate()
            m.wait()
    for name in ("million", "gib"):
        (cas / f"{name}.pb").unlink()
    return lines
