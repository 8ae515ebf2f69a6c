"""`matgto cassette push/pull` with the real binary: local directory to
server and back, skipping cassettes whose content hash already matches,
progress for large ones, and the tokens of a secured server."""
import json
import os
import subprocess
from pathlib import Path

from conftest import MATGTO_BIN

WRITE = "write-token-0123456789"
READ = "read-token-0123456789"


def har(path: Path, body: str):
    entry = {
        "startedDateTime": "2024-01-01T00:00:00Z", "time": 1,
        "request": {"method": "GET", "url": "http://example.test/a", "httpVersion": "HTTP/1.1",
                    "headers": [], "queryString": [], "cookies": [], "headersSize": -1,
                    "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                     "headers": [], "cookies": [],
                     "content": {"size": len(body), "mimeType": "text/plain", "text": body},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(body)},
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": [entry]}}))
    return path


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MATGTO_")}
    e.update(env or {})
    return subprocess.run([MATGTO_BIN, *args], capture_output=True, text=True, timeout=120, env=e)


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def local_import(d: Path, name: str, body: str):
    f = har(d.parent / f"{name.replace('/', '_')}.har", body)
    ok(run("cassette", "--dir", str(d), "import", str(f), "--name", name))


def exported(args, name):
    c = json.loads(ok(run(*args, "export", name)).stdout)
    return c["interactions"]


def test_push_skip_modify_pull(matgto, tmp_path):
    s = matgto()
    local = tmp_path / "local"
    local_import(local, "alpha", "a" * 100)
    local_import(local, "team/beta", "b" * 100)
    srv = ("--server", s.control)

    r = ok(run(*srv, "cassette", "--dir", str(local), "push"))
    assert "alpha  pushed (1 interactions" in r.stdout, r.stdout
    assert "team/beta  pushed" in r.stdout
    assert "push: 2 pushed, 0 skipped (identical), 0 failed" in r.stdout

    r = ok(run(*srv, "cassette", "--dir", str(local), "push"))
    assert "alpha  skipped (identical)" in r.stdout and "team/beta  skipped (identical)" in r.stdout
    assert "push: 0 pushed, 2 skipped (identical), 0 failed" in r.stdout

    local_import(local, "alpha", "changed")
    r = ok(run(*srv, "cassette", "--dir", str(local), "push"))
    assert "alpha  pushed" in r.stdout and "team/beta  skipped (identical)" in r.stdout, r.stdout
    assert exported((*srv, "cassette"), "alpha") == \
        exported(("cassette", "--dir", str(local)), "alpha")

    # Named push, with one name that is not there: the others go, exit 1.
    r = run(*srv, "cassette", "--dir", str(local), "push", "alpha", "nope")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "alpha  skipped (identical)" in r.stdout
    assert "nope  error: NOT_FOUND" in r.stdout
    assert "1 failed" in r.stdout

    pulled = tmp_path / "pulled"
    r = ok(run(*srv, "cassette", "--dir", str(pulled), "pull"))
    assert "alpha  pulled" in r.stdout and "team/beta  pulled" in r.stdout, r.stdout
    assert "pull: 2 pulled, 0 skipped (identical), 0 failed" in r.stdout
    for name in ("alpha", "team/beta"):
        a = exported(("cassette", "--dir", str(local)), name)
        b = exported(("cassette", "--dir", str(pulled)), name)
        assert a == b, name
    assert (pulled / "alpha.pb").is_file() and (pulled / "team" / "beta.pb").is_file()
    # Same hashes on both sides: a second pull and a push copy nothing.
    r = ok(run(*srv, "cassette", "--dir", str(pulled), "pull"))
    assert "pull: 0 pulled, 2 skipped (identical), 0 failed" in r.stdout, r.stdout
    r = ok(run(*srv, "cassette", "--dir", str(pulled), "push"))
    assert "push: 0 pushed, 2 skipped (identical)" in r.stdout, r.stdout
    # A prefix pulls only what starts with it.
    only = tmp_path / "only"
    r = ok(run(*srv, "cassette", "--dir", str(only), "pull", "team/"))
    assert "pull: 1 pulled" in r.stdout and "alpha" not in r.stdout, r.stdout


def test_push_failure_exits_non_zero_and_names_the_cassette(matgto, tmp_path):
    s = matgto()
    local = tmp_path / "local"
    local_import(local, "busy", "x")
    local_import(local, "free", "y")
    ok(run("--server", s.control, "cassette", "--dir", str(local), "push"))
    local_import(local, "busy", "changed")
    local_import(local, "free", "changed")
    ok(run("--server", s.control, "replay", "busy"))  # in use: cannot be replaced
    r = run("--server", s.control, "cassette", "--dir", str(local), "push")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "busy  error: FAILED_PRECONDITION" in r.stdout, r.stdout
    assert "free  pushed" in r.stdout
    assert "push: 1 pushed, 0 skipped (identical), 1 failed" in r.stdout
    ok(run("--server", s.control, "stop"))


def test_progress_for_large_cassettes(matgto, tmp_path):
    s = matgto()
    local = tmp_path / "local"
    local_import(local, "big", "z" * (3 << 20))
    local_import(local, "small", "s")
    r = ok(run("--server", s.control, "cassette", "--dir", str(local), "push", "--progress"))
    assert "pushing big: 1.0 MiB of 3.0 MiB (33%)" in r.stderr, r.stderr
    assert "pushing small" not in r.stderr
    r = ok(run("--server", s.control, "cassette", "--dir", str(tmp_path / "p"), "pull",
               "--progress"))
    assert "pulling big: 3.0 MiB" in r.stderr, r.stderr
    # Without --progress and with stderr not a terminal: quiet.
    r = ok(run("--server", s.control, "cassette", "--dir", str(tmp_path / "q"), "pull"))
    assert "pulling" not in r.stderr, r.stderr


def test_push_pull_with_tokens(matgto, tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{WRITE} write\n{READ} read\n")
    s = matgto("--auth-tokens", str(tokens))
    local = tmp_path / "local"
    local_import(local, "alpha", "a")
    r = run("--server", s.control, "cassette", "--dir", str(local), "push")
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr, r.stderr
    r = run("--server", s.control, "--token", READ, "cassette", "--dir", str(local), "push")
    assert r.returncode == 1 and "alpha  error: PERMISSION_DENIED" in r.stdout, r.stdout
    ok(run("--server", s.control, "cassette", "--dir", str(local), "push",
           env={"MATGTO_TOKEN": WRITE}))
    ok(run("--server", s.control, "--token", READ, "cassette", "--dir", str(tmp_path / "p"),
           "pull"))
