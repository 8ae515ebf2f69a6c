"""End-to-end fixtures: the real matgto binary, real upstream servers on
loopback, real clients (curl, requests, raw sockets).

The binary is $MATGTO_BIN (default build/dev/bin/matgto). Every server binds
127.0.0.1 on a port the OS picks.
"""
from __future__ import annotations

import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MATGTO_BIN = os.environ.get("MATGTO_BIN", str(ROOT / "build/dev/bin/matgto"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (item.rep_call...), so that a
    fixture can tell whether its test failed (the browser tests' screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def proto_modules(tmp_path_factory):
    """matgto.v1 Python messages generated from proto/ for inspecting cassettes."""
    from grpc_tools import protoc  # type: ignore

    out = tmp_path_factory.mktemp("proto_py")
    import grpc_tools

    std_include = str(Path(grpc_tools.__file__).parent / "_proto")
    rc = protoc.main([
        "protoc", f"-I{ROOT / 'proto'}", f"-I{std_include}", f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(ROOT / "proto/matgto/v1/cassette.proto"),
        str(ROOT / "proto/matgto/v1/control.proto"),
    ])
    assert rc == 0, "protoc failed"
    sys.path.insert(0, str(out))
    from matgto.v1 import cassette_pb2, control_pb2, control_pb2_grpc  # type: ignore

    return cassette_pb2, control_pb2, control_pb2_grpc


class Matgto:
    def __init__(self, tmp_path: Path, extra_args=()):
        self.dir = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.cassette_dir = tmp_path / "cassettes"
        if "--cassette-dir" in extra_args:
            self.cassette_dir = Path(extra_args[list(extra_args).index("--cassette-dir") + 1])
        self.ready = tmp_path / "ready.json"
        self.log = open(tmp_path / "matgto.log", "w+b")
        self.proc = subprocess.Popen(
            [MATGTO_BIN, "serve", "--proxy-port", "0", "--control-port", "0",
             *([] if "--cassette-dir" in extra_args else ["--cassette-dir", str(self.cassette_dir)]),
             "--ready-file", str(self.ready),
             "--threads", "2", "--ca-dir", str(tmp_path.parent / "ca"), *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            info = wait_for(self._read_ready, timeout=20, what="matgto ready file")
        except AssertionError:
            self.proc.kill()
            raise AssertionError("matgto did not start:\n" + self.output())
        self.proxy = info["proxy"]
        self.control = info["control"]
        self.proxy_url = f"http://{self.proxy}"

    def _read_ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"matgto exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return json.loads(self.ready.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.dir / "matgto.log").read_text(errors="replace")

    def cli(self, *args, check=True):
        r = subprocess.run([MATGTO_BIN, "--server", self.control, *args],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"matgto {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r

    def cassette_path(self, name: str) -> Path:
        return self.cassette_dir / f"{name}.pb"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("matgto did not stop on " + str(sig) + ":\n" + self.output())
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def matgto(tmp_path):
    servers = []

    def start(*extra_args):
        s = Matgto(tmp_path / f"m{len(servers)}", extra_args)
        servers.append(s)
        return s

    start.tmp_path = tmp_path
    first = None

    class Factory:
        def __call__(self, *extra):
            return start(*extra)

    yield Factory()
    for s in servers:
        if s.alive():
            code = s.stop()
            out = s.output()
            assert "ERROR: AddressSanitizer" not in out, out
            assert "runtime error:" not in out, out
            assert "WARNING: ThreadSanitizer" not in out, out
            assert code == 0, f"matgto exited with {code}:\n{out}"


@pytest.fixture
def server(matgto):
    """A matgto server with default options."""
    return matgto()


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        n = self.headers.get("Content-Length")
        if n:
            return self.rfile.read(int(n))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _send(self, status, body=b"", headers=(), chunked=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _route(self):
        body = self._body()
        path = self.path.split("?")[0]
        with UpstreamHandler.lock:
            UpstreamHandler.counter += 1
            n = UpstreamHandler.counter
        if path == "/counter":
            return self._send(200, f"call {n} at {time.time_ns()}".encode(),
                              [("Content-Type", "text/plain")])
        if path == "/echo":
            return self._send(200, json.dumps({
                "method": self.command, "path": self.path,
                "body": body.decode("latin-1"),
                "headers": [[k, v] for k, v in self.headers.items()],
                "n": n}).encode(), [("Content-Type", "application/json")])
        if path == "/chunked":
            return self._send(200, b"chunk-" * 20 + str(n).encode(), chunked=True)
        if path == "/cookies":
            return self._send(200, b"cookies", [("Set-Cookie", "session=s3cr3t-" + str(n) + "; Path=/; HttpOnly"),
                                                ("Set-Cookie", "theme=dark"),
                                                ("X-Order-B", "2"), ("X-Order-A", "1")])
        if path == "/binary":
            import gzip
            data = gzip.compress(bytes(range(256)) * 8 + str(n).encode(), mtime=0)
            return self._send(200, data, [("Content-Type", "application/octet-stream"),
                                          ("Content-Encoding", "gzip")])
        if path == "/nocontent":
            return self._send(204, headers=[("X-N", str(n))])
        if path == "/notmodified":
            return self._send(304, headers=[("ETag", '"abc"')])
        if path == "/slow":
            time.sleep(float(self.path.split("=")[1]) if "=" in self.path else 1.0)
            return self._send(200, b"slow")
        if path == "/big":
            size = int(self.path.split("=")[1])
            return self._send(200, b"x" * size)
        return self._send(404, b"not found: " + self.path.encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


class Upstream:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), UpstreamHandler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def sanitized() -> bool:
    """Whether MATGTO_BIN is an ASan or TSan build (its malloc and memory
    figures are the sanitizer's, not matgto's)."""
    libs = subprocess.run(["ldd", MATGTO_BIN], capture_output=True, text=True).stdout
    return "libasan" in libs or "libtsan" in libs


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_port_range(count: int) -> int:
    """The first of `count` consecutive free ports, below the kernel's ephemeral range.

    Ports from bind(0) are ephemeral ones, and the port after one is often the source port
    of some outgoing connection; a range chosen below the ephemeral range only collides
    with listeners, and each port is checked by binding it."""
    low_ephemeral = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low_ephemeral = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(10000, max(10001, low_ephemeral - count))
        held = []
        try:
            for port in range(low, low + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return low
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found below {low_ephemeral}")


def curl(proxy: str, url: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", proxy, "-D", "-", url, *args],
                          capture_output=True, timeout=30)


def raw_exchange(proxy: str, data: bytes, read_timeout=5.0, shutdown=False) -> bytes:
    host, port = proxy.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=read_timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            pass
        return b"".join(chunks)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A throwaway upstream CA and leaves: good, expired, wrong name."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=e2e upstream CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=d)

    def leaf(name, san, days_args):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=upstream", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-extfile", f"{name}.ext", *days_args, cwd=d)

    leaf("good", "DNS:localhost,IP:127.0.0.1", ["-days", "2"])
    leaf("wrongname", "DNS:not-this-host.example", ["-days", "2"])
    # Expired: valid from 2001 to 2002.
    leaf("expired", "DNS:localhost,IP:127.0.0.1",
         ["-not_before", "20010101000000Z", "-not_after", "20020101000000Z"]
         if b"not_before" in subprocess.run(["openssl", "x509", "-help"], capture_output=True).stderr
         else ["-days", "-1"])
    return d


