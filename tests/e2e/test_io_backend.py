"""The event loop `serve` runs on (server/app/io_backend.h): the io_uring build
(matgto-uring, beside the epoll build) where the kernel allows io_uring, epoll
otherwise or when asked; a clear error when the build asked for is not there."""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MATGTO_BIN, curl

URING_BIN = Path(MATGTO_BIN).with_name("matgto-uring")


def io_uring_allowed() -> bool:
    """Whether this process may create an io_uring (io_uring_setup(2), x86-64
    number 425, with a zeroed struct io_uring_params of 120 bytes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 2, params)
    if fd < 0:
        return False
    os.close(fd)
    return True


def expected_default() -> str:
    return "io_uring" if URING_BIN.exists() and io_uring_allowed() else "epoll"


def ready_backend(server) -> str:
    return json.loads(server.ready.read_text())["io_backend"]


def record_then_replay(matgto_server, upstream, name: str):
    """One exchange recorded from the real upstream, then replayed from the
    cassette (the upstream's /counter answers differently each call, so equal
    bytes come from the cassette): the backend serves the proxy for real."""
    matgto_server.cli("record", name)
    r = curl(matgto_server.proxy_url, upstream.url("/counter?backend=" + name))
    assert r.returncode == 0 and b"200" in r.stdout.split(b"\r\n", 1)[0], r
    matgto_server.cli("stop")
    matgto_server.cli("replay", name)
    again = curl(matgto_server.proxy_url, upstream.url("/counter?backend=" + name))
    assert again.returncode == 0
    assert again.stdout.split(b"\r\n\r\n", 1)[1] == r.stdout.split(b"\r\n\r\n", 1)[1]
    miss = curl(matgto_server.proxy_url, upstream.url("/never-recorded"))
    assert b" 599 " in miss.stdout.split(b"\r\n", 1)[0]
    matgto_server.cli("stop")


def test_default_runs_on_io_uring_where_allowed(matgto, upstream):
    s = matgto()
    assert ready_backend(s) == expected_default()
    assert f"event loop {expected_default()}" in s.output()
    record_then_replay(s, upstream, "default-backend")


def test_epoll_on_request_by_flag_and_environment(matgto, upstream, monkeypatch):
    s = matgto("--io-backend", "epoll")
    assert ready_backend(s) == "epoll"
    assert "event loop epoll" in s.output()
    record_then_replay(s, upstream, "epoll-backend")
    monkeypatch.setenv("MATGTO_IO_BACKEND", "epoll")
    assert ready_backend(matgto()) == "epoll"


def test_io_uring_on_request(matgto, upstream):
    if expected_default() != "io_uring":
        pytest.skip("needs matgto-uring beside $MATGTO_BIN and a kernel that allows io_uring "
                    "(the asan build has no io_uring twin)")
    s = matgto("--io-backend", "io_uring")
    assert ready_backend(s) == "io_uring"
    record_then_replay(s, upstream, "uring-backend")


def place_alone(binary: Path, tmp_path: Path, name: str) -> Path:
    """`binary` alone in a directory of its own, as `name` (a hard link where
    the file system allows one)."""
    d = tmp_path / ("alone-" + name)
    d.mkdir()
    target = d / name
    try:
        os.link(binary, target)
    except OSError:
        shutil.copy2(binary, target)
    return target


def serve_args(tmp_path: Path, *extra) -> list[str]:
    return ["serve", "--proxy-port", "0", "--control-port", "0", "--cassette-dir",
            str(tmp_path / "cassettes"), "--ca-dir", str(tmp_path / "ca"), *extra]


def test_an_epoll_build_alone_serves_on_epoll_and_refuses_io_uring(tmp_path, upstream):
    if Path(MATGTO_BIN).name != "matgto":
        pytest.skip(f"$MATGTO_BIN is {MATGTO_BIN}, not an epoll build named matgto")
    alone = place_alone(Path(MATGTO_BIN), tmp_path, "matgto")
    r = subprocess.run([str(alone), *serve_args(tmp_path, "--io-backend", "io_uring")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "--io-backend io_uring" in r.stderr
    assert ("matgto-uring" in r.stderr) or ("io_uring_setup" in r.stderr), r.stderr

    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([str(alone), *serve_args(tmp_path, "--ready-file", str(ready))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        assert info["io_backend"] == "epoll"
        r = curl(f"http://{info['proxy']}", upstream.url("/counter"))
        # (No cassette in use, default mode auto: the proxy answers 503, on epoll.)
        assert b" 503 " in r.stdout.split(b"\r\n", 1)[0], r
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_an_io_uring_build_alone_refuses_epoll(tmp_path):
    if not URING_BIN.exists():
        pytest.skip("no matgto-uring beside $MATGTO_BIN (the asan build has none)")
    alone = place_alone(URING_BIN, tmp_path, "matgto-uring")
    r = subprocess.run([str(alone), *serve_args(tmp_path, "--io-backend", "epoll")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "--io-backend epoll" in r.stderr and "matgto" in r.stderr, r.stderr


def test_a_bad_backend_name_is_refused(tmp_path):
    r = subprocess.run([MATGTO_BIN, *serve_args(tmp_path, "--io-backend", "kqueue")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--io-backend" in r.stderr and "kqueue" in r.stderr, r.stderr
