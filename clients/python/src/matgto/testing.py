"""Start a local ``matgto serve`` from test code, and point the process at its proxy.

Launcher::

    from matgto.testing import start_server

    with start_server() as server:             # $MATGTO_BIN, else `matgto` on PATH
        with server.client() as client, client.session("users/get-1") as s:
            requests.get(url, proxies=s.proxies())

The server picks its own ports (``--proxy-port 0 --control-port 0``) and says
which in its ready file (``{"proxy", "control", "pid"}`` JSON, written
atomically once it listens): :func:`start_server` waits for that file. Cassettes,
the interception CA and the log go to a temporary folder removed by
:meth:`LocalServer.stop` (cassettes are kept when ``cassette_dir`` names a
folder). A server still running when the interpreter exits is killed.

With the pytest plugin, the session-scoped fixture ``matgto_server`` starts one
(ini ``matgto_serve_args`` adds flags), and ``--matgto-server=local`` (or ini
``matgto_server = local``) makes the plugin's sessions use it.

Proxy and CA trust for the whole process: :func:`proxy_env` (see its doc).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from .errors import MatgtoError

__all__ = [
    "BINARY_ENV",
    "LocalServer",
    "ServerLaunchError",
    "find_binary",
    "proxy_env",
    "start_server",
]

#: Environment variable naming the ``matgto`` server binary.
BINARY_ENV = "MATGTO_BIN"
#: How long :func:`start_server` waits for the ready file by default (seconds).
DEFAULT_START_TIMEOUT = 30.0

PathLike = Union[str, "os.PathLike[str]"]


class ServerLaunchError(MatgtoError):
    """The ``matgto`` binary could not be found, or the server it started
    exited or wrote no ready file in time (the message holds its output)."""


def find_binary(binary: Optional[PathLike] = None) -> Path:
    """The server binary: ``binary``, else ``$MATGTO_BIN``, else ``matgto`` on ``PATH``.

    Raises :class:`ServerLaunchError` naming where the path came from when it
    is not an executable file.
    """
    if binary is not None:
        path, source = Path(os.fspath(binary)), "the argument"
    elif os.environ.get(BINARY_ENV, "").strip():
        path, source = Path(os.environ[BINARY_ENV].strip()), f"${BINARY_ENV}"
    else:
        found = shutil.which("matgto")
        if found is None:
            raise ServerLaunchError(
                f"no matgto server binary: pass binary=..., set ${BINARY_ENV}, or put matgto on PATH"
            )
        path, source = Path(found), "PATH"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ServerLaunchError(f"the matgto server binary {path} (from {source}) is not an executable file")
    return path


#: Servers started by this process and not stopped yet (killed at exit; held
#: strongly, so a server whose handle was dropped is still killed).
_RUNNING: "set[LocalServer]" = set()
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _RUNNING_LOCK:
        servers = list(_RUNNING)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout=2)


class LocalServer:
    """A ``matgto serve`` process started by :func:`start_server`.

    Attributes:
        proxy: The default session's proxy address, ``"127.0.0.1:PORT"``.
        control: The control API address, ``"127.0.0.1:PORT"``.
        pid: The server's process id (from the ready file).
        cassette_dir: Where its cassettes are.
        workdir: Its folder (ready file, log, CA).
        log: The file holding its stdout and stderr.
        proc: The :class:`subprocess.Popen` of the server.
    """

    def __init__(
        self,
        proc: "subprocess.Popen[bytes]",
        info: Mapping[str, Any],
        *,
        workdir: Path,
        cassette_dir: Path,
        log: Path,
        remove_workdir: bool,
    ) -> None:
        self.proc = proc
        self.proxy: str = str(info["proxy"])
        self.control: str = str(info["control"])
        self.pid: int = int(info["pid"])
        self.workdir = workdir
        self.cassette_dir = cassette_dir
        self.log = log
        self._remove_workdir = remove_workdir
        self._lock = threading.Lock()
        with _RUNNING_LOCK:
            _RUNNING.add(self)

    @property
    def proxy_url(self) -> str:
        """``"http://127.0.0.1:PORT"``: the default session's proxy as a URL."""
        return "http://" + self.proxy

    def client(self, **kwargs: Any) -> Any:
        """A :class:`matgto.Client` of this server (``kwargs`` as for the client)."""
        from .client import Client

        return Client(self.control, **kwargs)

    def aio_client(self, **kwargs: Any) -> Any:
        """A :class:`matgto.aio.Client` of this server (create it inside a running loop)."""
        from .aio import Client

        return Client(self.control, **kwargs)

    def ca_bundle(self) -> str:
        """Writes the server's interception CA (PEM) to its folder and returns the path
        (for ``verify=``, ``REQUESTS_CA_BUNDLE``...; :func:`proxy_env` uses it)."""
        with self.client() as client:
            return str(client.ca_bundle(self.workdir / "matgto-ca.pem"))

    def output(self) -> str:
        """What the server printed so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of :meth:`output`."""
        return self.output()[-limit:]

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """Stops the server (SIGTERM, then SIGKILL after ``timeout`` seconds),
        removes its temporary folder, and returns its exit status (negative:
        the signal that ended it). Idempotent."""
        with self._lock:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=timeout)
            with _RUNNING_LOCK:
                _RUNNING.discard(self)
            if self._remove_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self._remove_workdir = False
            return self.proc.returncode

    def crashed(self) -> bool:
        """Whether the process ended by a signal other than the SIGTERM/SIGKILL :meth:`stop` sends."""
        status = self.proc.poll()
        return status is not None and status < 0 and -status not in (signal.SIGTERM, signal.SIGKILL)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer(proxy={self.proxy!r}, control={self.control!r}, pid={self.pid})"


def start_server(
    binary: Optional[PathLike] = None,
    *args: str,
    cassette_dir: Optional[PathLike] = None,
    workdir: Optional[PathLike] = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    env: Optional[Mapping[str, str]] = None,
) -> LocalServer:
    """Starts ``matgto serve`` on ports it picks and returns once it listens.

    Use the result as a context manager, or call :meth:`LocalServer.stop`.

    Args:
        binary: The server binary (default ``$MATGTO_BIN``, else ``matgto`` on ``PATH``).
        *args: More ``matgto serve`` flags, e.g. ``"--max-sessions", "2"``.
        cassette_dir: Where cassettes live (default: ``cassettes/`` in ``workdir``).
        workdir: Folder for the ready file, the log, the interception CA
            (unless ``args`` bring ``--ca-dir``/``--ca-cert``) and default
            cassettes; kept. Default: a temporary folder, removed by ``stop()``.
        timeout: Seconds to wait for the ready file.
        env: The server's environment (default: this process's).

    Raises :class:`ServerLaunchError` when the binary is missing, or the server
    exits or writes no ready file within ``timeout`` (with its output).
    """
    path = find_binary(binary)
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"server arguments must be str, not {type(arg).__name__}: {arg!r}")
    if workdir is None:
        work = Path(tempfile.mkdtemp(prefix="matgto-py-"))
        remove = True
    else:
        work = Path(os.fspath(workdir))
        work.mkdir(parents=True, exist_ok=True)
        remove = False
    cassettes = Path(os.fspath(cassette_dir)) if cassette_dir is not None else work / "cassettes"
    cassettes.mkdir(parents=True, exist_ok=True)
    stem = f"{os.getpid()}-{time.monotonic_ns()}"
    ready = work / f"ready-{stem}.json"
    log = work / f"server-{stem}.log"
    command: List[str] = [
        str(path), "serve",
        "--proxy-port", "0",
        "--control-port", "0",
        "--cassette-dir", str(cassettes),
        "--ready-file", str(ready),
    ]  # fmt: skip
    if not any(a in ("--ca-dir", "--ca-cert") or a.startswith(("--ca-dir=", "--ca-cert=")) for a in args):
        # A throw-away interception CA: tests never touch ~/.matgto/ca.
        command += ["--ca-dir", str(work / "ca")]
    command += list(args)
    with log.open("wb") as out:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
            )
        except OSError as err:
            if remove:
                shutil.rmtree(work, ignore_errors=True)
            raise ServerLaunchError(f"cannot start {path}: {err}") from None

    def fail(why: str) -> ServerLaunchError:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        text = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        if remove:
            shutil.rmtree(work, ignore_errors=True)
        return ServerLaunchError(f"{why}: {' '.join(command)}\n{text}")

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise fail(f"matgto exited with status {proc.returncode} before writing its ready file")
        if ready.exists():
            try:
                info: Dict[str, Any] = json.loads(ready.read_text())
            except ValueError:
                raise fail(f"the ready file {ready} is not JSON (the contract says it is written atomically)")
            if not info.get("proxy") or not info.get("control") or int(info.get("pid") or 0) != proc.pid:
                raise fail(f"the ready file {ready} lacks an address or names another process: {info}")
            return LocalServer(proc, info, workdir=work, cassette_dir=cassettes, log=log, remove_workdir=remove)
        if time.monotonic() > deadline:
            raise fail(f"matgto wrote no ready file within {timeout}s")
        time.sleep(0.02)


# -- the process's proxy and CA trust -------------------------------------------

#: The variables :func:`proxy_env` sets (both spellings: libraries read either).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
#: Other proxy variables cleared so that they cannot win over the ones set.
CLEARED_VARIABLES = ("ALL_PROXY", "all_proxy")


@contextlib.contextmanager
def proxy_env(
    proxy: Any,
    *,
    ca: Union[None, bool, PathLike] = None,
    no_proxy: Optional[Union[str, Sequence[str]]] = None,
    proxy_localhost: bool = True,
) -> Iterator[Dict[str, Optional[str]]]:
    """Points the whole process at a matgto proxy for the ``with`` block, then
    restores every variable it touched exactly (unset ones are unset again)::

        with client.session("users/get-1") as s, matgto.testing.proxy_env(s):
            requests.get("https://api.example/users/1")   # via the proxy, trusting its CA

    Sets ``HTTP_PROXY``/``HTTPS_PROXY`` (and the lower-case spellings, read by
    curl, urllib, requests, httpx, aiohttp with ``trust_env``), clears
    ``ALL_PROXY``, and sets ``NO_PROXY``.

    Args:
        proxy: A :class:`~matgto.CassetteSession` (its ``proxy_url``), a
            :class:`~matgto.Client` (its ``proxy_url()``), a
            :class:`LocalServer`, or a URL ``"http://host:port"``.
        ca: The CA to trust for HTTPS through the proxy, written to
            ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` (OpenSSL, httpx,
            aiohttp, urllib's default context) and ``CURL_CA_BUNDLE``: a PEM
            path; ``True``: the matgto CA, fetched from ``proxy`` (a session,
            a client or a LocalServer); ``None`` (default): the matgto CA when
            ``proxy`` is one of those and the server intercepts HTTPS, else
            leave the CA variables alone; ``False``: leave them alone. The
            bundle is the CA only: hosts reached directly (``NO_PROXY``) over
            HTTPS are then not trusted.
        no_proxy: Hosts that bypass the proxy (``NO_PROXY``). Default: none
            when ``proxy_localhost`` (so loopback upstreams of a test are
            recorded too), else ``"localhost,127.0.0.1,::1"``.
        proxy_localhost: See ``no_proxy``.

    Yields the values set. Not thread-safe (``os.environ`` is process-wide):
    do not use it in tests that run in threads of one process in parallel;
    ``pytest -n`` runs workers in processes of their own, which is fine.
    Python's :mod:`ssl` reads ``SSL_CERT_FILE`` when a context is created, so
    clients created inside the block trust the CA; clients created before it
    keep what they had.
    """
    url = _proxy_url_of(proxy)
    bundle: Optional[str] = None
    if ca is None and hasattr(proxy, "ca_bundle"):
        from .errors import UnimplementedError

        try:
            bundle = proxy.ca_bundle()
        except UnimplementedError:  # a server without HTTPS interception
            bundle = None
    elif ca is True:
        if not hasattr(proxy, "ca_bundle"):
            raise TypeError("ca=True needs a matgto session, client or LocalServer to fetch the CA from; pass a PEM path")
        bundle = proxy.ca_bundle()
    elif ca is not None and ca is not False:
        bundle = os.fspath(ca)  # type: ignore[arg-type]
        if not os.path.isfile(bundle):
            raise FileNotFoundError(f"CA bundle {bundle!r} does not exist")
    if no_proxy is None:
        no_proxy = "" if proxy_localhost else "localhost,127.0.0.1,::1"
    elif not isinstance(no_proxy, str):
        no_proxy = ",".join(no_proxy)

    wanted: Dict[str, Optional[str]] = {name: url for name in PROXY_VARIABLES}
    wanted.update({name: no_proxy or None for name in NO_PROXY_VARIABLES})
    wanted.update({name: None for name in CLEARED_VARIABLES})
    if bundle is not None:
        wanted.update({name: bundle for name in CA_VARIABLES})
    saved = {name: os.environ.get(name) for name in wanted}
    try:
        for name, value in wanted.items():
            _set_env(name, value)
        yield dict(wanted)
    finally:
        for name, value in saved.items():
            _set_env(name, value)


def _set_env(name: str, value: Optional[str]) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _proxy_url_of(proxy: Any) -> str:
    if isinstance(proxy, str):
        url = proxy
    elif isinstance(proxy, LocalServer):
        url = proxy.proxy_url
    elif callable(getattr(proxy, "proxy_url", None)):
        url = proxy.proxy_url()  # Client
    elif isinstance(getattr(proxy, "proxy_url", None), str):
        url = proxy.proxy_url  # CassetteSession
    else:
        raise TypeError(f"proxy must be a URL, a matgto session, client or LocalServer, not {type(proxy).__name__}")
    if "://" not in url:
        url = "http://" + url
    return url
