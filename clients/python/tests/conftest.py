"""Fixtures: a real matgto server (``$MATGTO_BIN``) and a real upstream HTTP server;
at the end, the helpers the test_faults_*.py files share."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, List, Optional

import grpc
import pytest
import requests

import matgto
import matgto.testing
from matgto.testing import LocalServer, ServerLaunchError
from matgto.v1 import control_pb2_grpc

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[3]

#: The tests' servers come from the public launcher (matgto.testing).
RunningServer = LocalServer


def matgto_bin() -> Optional[Path]:
    """``$MATGTO_BIN``, else this repository's build, else None (``matgto`` on PATH)."""
    if os.environ.get("MATGTO_BIN"):
        return Path(os.environ["MATGTO_BIN"])
    built = REPO / "build" / "dev" / "bin" / "matgto"
    return built if built.is_file() else None


def start_server(workdir: Path, *extra_args: str) -> LocalServer:
    """A server whose folder (cassettes, CA, log) is ``workdir``, kept for the test to inspect."""
    try:
        return matgto.testing.start_server(matgto_bin(), *extra_args, workdir=workdir)
    except ServerLaunchError as exc:
        pytest.fail(str(exc), pytrace=False)


def stop_server(server: LocalServer) -> None:
    server.stop()
    # 0 (graceful), SIGTERM or what a handler returns for it are fine; a crash is not.
    if server.crashed():
        pytest.fail(f"matgto died of signal {-server.proc.returncode}:\n{server.log_tail()}", pytrace=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh matgto server with an empty cassette directory."""
    running = start_server(tmp_path / "matgto")
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def client(server: RunningServer) -> Iterator[matgto.Client]:
    with server.client() as c:
        yield c


class Upstream:
    """A real HTTP server on 127.0.0.1 whose bodies differ on every call
    (HTTPS when given an SSL context)."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.calls = 0
        self.paths: List[str] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, request_body: bytes) -> None:
                with upstream._lock:
                    upstream.calls += 1
                    number = upstream.calls
                    upstream.paths.append(self.path)
                body = (
                    f"call {number} {self.command} {self.path} nonce={uuid.uuid4().hex} "
                    f"got={request_body.decode('latin-1')}\n"
                ).encode()
                self.send_response(201 if self.path.startswith("/created") else 200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Upstream-Call", str(number))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(length))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            # Handshake in the handler thread, not in the accept loop.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    running = Upstream()
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Pki:
    """A throw-away upstream CA and a leaf certificate for 127.0.0.1 signed by it."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=matgto python client test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    (d / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
    return Pki(ca=d / "ca.pem", cert=d / "leaf.pem", key=d / "leaf.key")


@pytest.fixture
def tls_upstream(pki: Pki) -> Iterator[Upstream]:
    """Like ``upstream``, over HTTPS with a certificate from ``pki``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.cert), str(pki.key))
    running = Upstream(tls=context)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session that ignores proxy settings of the environment."""
    session = requests.Session()
    session.trust_env = False
    try:
        yield session
    finally:
        session.close()


# -- shared by the test_faults_*.py files ------------------------------------------------------

ms = lambda n: datetime.timedelta(milliseconds=n)  # noqa: E731

SLOW_SECONDS = 0.6
BIG_BYTES = 64 * 1024


class FaultUpstream:
    """A real HTTP/1.1 server: ``/orders/N`` answers JSON, ``/slow`` answers
    after :data:`SLOW_SECONDS`, ``/big`` sends :data:`BIG_BYTES`."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with upstream._lock:
                    upstream.calls.append(self.path)
                    number = len(upstream.calls)
                if self.path.startswith("/slow"):
                    time.sleep(SLOW_SECONDS)
                if self.path.startswith("/big"):
                    body = bytes(i % 251 for i in range(BIG_BYTES))
                    kind = "application/octet-stream"
                else:
                    body = json.dumps({"path": self.path, "call": number}).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def origin() -> Iterator[FaultUpstream]:
    running = FaultUpstream()
    try:
        yield running
    finally:
        running.stop()


def timed(call: Any) -> tuple:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def record(client: matgto.Client, http: requests.Session, name: str, *urls: str) -> None:
    with client.session(name, mode="record") as s:
        for url in urls:
            assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    assert s.summary is not None and s.summary.session.recorded == len(urls)


@contextlib.contextmanager
def fake_control(servicer: Any, workers: int = 4) -> Iterator[str]:
    """An in-process gRPC server answering the control API with `servicer`
    (unit tests of the client's calls); yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    control_pb2_grpc.add_ProxyControlServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
