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
from .modes import (
    ExhaustedPolicyLike,
    MissPolicyLike,
    Mode,
    ModeLike,
    RepeatPolicyLike,
    WsTimingLike,
    parse_mode,
)
from .options import MatchRulesLike, RedactRulesLike, cassette_options

__all__ = [
    "API_VERSION",
    "CHUNK_BYTES",
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
#: Size of the chunks :meth:`Client.put_cassette` uploads (1 MiB).
CHUNK_BYTES = 1024 * 1024

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

    def _ready(self, method: str, verify: bool = True) -> None:
        if self._closed:
            raise MatgtoError("the matgto client is closed", method=method, address=self.address)
        if verify and self._check_version and not self._version_ok:
            self.status()

    def _call(self, method: str, request: Any, *, verify: bool = True, timeout: Any = _USE_DEFAULT) -> Any:
        self._ready(method, verify)
        deadline = self.timeout if timeout is _USE_DEFAULT else timeout
        try:
            return getattr(self._stub, method)(request, timeout=deadline)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method=method, address=self.address) from None

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
        self,
        name: str,
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
    ) -> control_pb2.SessionInfo:
        """Starts recording into cassette ``name`` (ending any cassette in use).

        The cassette file is overwritten when the recording is saved, by
        :meth:`stop_recording`. The options are stored with the cassette for
        later replays (``redact`` and ``store_decoded`` also shape what is
        written):

        * ``on_exhausted``: ``"repeat_last"`` (default) or ``"error"``;
        * ``repeat``: ``"sequential"`` (default) or ``"reuse"``;
        * ``on_miss``: ``"error"`` (default), ``"passthrough"`` or ``"record"``;
        * ``match``: :class:`~matgto.MatchRules`; ``redact``: :class:`~matgto.RedactRules`;
        * ``store_decoded``: store gzip/deflate/br bodies decoded;
        * ``ws_timing``: ``"fast"`` (default) or ``"as-recorded"``; ``ws_speed``: e.g. ``2.0``;
        * ``proto_options``: a generated ``CassetteOptions`` message the
          other options are applied on top of.

        Bad rules (an RE2 pattern, a JSON pointer) raise
        :class:`~matgto.errors.InvalidArgumentError`. Returns the new ``SessionInfo``.
        """
        request = control_pb2.StartRecordingRequest(
            name=self._name(name),
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            proto_options=proto_options,
        ),
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
        self,
        name: str,
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
    ) -> control_pb2.SessionInfo:
        """Replays cassette ``name``; raises
        :class:`~matgto.errors.CassetteNotFoundError` if it does not exist.

        The options (as for :meth:`start_recording`) override the ones stored
        in the cassette for this session, field by field (``match`` and
        ``redact`` replace the stored rules whole).
        """
        request = control_pb2.ReplayRequest(
            name=self._name(name),
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            proto_options=proto_options,
        ),
        )
        response: control_pb2.ReplayResponse = self._call("Replay", request)
        return response.session

    def use_cassette(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        on_exhausted: Optional[ExhaustedPolicyLike] = None,
        repeat: Optional[RepeatPolicyLike] = None,
        on_miss: Optional[MissPolicyLike] = None,
        match: Optional[MatchRulesLike] = None,
        redact: Optional[RedactRulesLike] = None,
        store_decoded: Optional[bool] = None,
        ws_timing: Optional[WsTimingLike] = None,
        ws_speed: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
    ) -> control_pb2.SessionInfo:
        """Uses cassette ``name`` in ``mode``: ``"auto"`` (replay when the
        cassette exists, record otherwise), ``"record"``, ``"replay"`` or
        ``"passthrough"``. ``mode=None`` leaves the choice to the server's
        default mode. Options as for :meth:`start_recording`."""
        request = control_pb2.UseCassetteRequest(
            name=self._name(name),
            mode=None if mode is None else parse_mode(mode).proto_name,
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            proto_options=proto_options,
        ),
        )
        response: control_pb2.UseCassetteResponse = self._call("UseCassette", request)
        return response.session

    # -- cassette management ------------------------------------------------------

    def list_cassettes(self, prefix: str = "") -> List[control_pb2.CassetteInfo]:
        """The cassettes whose names start with ``prefix`` (``CassetteInfo``:
        ``name``, ``size_bytes``, ``interactions``, ``updated_at``, ``format``)."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        response: control_pb2.ListCassettesResponse = self._call(
            "ListCassettes", control_pb2.ListCassettesRequest(prefix=prefix)
        )
        return list(response.cassettes)

    def get_cassette_bytes(self, name: str) -> bytes:
        """Cassette ``name`` as serialized ``matgto.v1.Cassette`` bytes (the
        streamed chunks joined). :class:`~matgto.errors.CassetteNotFoundError`
        if it does not exist, :class:`~matgto.errors.CorruptCassetteError` if
        its file is corrupt."""
        request = control_pb2.GetCassetteRequest(name=self._name(name))
        self._ready("GetCassette")
        try:
            stream = self._stub.GetCassette(request, timeout=self.timeout)
            return b"".join(chunk.data for chunk in stream)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method="GetCassette", address=self.address) from None

    def get_cassette(self, name: str) -> cassette_pb2.Cassette:
        """Cassette ``name`` as the generated ``matgto.v1.Cassette`` message
        (interactions, options, timestamps). Errors as :meth:`get_cassette_bytes`."""
        data = self.get_cassette_bytes(name)
        cassette = cassette_pb2.Cassette()
        try:
            cassette.ParseFromString(data)
        except Exception as exc:  # google.protobuf.message.DecodeError
            raise MatgtoError(
                f"GetCassette returned bytes that are not a matgto.v1.Cassette: {exc}",
                method="GetCassette",
                address=self.address,
            ) from exc
        return cassette

    def put_cassette(
        self, cassette: Union[cassette_pb2.Cassette, bytes, bytearray, memoryview], name: Optional[str] = None
    ) -> control_pb2.CassetteInfo:
        """Stores a cassette (replacing one of the same name atomically) and
        returns its ``CassetteInfo``.

        ``cassette`` is a ``matgto.v1.Cassette`` message or its serialized
        bytes; it must be complete (``schema_version`` 1, ``complete`` true)
        or the server raises :class:`~matgto.errors.InvalidArgumentError`.
        ``name`` defaults to the cassette's own ``name``; the server stores it
        under ``name`` whatever the message says. The bytes go up in 1 MiB
        chunks. Replacing the cassette in use raises
        :class:`~matgto.errors.FailedPreconditionError`.
        """
        if isinstance(cassette, cassette_pb2.Cassette):
            data = cassette.SerializeToString()
            own_name = cassette.name
        elif isinstance(cassette, (bytes, bytearray, memoryview)):
            data = bytes(cassette)
            own_name = ""
            if name is None:
                parsed = cassette_pb2.Cassette()
                try:
                    parsed.ParseFromString(data)
                except Exception as exc:
                    raise ValueError(f"put_cassette: the bytes are not a matgto.v1.Cassette: {exc}") from None
                own_name = parsed.name
        else:
            raise TypeError(
                f"put_cassette takes a matgto.v1.Cassette or bytes, not {type(cassette).__name__}"
            )
        target = own_name if name is None else self._name(name)
        if not target:
            raise ValueError("put_cassette: the cassette has no name; pass name=")

        def chunks() -> Iterator[control_pb2.CassetteChunk]:
            yield control_pb2.CassetteChunk(name=target, data=data[:CHUNK_BYTES])
            for offset in range(CHUNK_BYTES, len(data), CHUNK_BYTES):
                yield control_pb2.CassetteChunk(data=data[offset : offset + CHUNK_BYTES])

        response: control_pb2.PutCassetteResponse = self._call("PutCassette", chunks())
        return response.cassette

    def delete_cassette(self, name: str) -> None:
        """Deletes cassette ``name``. :class:`~matgto.errors.CassetteNotFoundError`
        when it does not exist, :class:`~matgto.errors.FailedPreconditionError`
        while it is in use."""
        self._call("DeleteCassette", control_pb2.DeleteCassetteRequest(name=self._name(name)))

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
        """The PEM certificate of the CA that signs intercepted HTTPS hosts
        (HTTPS goes through the proxy with ``CONNECT``; trust this PEM, e.g.
        with :meth:`ca_bundle`).

        Raises :class:`~matgto.errors.UnimplementedError` on (old) servers
        without HTTPS interception.
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
    def recording(self, name: str, **options: Any) -> Iterator[CassetteSession]:
        """``with client.recording(name) as session:`` records into ``name`` and
        calls :meth:`stop_recording` on exit, even on an exception;
        ``session.summary`` holds the result afterwards. ``options``: the
        keyword options of :meth:`start_recording`."""
        with self._ending(self.start_recording(name, **options)) as session:
            yield session

    @contextlib.contextmanager
    def replaying(self, name: str, **options: Any) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, replaying cassette ``name`` (options as :meth:`replay`)."""
        with self._ending(self.replay(name, **options)) as session:
            yield session

    @contextlib.contextmanager
    def cassette(
        self, name: str, mode: Optional[ModeLike] = "auto", **options: Any
    ) -> Iterator[CassetteSession]:
        """Like :meth:`recording`, with :meth:`use_cassette` (default mode ``"auto"``)."""
        with self._ending(self.use_cassette(name, mode, **options)) as session:
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
