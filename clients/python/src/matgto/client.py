"""Client for the matgto control API (gRPC service ``matgto.v1.ProxyControl``)."""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
import threading
from typing import Any, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple, Union

import grpc

from ._proto import cassette_pb2, control_pb2, control_pb2_grpc
from ._version import __version__
from .errors import IncompatibleServerError, MatgtoError, ServerUnavailableError, error_from_rpc
from .modes import ExhaustedPolicyLike, Mode, ModeLike, parse_exhausted_policy, parse_mode

__all__ = [
    "API_VERSION",
    "DEFAULT_SERVER",
    "SERVER_ENV",
    "CassetteSession",
    "Client",
    "StatusLike",
    "check_api_version",
    "default_server_address",
    "usable_proxy_address",
]

#: The control API generation this client speaks (``matgto.v1``).
API_VERSION = 1
#: Control address used when neither an address nor ``$MATGTO_SERVER`` is given.
DEFAULT_SERVER = "127.0.0.1:8889"
#: Environment variable holding the control address.
SERVER_ENV = "MATGTO_SERVER"

_UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::", "[::]")
_USE_DEFAULT: Any = object()


class StatusLike(Protocol):
    """What :func:`check_api_version` reads from a ``GetStatusResponse``."""

    api_version: int
    version: str


def default_server_address() -> str:
    """``$MATGTO_SERVER`` when set and not empty, else :data:`DEFAULT_SERVER`."""
    return os.environ.get(SERVER_ENV, "").strip() or DEFAULT_SERVER


def check_api_version(status: StatusLike, *, address: Optional[str] = None) -> None:
    """Raises :class:`IncompatibleServerError` unless ``status.api_version`` is
    :data:`API_VERSION`.

    Args:
        status: A ``GetStatusResponse`` (or anything with ``api_version`` and ``version``).
        address: The server's control address, for the message.
    """
    api_version = getattr(status, "api_version", 0)
    if api_version == API_VERSION:
        return
    version = getattr(status, "version", "") or "unknown"
    where = f" at {address}" if address else ""
    if not api_version:
        speaks = "reports no control API version (it predates api_version or is not a matgto server)"
    else:
        speaks = f"speaks control API version {api_version}"
    raise IncompatibleServerError(
        f"incompatible matgto server{where}: server {version} {speaks}, but this client "
        f"(matgto {__version__} for Python) speaks control API version {API_VERSION} only; "
        "use a client and a server of the same API generation",
        address=address,
    )


def _split_host_port(address: str) -> Tuple[str, str]:
    """``"127.0.0.1:8888"`` -> ``("127.0.0.1", "8888")``; ``"[::1]:80"`` -> ``("::1", "80")``."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.lstrip(":")
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, port
    return address, ""


def _host_of_target(target: str) -> str:
    """The host of a gRPC target such as ``"127.0.0.1:8889"`` or ``"dns:///h:1"``."""
    if target.startswith(("unix:", "unix-abstract:", "vsock:")):
        return "127.0.0.1"
    for prefix in ("dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix):]
            break
    target = target.split(",")[0].rsplit("/", 1)[-1]
    host, _ = _split_host_port(target)
    return host if host not in _UNSPECIFIED_HOSTS else "127.0.0.1"


def _join_host_port(host: str, port: str) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def usable_proxy_address(proxy_address: str, control_target: str) -> str:
    """The proxy address as reported by the server, except that an unspecified
    host (``0.0.0.0``, ``::``) is replaced by the host used to reach the control API."""
    host, port = _split_host_port(proxy_address)
    if host in _UNSPECIFIED_HOSTS:
        host = _host_of_target(control_target)
    return _join_host_port(host, port)


def _duration(value: Union[float, datetime.timedelta]) -> Any:
    from google.protobuf import duration_pb2

    duration = duration_pb2.Duration()
    if isinstance(value, datetime.timedelta):
        duration.FromTimedelta(value)
    else:
        duration.FromNanoseconds(int(round(float(value) * 1e9)))
    return duration


class CassetteSession:
    """A cassette in use: what :meth:`Client.recording`, :meth:`Client.replaying`,
    :meth:`Client.cassette` and the pytest fixture ``matgto_cassette`` yield.

    Attributes:
        client: The client that started the session.
        info: The ``SessionInfo`` the server returned when the session started.
        summary: The ``SessionSummary`` returned by ``StopRecording`` once the
            session ended (``None`` until then).
    """

    def __init__(self, client: "Client", info: control_pb2.SessionInfo) -> None:
        self.client = client
        self.info = info
        self.summary: Optional[control_pb2.SessionSummary] = None

    @property
    def name(self) -> str:
        """The cassette name."""
        return self.info.cassette

    @property
    def mode(self) -> Mode:
        """The effective mode (``AUTO`` resolved to ``RECORD`` or ``REPLAY``)."""
        return Mode(self.info.mode)

    @property
    def requested_mode(self) -> Mode:
        """The mode that was asked for."""
        return Mode(self.info.requested_mode)

    @property
    def proxy_url(self) -> str:
        """See :meth:`Client.proxy_url`."""
        return self.client.proxy_url()

    def proxies(self) -> Dict[str, str]:
        """See :meth:`Client.proxies`."""
        return self.client.proxies()

    def ca_bundle(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
        """See :meth:`Client.ca_bundle`."""
        return self.client.ca_bundle(path)

    def __repr__(self) -> str:
        return f"CassetteSession(name={self.name!r}, mode={self.mode.name})"


class Client:
    """Controls a running matgto server over gRPC.

    The first call checks the server's ``api_version`` (see
    :func:`check_api_version`). Every failed call raises a
    :class:`~matgto.errors.MatgtoError` subclass. The client is thread-safe and
    a context manager (``close()`` on exit)::

        with matgto.Client() as client:
            with client.recording("github/get-user"):
                requests.get("http://api.example/users/1", proxies=client.proxies())

    Args:
        address: The gRPC target of the control API, ``"host:port"``. Defaults
            to ``$MATGTO_SERVER``, else ``127.0.0.1:8889``.
        timeout: Deadline of each call in seconds (``None``: no deadline).
        check_version: Set to ``False`` to skip the API version check.
        channel: A ready :class:`grpc.Channel` to use instead of an insecure
            channel to ``address`` (the client does not close it).
        channel_options: Extra gRPC channel options for the channel it creates.
            HTTP proxies from the environment are ignored by default
            (``grpc.enable_http_proxy=0``), so ``HTTP_PROXY`` pointing at
            matgto does not capture the control connection.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        timeout: Optional[float] = 10.0,
        check_version: bool = True,
        channel: Optional[grpc.Channel] = None,
        channel_options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        self.address: str = address or default_server_address()
        self.timeout = timeout
        self._check_version = check_version
        if channel is None:
            options: List[Tuple[str, Any]] = [("grpc.enable_http_proxy", 0)]
            options += list(channel_options)
            self._channel = grpc.insecure_channel(self.address, options=options)
            self._owns_channel = True
        else:
            self._channel = channel
            self._owns_channel = False
        self._stub: Any = control_pb2_grpc.ProxyControlStub(self._channel)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._version_ok = False
        self._proxy_address: Optional[str] = None
        self._ca_dir: Optional[str] = None
        self._closed = False

    # -- plumbing -----------------------------------------------------------

    def _call(self, method: str, request: Any, *, verify: bool = True, timeout: Any = _USE_DEFAULT) -> Any:
        if self._closed:
            raise MatgtoError("the matgto client is closed", method=method, address=self.address)
        if verify and self._check_version and not self._version_ok:
            self.status()
        deadline = self.timeout if timeout is _USE_DEFAULT else timeout
        try:
            return getattr(self._stub, method)(request, timeout=deadline)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method=method, address=self.address) from None

    @staticmethod
    def _options(on_exhausted: Optional[ExhaustedPolicyLike]) -> Optional[cassette_pb2.CassetteOptions]:
        policy = parse_exhausted_policy(on_exhausted)
        if policy is None:
            return None
        return cassette_pb2.CassetteOptions(on_exhausted=policy.proto_name)

    @staticmethod
    def _name(name: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"a cassette name must be a str, not {type(name).__name__}")
        return name

    # -- control API ----------------------------------------------------------

    def status(self) -> control_pb2.GetStatusResponse:
        """The server's status (``GetStatusResponse``): version, ``api_version``,
        addresses, default mode and the session in use (``HasField("session")``).

        Raises :class:`IncompatibleServerError` if the API version differs
        (unless ``check_version=False``).
        """
        status: control_pb2.GetStatusResponse = self._call(
            "GetStatus", control_pb2.GetStatusRequest(), verify=False
        )
        if self._check_version:
            check_api_version(status, address=self.address)
        with self._lock:
            self._version_ok = True
            if status.proxy_address:
                self._proxy_address = usable_proxy_address(status.proxy_address, self.address)
        return status

    def start_recording(
        self, name: str, *, on_exhausted: Optional[ExhaustedPolicyLike] = None
    ) -> control_pb2.SessionInfo:
        """Starts recording into cassette ``name`` (ending any cassette in use).

        The cassette file is overwritten when the recording is saved, by
        :meth:`stop_recording`. ``on_exhausted`` (``"repeat_last"`` or
        ``"error"``) is stored with the cassette for later replays.
        Returns the new ``SessionInfo``.
        """
        request = control_pb2.StartRecordingRequest(
            name=self._name(name), options=self._options(on_exhausted)
        )
        response: control_pb2.StartRecordingResponse = self._call("StartRecording", request)
        return response.session

    def stop_recording(self) -> control_pb2.SessionSummary:
        """Ends the cassette in use, whatever its mode, saving what was recorded.

        Returns the ``SessionSummary`` (counters, ``saved_path``, unused
        interactions). Raises :class:`~matgto.errors.FailedPreconditionError`
        when no cassette is in use.
        """
        response: control_pb2.StopRecordingResponse = self._call(
            "StopRecording", control_pb2.StopRecordingRequest()
        )
        return response.summary

    def replay(
        self, name: str, *, on_exhausted: Optional[ExhaustedPolicyLike] = None
    ) -> control_pb2.SessionInfo:
        """Replays cassette ``name``; raises
        :class:`~matgto.errors.CassetteNotFoundError` if it does not exist.

        ``on_exhausted`` overrides the cassette's stored policy for this session.
        """
        request = control_pb2.ReplayRequest(name=self._name(name), options=self._options(on_exhausted))
        response: control_pb2.ReplayResponse = self._call("Replay", request)
        return response.session

    def use_cassette(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
    ) -> control_pb2.SessionInfo:
        """Uses cassette ``name`` in ``mode``: ``"auto"`` (replay when the
        cassette exists, record otherwise), ``"record"``, ``"replay"`` or
        ``"passthrough"``. ``mode=None`` leaves the choice to the server's
        default mode."""
        request = control_pb2.UseCassetteRequest(
            name=self._name(name),
            mode=None if mode is None else parse_mode(mode).proto_name,
            options=self._options(on_exhausted),
        )
        response: control_pb2.UseCassetteResponse = self._call("UseCassette", request)
        return response.session

    def shutdown(self, grace: Optional[Union[float, datetime.timedelta]] = None) -> None:
        """Stops the server gracefully (an active recording is saved first).

        ``grace``: how long in-flight exchanges may take to finish, in seconds
        or as a timedelta (server default: 5 s).
        """
        request = control_pb2.ShutdownRequest()
        if grace is not None:
            request.grace.CopyFrom(_duration(grace))
        self._call("Shutdown", request)

    def ca_certificate(self) -> str:
        """The PEM certificate of the CA that signs intercepted HTTPS hosts.

        Raises :class:`~matgto.errors.UnimplementedError` on servers without
        HTTPS interception.
        """
        response: control_pb2.GetCACertificateResponse = self._call(
            "GetCACertificate", control_pb2.GetCACertificateRequest()
        )
        return response.pem

    # -- helpers for HTTP clients -------------------------------------------

    def proxy_address(self) -> str:
        """``"host:port"`` of the HTTP proxy (from ``status().proxy_address``, cached)."""
        if self._proxy_address is None:
            self.status()
        if not self._proxy_address:
            raise MatgtoError("the matgto server reported no proxy address", address=self.address)
        return self._proxy_address

    def proxy_url(self) -> str:
        """The proxy as a URL, ``"http://127.0.0.1:8888"`` (e.g. for ``httpx.Client(proxy=...)``)."""
        return "http://" + self.proxy_address()

    def proxies(self) -> Dict[str, str]:
        """A ``proxies`` mapping for :mod:`requests`:
        ``{"http": "http://127.0.0.1:8888", "https": "http://127.0.0.1:8888"}``."""
        url = self.proxy_url()
        return {"http": url, "https": url}

    def ca_bundle(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> str:
        """Writes :meth:`ca_certificate` to a PEM file and returns its path, for
        ``requests``' ``verify=``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` or
        ``httpx``'s ``verify=``.

        Without ``path`` the file goes to a temporary directory owned by this
        client and removed by :meth:`close`.
        """
        pem = self.ca_certificate()
        if path is None:
            with self._lock:
                if self._ca_dir is None:
                    self._ca_dir = tempfile.mkdtemp(prefix="matgto-ca-")
                target = os.path.join(self._ca_dir, "matgto-ca.pem")
        else:
            target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".matgto-ca-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(pem)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    def wait_until_ready(self, timeout: float = 10.0) -> control_pb2.GetStatusResponse:
        """Waits up to ``timeout`` seconds for the control API to accept
        connections, then returns :meth:`status`."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServerUnavailableError(
                f"matgto server at {self.address} did not become ready within {timeout}s",
                code=grpc.StatusCode.UNAVAILABLE,
                address=self.address,
            ) from None
        return self.status()

    # -- context managers -----------------------------------------------------

    @contextlib.contextmanager
    def _ending(self, info: control_pb2.SessionInfo) -> Iterator[CassetteSession]:
        session = CassetteSession(self, info)
        try:
            yield session
        except BaseException:
            # The block's own exception matters more than a failure to stop.
            with contextlib.suppress(MatgtoError):
                session.summary = self.stop_recording()
            raise
        session.summary = self.stop_recording()

    @contextlib.contextmanager
    def recording(
        self, name: str, *, on_exhausted: Optional[ExhaustedPolicyLike] = None
    ) -> Iterator[CassetteSession]:
        """``with client.recording(name) as session:`` records into ``name`` and
        calls :meth:`stop_recording` on exit, even on an exception;
        ``session.summary`` holds the result afterwards."""
        with self._ending(self.start_recording(name, on_exhausted=on_exhausted)) as session:
            yield session

    @contextlib.contextmanager
    def replaying(
        self, name: str, *, on_exhausted: Optional[ExhaustedPolicyLike] = None
    ) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, replaying cassette ``name``."""
        with self._ending(self.replay(name, on_exhausted=on_exhausted)) as session:
            yield session

    @contextlib.contextmanager
    def cassette(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
    ) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, with :meth:`use_cassette` (default mode ``"auto"``)."""
        with self._ending(self.use_cassette(name, mode, on_exhausted=on_exhausted)) as session:
            yield session

    # -- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel (if the client created it) and removes the
        temporary CA bundle. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_channel:
            self._channel.close()
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)
            self._ca_dir = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"
