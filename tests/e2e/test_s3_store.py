"""Cassettes in an S3-compatible object store (--store s3://BUCKET/PREFIX),
against a real SeaweedFS started by the tests: record and replay through a
bucket, two servers sharing it, conditional saves (a conflict is ABORTED and
the losing recording kept), the store going away mid-run, the read-through
cache (and --stale-cache), wrong credentials, corrupt objects, throttling,
crash recovery, and the `cassette` CLI on a bucket."""
from __future__ import annotations

import http.server
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import MATGTO_BIN, curl, wait_for
from seaweedfs import SECRET_KEY, SeaweedFS


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SeaweedFS for the module; each test takes a bucket of its own."""
    s = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    yield s
    s.close()


@pytest.fixture
def own_store(tmp_path):
    """A SeaweedFS of the test's own, for tests that stop it."""
    s = SeaweedFS(tmp_path / "own-seaweedfs")
    yield s
    s.close()


@pytest.fixture
def s3env(monkeypatch):
    """Points matgto processes started from here at a store."""
    def use(store, secret=SECRET_KEY):
        for k, v in store.env(secret).items():
            monkeypatch.setenv(k, v)
    return use


def body(r: subprocess.CompletedProcess) -> bytes:
    assert r.returncode == 0, r.stderr
    return r.stdout.partition(b"\r\n\r\n")[2]


def cassette_cli(*args, check=True):
    r = subprocess.run([MATGTO_BIN, "cassette", *args], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"matgto cassette {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def serve_on(matgto, url, cache, *extra):
    return matgto("--store", url, "--cache-dir", str(cache), *extra)


def test_record_then_replay_through_a_bucket(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    url = f"s3://{bucket}/ci"
    a = serve_on(matgto, url, tmp_path / "cache-a")
    assert f"cassettes in {url}" in a.output()
    a.cli("record", "team/demo")
    recorded = body(curl(a.proxy_url, upstream.url("/counter")))
    out = a.cli("stop").stdout
    assert f"saved to s3://{bucket}/ci/team/demo.pb" in out
    head = store.client().head_object(Bucket=bucket, Key="ci/team/demo.pb")
    assert head["ContentLength"] > 0
    a.stop()
    upstream.close()

    # A fresh server with an empty cache replays from the bucket alone.
    b = serve_on(matgto, url, tmp_path / "cache-b")
    b.cli("replay", "team/demo")
    assert body(curl(b.proxy_url, upstream.url("/counter"))) == recorded
    assert "replayed 1" in b.cli("status").stdout
    # AUTO sees it too; listing shows it with its content hash.
    b.cli("use", "team/demo")
    ls = b.cli("cassette", "ls").stdout
    assert "team/demo" in ls and "binary" in ls


def test_a_recording_with_large_bodies_is_uploaded_from_a_file(matgto, upstream, store, s3env, tmp_path):
    """A recording is written to an unnamed file in the cache directory one
    interaction at a time and uploaded from it (never whole in memory):
    large bodies recorded to disk and many exchanges come back from the
    bucket byte for byte, and the upload file is gone afterwards."""
    s3env(store)
    bucket = store.new_bucket()
    url = f"s3://{bucket}/ci"
    cache_a = tmp_path / "cache-a"
    a = serve_on(matgto, url, cache_a)
    a.cli("record", "long")
    big = 3 << 20  # over the 1 MiB at which a body is recorded to a file
    r = curl(a.proxy_url, upstream.url(f"/big?size={big}"))
    assert body(r) == b"x" * big
    recorded = [body(curl(a.proxy_url, upstream.url(f"/counter?i={i}"))) for i in range(30)]
    out = a.cli("stop").stdout
    assert f"saved to s3://{bucket}/ci/long.pb" in out
    head = store.client().head_object(Bucket=bucket, Key="ci/long.pb")
    assert head["ContentLength"] > big
    assert not list(cache_a.glob(".upload-*")), list(cache_a.iterdir())
    a.stop()
    upstream.close()

    b = serve_on(matgto, url, tmp_path / "cache-b")
    b.cli("replay", "long")
    assert body(curl(b.proxy_url, upstream.url(f"/big?size={big}"))) == b"x" * big
    for i, want in enumerate(recorded):
        assert body(curl(b.proxy_url, upstream.url(f"/counter?i={i}"))) == want
    assert "replayed 31" in b.cli("status").stdout


def test_json_format_objects(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    a = serve_on(matgto, f"s3://{bucket}", tmp_path / "cache", "--cassette-format", "json")
    a.cli("record", "readable")
    recorded = body(curl(a.proxy_url, upstream.url("/counter")))
    a.cli("stop")
    obj = store.client().get_object(Bucket=bucket, Key="readable.json")["Body"].read()
    assert b'"interactions"' in obj
    a.cli("replay", "readable")
    assert body(curl(a.proxy_url, upstream.url("/counter"))) == recorded


def test_names_with_reserved_characters(matgto, upstream, store, s3env, tmp_path):
    # Percent-encoded in the URL and in what libcurl signs (SigV4's canonical URI).
    s3env(store)
    bucket = store.new_bucket()
    m = serve_on(matgto, f"s3://{bucket}/p", tmp_path / "cache")
    name = "dir/a+b@c=d,[e]"
    m.cli("record", name)
    recorded = body(curl(m.proxy_url, upstream.url("/counter")))
    m.cli("stop")
    store.client().head_object(Bucket=bucket, Key=f"p/{name}.pb")
    m.cli("replay", name)
    assert body(curl(m.proxy_url, upstream.url("/counter"))) == recorded
    assert name in m.cli("cassette", "ls", "dir/").stdout


def test_two_servers_share_a_bucket(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    url = f"s3://{store.new_bucket()}/shared"
    recorder = serve_on(matgto, url, tmp_path / "cache-rec")
    replayer = serve_on(matgto, url, tmp_path / "cache-rep")
    recorder.cli("record", "orders")
    recorded = body(curl(recorder.proxy_url, upstream.url("/counter")))
    recorder.cli("stop")
    replayer.cli("replay", "orders")
    assert body(curl(replayer.proxy_url, upstream.url("/counter"))) == recorded
    replayer.cli("stop")
    # The recorder records it again; the replayer sees the new version
    # (its cached copy is revalidated by ETag, not trusted).
    recorder.cli("record", "orders")
    again = body(curl(recorder.proxy_url, upstream.url("/counter")))
    recorder.cli("stop")
    assert again != recorded
    replayer.cli("replay", "orders")
    assert body(curl(replayer.proxy_url, upstream.url("/counter"))) == again
    replayer.cli("stop")


def conflict_round(a, b, upstream, name):
    """Both record `name`; a saves first; b's save is refused."""
    a.cli("record", name)
    b.cli("record", name)
    from_a = body(curl(a.proxy_url, upstream.url("/counter")))
    from_b = body(curl(b.proxy_url, upstream.url("/counter")))
    a.cli("stop")
    r = b.cli("stop", check=False)
    return from_a, from_b, r


def test_conflicting_saves_abort_and_keep_the_loser(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    url = f"s3://{bucket}/p"
    a = serve_on(matgto, url, tmp_path / "cache-a")
    b = serve_on(matgto, url, tmp_path / "cache-b")
    kept_dir = tmp_path / "cache-b" / "conflicts"

    # A new cassette: both saw it absent (If-None-Match: *).
    from_a, from_b, r = conflict_round(a, b, upstream, "race")
    assert r.returncode != 0
    msg = r.stderr
    assert "ABORTED" in msg, msg
    assert f"s3://{bucket}/p/race.pb" in msg and "cassette 'race'" in msg
    kept = re.search(r"kept at (\S+\.pb)", msg)
    assert kept, msg
    kept_path = Path(kept.group(1))
    assert kept_path.parent == kept_dir and kept_path.exists()
    # The session ended (nothing stays half-open), its journal is gone.
    assert "no cassette" in b.cli("status").stdout or "race" not in b.cli("status").stdout
    assert not list((tmp_path / "cache-b" / "journals").rglob("*.journal"))
    # The bucket holds the winner's recording; the loser's loads from the
    # kept copy.
    a.cli("replay", "race")
    assert body(curl(a.proxy_url, upstream.url("/counter"))) == from_a
    a.cli("stop")
    show = cassette_cli("show", "--dir", str(kept_dir), kept_path.stem).stdout
    assert "/counter" in show
    exported = cassette_cli("export", "--dir", str(kept_dir), kept_path.stem).stdout
    assert from_b.decode() in exported

    # Replacing an existing cassette: both saw the same ETag (If-Match).
    from_a2, _, r2 = conflict_round(a, b, upstream, "race")
    assert r2.returncode != 0 and "ABORTED" in r2.stderr, r2.stderr
    a.cli("replay", "race")
    assert body(curl(a.proxy_url, upstream.url("/counter"))) == from_a2
    a.cli("stop")
    assert len(list(kept_dir.glob("race-*.pb"))) == 2


def test_store_stopped_mid_run(matgto, upstream, own_store, s3env, tmp_path):
    s3env(own_store)
    bucket = own_store.new_bucket()
    url = f"s3://{bucket}/x"
    m = serve_on(matgto, url, tmp_path / "cache")
    m.cli("record", "before")
    curl(m.proxy_url, upstream.url("/counter"))
    m.cli("stop")
    m.cli("record", "during")
    recorded = body(curl(m.proxy_url, upstream.url("/counter")))
    own_store.stop()

    # The save fails clearly; the recording stays (journal, open session).
    r = m.cli("stop", check=False)
    assert r.returncode != 0
    assert "UNAVAILABLE" in r.stderr or "cannot reach" in r.stderr, r.stderr
    assert f"s3://{bucket}/x/during.pb" in r.stderr and "journal is kept" in m.output()
    # The proxy keeps serving: the recording goes on, other calls fail fast.
    assert m.alive()
    assert body(curl(m.proxy_url, upstream.url("/echo?still=1")))
    ls = m.cli("cassette", "ls", check=False)
    assert ls.returncode != 0 and f"s3://{bucket}/x/" in ls.stderr, ls.stderr
    r = m.cli("replay", "before", check=False)
    assert r.returncode != 0 and "cannot reach the object store" in r.stderr
    assert "--stale-cache" in r.stderr  # a cached copy exists: say so

    # The store comes back: the same stop saves everything recorded.
    own_store.start(writable=True)
    m.cli("stop")
    m.cli("replay", "during")
    assert body(curl(m.proxy_url, upstream.url("/counter"))) == recorded
    status = m.cli("status").stdout
    assert "replayed 1" in status


def test_cache_serves_replay_when_the_store_is_gone(matgto, upstream, own_store, s3env, tmp_path):
    s3env(own_store)
    url = f"s3://{own_store.new_bucket()}"
    cache = tmp_path / "cache"
    a = serve_on(matgto, url, cache)
    a.cli("record", "cached")
    recorded = body(curl(a.proxy_url, upstream.url("/counter")))
    a.cli("stop")
    a.stop()
    # A replay revalidates the cached copy (no download: its entry is
    # untouched).
    entry = next((cache / "objects").rglob("cached.pb"))
    before = entry.stat().st_mtime_ns
    b = serve_on(matgto, url, cache)
    b.cli("replay", "cached")
    assert body(curl(b.proxy_url, upstream.url("/counter"))) == recorded
    b.cli("stop")
    b.stop()
    assert entry.stat().st_mtime_ns == before

    own_store.stop()
    # Without --stale-cache: refused, saying why and what would help.
    c = serve_on(matgto, url, cache)
    r = c.cli("replay", "cached", check=False)
    assert r.returncode != 0
    assert "UNAVAILABLE" in r.stderr or "cannot reach" in r.stderr
    assert "--stale-cache" in r.stderr and "cached copy" in r.stderr
    c.stop()
    # With it: served from the cache, with a warning.
    d = serve_on(matgto, url, cache, "--stale-cache")
    d.cli("replay", "cached")
    assert body(curl(d.proxy_url, upstream.url("/counter"))) == recorded
    assert "possibly stale cached copy of cassette 'cached'" in d.output()


def test_wrong_credentials_are_permission_denied(matgto, store, s3env, tmp_path):
    bucket = store.new_bucket()
    s3env(store, secret="not-the-secret")
    m = serve_on(matgto, f"s3://{bucket}/p", tmp_path / "cache")
    r = m.cli("replay", "anything", check=False)
    assert r.returncode != 0
    assert "PERMISSION_DENIED" in r.stderr, r.stderr
    assert f"s3://{bucket}/p/anything.pb" in r.stderr
    r = cassette_cli("ls", "--store", f"s3://{bucket}/p", "--cache-dir", str(tmp_path / "c2"),
                     check=False)
    assert r.returncode == 1 and "PERMISSION_DENIED" in r.stderr
    assert f"s3://{bucket}/p/" in r.stderr and "SignatureDoesNotMatch" in r.stderr, r.stderr


def test_corrupt_object_is_data_loss(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    m = serve_on(matgto, f"s3://{bucket}", tmp_path / "cache")
    m.cli("record", "whole")
    curl(m.proxy_url, upstream.url("/counter"))
    m.cli("stop")
    whole = store.client().get_object(Bucket=bucket, Key="whole.pb")["Body"].read()
    store.client().put_object(Bucket=bucket, Key="half.pb", Body=whole[: len(whole) // 2])
    r = m.cli("replay", "half", check=False)
    assert r.returncode != 0 and "DATA_LOSS" in r.stderr, r.stderr
    assert f"s3://{bucket}/half.pb" in r.stderr
    # The proxy and the other cassettes are unaffected.
    m.cli("replay", "whole")


class Throttling(http.server.BaseHTTPRequestHandler):
    """An endpoint that always answers 503 SlowDown, as a throttled S3 does."""
    protocol_version = "HTTP/1.1"
    hits = 0

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        Throttling.hits += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        Throttling.hits += 1
        xml = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(xml)))
        self.end_headers()
        self.wfile.write(xml)


def test_throttling_is_retried_then_unavailable(tmp_path, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        r = cassette_cli("ls", "--store", "s3://busy-bucket/p", "--cache-dir", str(tmp_path),
                         "--s3-endpoint", f"http://127.0.0.1:{httpd.server_address[1]}", check=False)
        assert r.returncode == 1
        assert "UNAVAILABLE" in r.stderr and "SlowDown: Please reduce your request rate." in r.stderr
        assert "4 attempts" in r.stderr and "s3://busy-bucket/p/" in r.stderr, r.stderr
        assert Throttling.hits == 4
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_interrupted_recording_is_uploaded_at_next_start(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    url = f"s3://{bucket}/r"
    cache = tmp_path / "cache"
    a = serve_on(matgto, url, cache)
    a.cli("record", "crashy")
    recorded = body(curl(a.proxy_url, upstream.url("/counter")))
    # The exchange itself on disk, not only the journal's first entry (the
    # cassette's name and options, written by `record`): a kill before the
    # journal writer got to it would leave an empty recording to recover.
    wait_for(lambda: any(recorded in p.read_bytes() for p in (cache / "journals").rglob("*.journal")),
             what="the exchange journaled")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    a.log.close()
    b = serve_on(matgto, url, cache)
    assert "recovered cassette 'crashy'" in b.output()
    store.client().head_object(Bucket=bucket, Key="r/crashy.pb")
    b.cli("replay", "crashy")
    assert body(curl(b.proxy_url, upstream.url("/counter"))) == recorded


def test_cassette_cli_on_a_bucket(matgto, upstream, store, s3env, tmp_path):
    s3env(store)
    bucket = store.new_bucket()
    url = f"s3://{bucket}/cli"
    flags = ["--store", url, "--cache-dir", str(tmp_path / "cli-cache")]
    m = serve_on(matgto, url, tmp_path / "cache")
    m.cli("record", "first")
    curl(m.proxy_url, upstream.url("/counter"))
    curl(m.proxy_url, upstream.url("/echo?x=1"))
    m.cli("stop")

    ls = cassette_cli("ls", *flags).stdout
    assert re.search(r"first\s+2\s+\d+\s+binary", ls), ls
    assert "/echo?x=1" in cassette_cli("show", *flags, "first").stdout
    har = tmp_path / "first.har"
    cassette_cli("export", *flags, "first", "--format", "har", "-o", str(har))
    assert '"log"' in har.read_text()
    # Put: a HAR import and a JSON round trip, both into the bucket.
    cassette_cli("import", *flags, str(har), "--name", "from-har")
    js = tmp_path / "first.json"
    cassette_cli("export", *flags, "first", "-o", str(js))
    cassette_cli("import", *flags, str(js), "--name", "copy")
    assert cassette_cli("diff", *flags, "first", "copy").returncode == 0
    names = set(re.findall(r"^(\S+)\s+\d+", cassette_cli("ls", *flags).stdout, re.M)) - {"NAME"}
    assert names == {"first", "copy", "from-har"}
    # The server sees what the CLI put, and its management RPCs (get, put,
    # delete) work on the bucket too.
    assert "from-har" in m.cli("cassette", "ls").stdout
    assert '"interactions"' in m.cli("cassette", "export", "from-har").stdout
    m.cli("cassette", "import", str(js), "--name", "via-server")
    store.client().head_object(Bucket=bucket, Key="cli/via-server.pb")
    m.cli("cassette", "rm", "via-server")
    cassette_cli("rm", *flags, "copy")
    r = cassette_cli("rm", *flags, "copy", check=False)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    keys = [o["Key"] for o in store.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == ["cli/first.pb", "cli/from-har.pb"]


def test_push_and_pull_between_a_directory_and_a_bucket(matgto, upstream, store, s3env, tmp_path):
    """`cassette push/pull --store s3://…`: the bucket is the remote side,
    --dir the local one; identical cassettes are skipped by content hash."""
    s3env(store)
    bucket = store.new_bucket()
    local = tmp_path / "local"
    m = matgto("--cassette-dir", str(local))
    for name in ("a", "team/b"):
        m.cli("record", name)
        curl(m.proxy_url, upstream.url(f"/echo?n={name}"))
        m.cli("stop")
    flags = ["--store", f"s3://{bucket}/shared", "--cache-dir", str(tmp_path / "cache")]
    out = cassette_cli("push", *flags, "--dir", str(local)).stdout
    assert "pushed" in out and "a" in out and "team/b" in out, out
    keys = sorted(o["Key"] for o in store.client().list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["shared/a.pb", "shared/team/b.pb"]
    again = cassette_cli("push", *flags, "--dir", str(local)).stdout
    assert "pushed" not in again.replace("0 pushed", "") and "skipped" in again, again
    pulled = tmp_path / "pulled"
    cassette_cli("pull", *flags, "--dir", str(pulled), "team/")
    assert (pulled / "team" / "b.pb").exists() and not (pulled / "a.pb").exists()
    # The pulled cassette is the recorded one.
    shown = [cassette_cli("export", "--dir", str(d), "team/b").stdout for d in (local, pulled)]
    assert shown[0] == shown[1] and "/echo?n=team/b" in shown[0]
