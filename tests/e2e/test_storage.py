"""Storage, as a careless user, a full disk or a second server would test it:
cassettes are saved under the name they were used as, never outside the
cassette directory, privately, with every exchange a stop counted; journals
survive a write error, are not taken by another server and are never
truncated once start-up left them in place."""
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import MATGTO_BIN, sanitized, wait_for


def load(server, proto_modules, name):
    c = proto_modules[0].Cassette()
    c.ParseFromString(server.cassette_path(name).read_bytes())
    return c


def urls(cassette):
    return [i.http.request.url for i in cassette.interactions]


def get(server, url):
    r = requests.get(url, proxies={"http": server.proxy_url}, timeout=20)
    assert r.status_code == 200, r.text
    return r


def journal_of(server, name) -> Path:
    return Path(str(server.cassette_path(name)) + ".journal")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_copied_cassette_replayed_with_on_miss_record_is_saved_under_its_copy_name(
        server, upstream, proto_modules):
    server.cli("record", "original")
    get(server, upstream.url("/echo?first"))
    server.cli("stop")
    original = server.cassette_path("original").read_bytes()
    shutil.copy(server.cassette_path("original"), server.cassette_path("copy"))

    server.cli("replay", "copy", "--on-miss", "record")
    get(server, upstream.url("/echo?first"))   # replayed
    get(server, upstream.url("/echo?new"))     # a miss, recorded
    out = server.cli("stop").stdout
    assert str(server.cassette_path("copy")) in out
    assert server.cassette_path("original").read_bytes() == original
    copy = load(server, proto_modules, "copy")
    assert copy.name == "copy"
    assert urls(copy) == [upstream.url("/echo?first"), upstream.url("/echo?new")]


def test_symlinked_segment_in_cassette_dir_cannot_lead_a_recording_outside(server, upstream, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, server.cassette_dir / "lnk")
    r = server.cli("record", "lnk/x", check=False)
    assert r.returncode == 1
    assert "PERMISSION_DENIED" in r.stderr + r.stdout
    assert "is a symbolic link" in r.stderr + r.stdout
    assert "none in use" in server.cli("status").stdout
    # Reading, importing and removing through the link are refused too.
    server.cli("record", "real")
    get(server, upstream.url("/echo?x"))
    server.cli("stop")
    shutil.copy(server.cassette_path("real"), outside / "x.pb")
    for args in (["replay", "lnk/x"], ["cassette", "rm", "lnk/x"],
                 ["cassette", "import", str(server.cassette_path("real")), "--name", "lnk/y"]):
        r = server.cli(*args, check=False)
        assert r.returncode == 1 and "symbolic link" in r.stderr + r.stdout, args
    assert sorted(p.name for p in outside.iterdir()) == ["x.pb"]


def test_stop_during_traffic_saves_every_exchange_it_counted(server, upstream, proto_modules):
    for attempt in range(3):
        name = f"busy{attempt}"
        server.cli("record", name)
        stop = threading.Event()

        def client(k):
            s = requests.Session()
            i = 0
            while not stop.is_set():
                try:
                    s.get(upstream.url(f"/echo?c={k}&i={i}"), proxies={"http": server.proxy_url}, timeout=10)
                except requests.RequestException:
                    pass
                i += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        summary = json.loads(server.cli("stop", "--json").stdout)
        stop.set()
        for t in threads:
            t.join()
        recorded = int(summary["session"].get("recorded", 0))
        assert recorded > 0
        assert len(load(server, proto_modules, name).interactions) == recorded


def test_journal_survives_a_transient_write_error_and_recovers_everything(matgto, upstream, proto_modules):
    server = matgto()
    server.cli("record", "full")
    get(server, upstream.url("/echo?before"))
    journal = journal_of(server, "full")
    wait_for(lambda: journal.exists() and b"/echo?before" in journal.read_bytes(), what="journal written")
    # Its records, without the zeros that pad a direct write to a block
    # (read as empty entries; the records here do not end with a zero byte).
    records = journal.read_bytes().rstrip(b"\0")
    pid = str(server.proc.pid)
    # "Disk full": the server may not grow any file beyond the records + 64 bytes.
    subprocess.run(["prlimit", "--pid", pid, f"--fsize={len(records) + 64}:unlimited"], check=True)
    try:
        get(server, upstream.url("/big?size=5000"))     # answered; its journal write fails
        get(server, upstream.url("/echo?during"))
        time.sleep(0.3)
        assert journal.read_bytes().rstrip(b"\0") == records  # no torn record left behind
    finally:
        subprocess.run(["prlimit", "--pid", pid, "--fsize=unlimited:unlimited"], check=True)
    get(server, upstream.url("/echo?after"))
    expected = [upstream.url(u) for u in ("/echo?before", "/big?size=5000", "/echo?during", "/echo?after")]
    wait_for(lambda: b"/echo?after" in journal.read_bytes(), what="journal caught up")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.log.close()
    again = matgto("--cassette-dir", str(server.cassette_dir))
    assert "recovered cassette 'full' (4 interactions)" in again.output()
    assert urls(load(again, proto_modules, "full")) == expected


def _varint(data: bytes, pos: int):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def test_a_journal_longer_than_2_gib_is_recovered_whole(matgto, upstream, proto_modules, tmp_path):
    # A load test records gigabytes a minute. protobuf reads at most 2 GiB
    # through one stream, and the journal's reader used one for the whole
    # file: start-up left such a journal in place, unrecovered ("more than
    # the 2 GiB a cassette can hold"). Here the records after the first sit
    # past 2.25 GiB of zeros (what a superseded stretch reads as), in a
    # sparse file.
    probe = tmp_path / "probe"
    with open(probe, "wb") as f:
        f.truncate(1 << 30)
    if probe.stat().st_blocks * 512 > (1 << 20):
        pytest.skip(f"the file system under {tmp_path} does not keep holes: the test would write 2.25 GiB")
    probe.unlink()
    server = matgto()
    server.cli("record", "big")
    paths = [f"/echo?n={i}" for i in range(5)]
    for path in paths:
        get(server, upstream.url(path))
    journal = journal_of(server, "big")
    wait_for(lambda: journal.exists() and paths[-1].encode() in journal.read_bytes(), what="journal written")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.log.close()
    data = journal.read_bytes().rstrip(b"\0")
    size, at = _varint(data, 0)
    first_end = at + size  # the start entry
    with open(journal, "r+b") as f:
        f.truncate(0)
        f.write(data[:first_end])
        f.seek(first_end + (9 << 28))
        f.write(data[first_end:])
    assert journal.stat().st_size > 2 ** 31
    again = matgto("--cassette-dir", str(server.cassette_dir))
    assert "recovered cassette 'big' (5 interactions)" in again.output(), again.output()
    assert not journal.exists()
    cassette = load(again, proto_modules, "big")
    assert urls(cassette) == [upstream.url(p) for p in paths]
    again.cli("replay", "big")
    r = get(again, upstream.url(paths[3]))
    assert "X-Matgto-Error" not in r.headers
    assert r.content == cassette.interactions[3].http.response.body


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_listing_cassettes_reads_a_large_one_without_holding_it(matgto, proto_modules, tmp_path):
    # The control API's ListCassettes (`matgto cassette ls`, the web page on
    # every session event) gives each cassette's interactions and content
    # hash. It read every file whole, parsed it and serialized it again to
    # hash it: a 1 GiB cassette took the server to 5 GiB. A 256 MiB one here.
    if sanitized():
        pytest.skip("a sanitizer build's RSS is its shadow memory and quarantine, not matgto's; "
                    "the dev build runs this test")
    pb = proto_modules[0]
    cassettes = tmp_path / "big-dir"
    cassettes.mkdir()
    body = os.urandom(1 << 20)
    with open(cassettes / "big.pb", "wb") as f:
        f.write(pb.Cassette(schema_version=1, name="big").SerializeToString())
        for i in range(256):
            it = pb.Interaction(index=i)
            it.http.request.method = "GET"
            it.http.request.url = f"http://example.test/item/{i}"
            it.http.response.status = 200
            it.http.response.body = body
            payload = it.SerializeToString()
            f.write(b"\x2a" + _vint(len(payload)) + payload)
        f.write(pb.Cassette(complete=True).SerializeToString())
    small = pb.Cassette(schema_version=1, name="small", complete=True)
    (cassettes / "small.pb").write_bytes(small.SerializeToString())
    server = matgto("--cassette-dir", str(cassettes))

    def peak_mib() -> int:
        status = Path(f"/proc/{server.proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) // 1024

    server.cli("cassette", "ls", "small")  # the control path warmed up
    before = peak_mib()
    ls = server.cli("cassette", "ls").stdout
    assert "big" in ls and "256" in ls and "small" in ls, ls
    # The mapped file's pages count while they are read (and are let go as
    # the listing goes); a copy of the cassette alone would be 256 MiB.
    grew = peak_mib() - before
    assert grew < 64, f"the server's peak RSS grew by {grew} MiB listing a 256 MiB cassette"


def test_record_never_truncates_a_journal_startup_left_in_place(matgto, tmp_path):
    cassettes = tmp_path / "kept-dir"
    cassettes.mkdir()
    journal = cassettes / "kept.pb.journal"
    journal.write_bytes(b"\x05not a journal entry")
    server = matgto("--cassette-dir", str(cassettes))
    assert f"cannot recover {journal}" in server.output() and "left in place" in server.output()
    r = server.cli("record", "kept", check=False)
    assert r.returncode == 1
    assert "FAILED_PRECONDITION" in r.stderr + r.stdout
    assert "not recovered" in r.stderr + r.stdout and str(journal) in r.stderr + r.stdout
    assert journal.read_bytes() == b"\x05not a journal entry"


def test_cassettes_and_journals_are_0600_by_default_and_file_mode_is_configurable(matgto, upstream, tmp_path):
    server = matgto()
    server.cli("record", "private/one")
    get(server, upstream.url("/echo?secret"))
    assert mode_of(journal_of(server, "private/one")) == 0o600
    server.cli("stop")
    assert mode_of(server.cassette_path("private/one")) == 0o600

    shared = matgto("--cassette-dir", str(tmp_path / "shared"), "--file-mode", "0640",
                    "--cassette-format", "json")
    shared.cli("record", "team")
    get(shared, upstream.url("/echo?x"))
    assert mode_of(journal_of(shared, "team")) == 0o640
    shared.cli("stop")
    assert mode_of(shared.cassette_dir / "team.json") == 0o640

    bad = subprocess.run([MATGTO_BIN, "serve", "--file-mode", "0444", "--proxy-port", "0",
                          "--control-port", "0", "--cassette-dir", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "owner read and write" in bad.stderr + bad.stdout


def test_failed_record_leaves_the_session_in_use_running(server, upstream, proto_modules):
    server.cli("record", "current")
    get(server, upstream.url("/echo?1"))
    # The next cassette's journal cannot be created (a directory is in the way).
    (server.cassette_dir / "next.pb.journal").mkdir()
    r = server.cli("record", "next", check=False)
    assert r.returncode == 1 and "cannot create journal" in r.stderr + r.stdout
    r = server.cli("record", "other", "--url-rewrite", "(=>x", check=False)
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr + r.stdout
    status = server.cli("status", "--json").stdout
    info = json.loads(status)["session"]
    assert info["cassette"] == "current" and info["mode"] == "RECORD"
    get(server, upstream.url("/echo?2"))
    server.cli("stop")
    assert urls(load(server, proto_modules, "current")) == [upstream.url("/echo?1"), upstream.url("/echo?2")]


def test_two_servers_on_one_cassette_dir_do_not_take_each_others_live_journals(
        matgto, upstream, proto_modules):
    first = matgto()
    first.cli("record", "live")
    get(first, upstream.url("/echo?a"))
    journal = journal_of(first, "live")
    wait_for(lambda: journal.exists() and journal.stat().st_size > 0, what="journal written")

    second = matgto("--cassette-dir", str(first.cassette_dir))
    assert "is live" in second.output() and "left alone" in second.output()
    assert journal.exists() and not first.cassette_path("live").exists()
    r = second.cli("record", "live", check=False)
    assert r.returncode == 1 and "locked by another process" in r.stderr + r.stdout

    get(first, upstream.url("/echo?b"))
    first.cli("stop")
    assert urls(load(first, proto_modules, "live")) == [upstream.url("/echo?a"), upstream.url("/echo?b")]
    assert not journal.exists()
    second.cli("record", "live")  # free now
    second.cli("stop")


def test_out_of_range_enum_in_options_is_refused(server, proto_modules):
    r = server.cli("record", "x", "--options", '{"onMiss": 7}', check=False)
    assert r.returncode != 0 and "on_miss = 7" in r.stderr + r.stdout
    assert "MISS_RECORD" in r.stderr + r.stdout
    # The server refuses it too, whoever the client is.
    _, control_pb2, control_pb2_grpc = proto_modules
    stub = control_pb2_grpc.ProxyControlStub(grpc.insecure_channel(server.control))
    req = control_pb2.StartRecordingRequest(name="x")
    req.options.match_rules.body = 42
    with pytest.raises(grpc.RpcError) as e:
        stub.StartRecording(req, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "match_rules.body = 42" in e.value.details()
    assert not server.cassette_path("x").exists()
