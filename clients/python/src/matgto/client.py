"""Client for the matgto control API (gRPC service ``matgto.v1.ProxyControl``)."""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple, Union

import grpc

from ._proto import cassette_pb2, control_pb2, control_pb2_grpc
from ._version import __version__
from .events import EventStream
from .errors import (
    CassetteNotFoundError,
    IncompatibleServerError,
    MatgtoError,
    ServerUnavailableError,
    error_from_rpc,
)
from .modes import (
    ExhaustedPolicyLike,
    MissPolicyLike,
    ModeLike,
    RepeatPolicyLike,
    WsTimingLike,
    parse_mode,
)
from .connection import ConnectionSettings, PemSource, open_channel, resolve_connection, split_scheme
from .faults import Fault, FaultLike, FaultSet, fault_ids, fault_proto, parse_seed
from .options import LatencyLike, MatchRulesLike, RedactRulesLike, cassette_options
from .session import DEFAULT_SESSION_ID, CassetteSession, timestamp_to_datetime

__all__ = [
    "API_VERSION",
    "CHUNK_BYTES",
    "DEFAULT_LEASE",
    "DEFAULT_SERVER",
    "SERVER_ENV",
    "CassetteSession",
    "Client",
    "StatusLike",
    "check_api_version",
    "control_channel_options",
    "default_server_address",
    "usable_proxy_address",
    "usable_proxy_url",
]

#: The control API generation this client speaks (``matgto.v1``).
API_VERSION = 1
#: Control address used when neither an address nor ``$MATGTO_SERVER`` is given.
DEFAULT_SERVER = "127.0.0.1:8889"
#: Environment variable holding the control address.
SERVER_ENV = "MATGTO_SERVER"
#: The lease of sessions opened by :meth:`Client.session` and the pytest
#: plugin (renewed every third of it, 10 s).
DEFAULT_LEASE = datetime.timedelta(seconds=30)
#: Size of the chunks :meth:`Client.put_cassette` uploads (1 MiB).
CHUNK_BYTES = 1024 * 1024

_UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::", "[::]")
_USE_DEFAULT: Any = object()


class StatusLike(Protocol):
    """What :func:`check_api_version` reads from a ``GetStatusResponse``."""

    api_version: int
    version: str


def control_channel_options(extra: Sequence[Tuple[str, Any]] = ()) -> List[Tuple[str, Any]]:
    """``extra`` plus ``grpc.enable_http_proxy=0`` unless ``extra`` sets it: the
    control channel never follows ``HTTP(S)_PROXY``/``grpc_proxy`` by default
    (gRPC reads them; tests often point them at matgto itself). gRPC takes the
    first value of a repeated option, so ``extra`` comes first."""
    options = list(extra)
    if not any(name == "grpc.enable_http_proxy" for name, _ in options):
        options.append(("grpc.enable_http_proxy", 0))
    return options


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


def _host_of_target(target: str, loopback: str = "127.0.0.1") -> str:
    """The host of a gRPC target such as ``"127.0.0.1:8889"`` or ``"dns:///h:1"``
    (``loopback`` for an unspecified one or a local socket)."""
    if target.startswith(("unix:", "unix-abstract:", "vsock:")):
        return loopback
    for prefix in ("dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix):]
            break
    target = target.split(",")[0].rsplit("/", 1)[-1]
    host, _ = _split_host_port(target)
    return host if host not in _UNSPECIFIED_HOSTS else loopback


def _join_host_port(host: str, port: str) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def usable_proxy_address(proxy_address: str, control_target: str) -> str:
    """The proxy address as reported by the server, except that an unspecified
    host (``0.0.0.0``, ``::``) is replaced by the host used to reach the control API,
    or by the loopback address of its own family (``127.0.0.1``, ``::1``) when that is
    unspecified too."""
    host, port = _split_host_port(proxy_address)
    if host in _UNSPECIFIED_HOSTS:
        host = _host_of_target(control_target, "::1" if ":" in host else "127.0.0.1")
    return _join_host_port(host, port)


def usable_proxy_url(proxy_url: str, control_target: str) -> str:
    """``SessionInfo.proxy_url`` (``"http://ID@host:port"``) with an unspecified
    host replaced as in :func:`usable_proxy_address`."""
    scheme, sep, rest = proxy_url.partition("://")
    if not sep:
        return proxy_url
    user, at, address = rest.rpartition("@")
    address, slash, path = address.partition("/")
    return f"{scheme}://{user}{at}{usable_proxy_address(address, control_target)}{slash}{path}"


#: A lease: a timedelta or a number of seconds.
LeaseLike = Union[float, int, datetime.timedelta]


def lease_seconds(lease: LeaseLike) -> float:
    """``lease`` in seconds; raises :class:`ValueError` / :class:`TypeError`
    unless it is a positive timedelta or number (the server wants 1 s to 1 h)."""
    if isinstance(lease, datetime.timedelta):
        seconds = lease.total_seconds()
    elif isinstance(lease, (int, float)) and not isinstance(lease, bool):
        seconds = float(lease)
    else:
        raise TypeError(f"a lease must be a timedelta or a number of seconds, not {type(lease).__name__}")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a lease must be positive and finite, not {lease!r}")
    return seconds


def _session_fields(
    request: Any,
    session: Optional[str],
    new_session: bool,
    lease: Optional[LeaseLike],
    owner: Optional[str],
) -> None:
    """Sets the session fields shared by StartRecording, Replay and UseCassette."""
    if session is not None and not isinstance(session, str):
        raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
    if session and new_session:
        raise ValueError("new_session=True opens a new session: pass no session id with it")
    if not new_session and (lease is not None or owner is not None):
        raise ValueError("lease and owner apply to new sessions only: pass new_session=True")
    if owner is not None and not isinstance(owner, str):
        raise TypeError(f"owner must be a str, not {type(owner).__name__}")
    request.session = session or ""
    request.new_session = bool(new_session)
    if lease is not None:
        request.lease.CopyFrom(_duration(lease_seconds(lease)))
    if owner:
        request.owner = owner


def _added(result: FaultSet, count: int, address: Optional[str]) -> List[Fault]:
    """The ``count`` rules a SetFaults call added: the server appends them to
    the session's rules, so they are the last ones it returns."""
    if len(result) < count:
        raise MatgtoError(
            f"SetFaults returned {len(result)} rules after adding {count}", method="SetFaults", address=address
        )
    return list(result.faults[len(result) - count :]) if count else []


def _duration(value: Union[float, datetime.timedelta]) -> Any:
    from google.protobuf import duration_pb2

    duration = duration_pb2.Duration()
    if isinstance(value, datetime.timedelta):
        duration.FromTimedelta(value)
    else:
        duration.FromNanoseconds(int(round(float(value) * 1e9)))
    return duration


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
            to ``$MATGTO_SERVER``, else ``127.0.0.1:8889``. ``"https://host:port"``
            means TLS (as with the ``matgto`` CLI); ``"http://"`` is stripped.
        timeout: Deadline of each call in seconds (``None``: no deadline).
        check_version: Set to ``False`` to skip the API version check.
        token: Bearer token sent as ``authorization: Bearer TOKEN`` on every
            call (else ``$MATGTO_TOKEN``; ``""``: none).
        tls: ``None`` (default): TLS when a CA or client certificate is given
            (as arguments or ``$MATGTO_TLS_CA`` / ``$MATGTO_TLS_CERT``), else
            plaintext; ``True``: TLS, with the system roots unless ``tls_ca``;
            ``False``: plaintext, explicitly (TLS variables ignored, a token
            may then go to a non-loopback host).
        tls_ca: PEM file (or PEM bytes) of the roots that sign the server's
            certificate (else ``$MATGTO_TLS_CA``).
        tls_cert, tls_key: Client certificate and key (PEM files or bytes) for
            mTLS (else ``$MATGTO_TLS_CERT`` / ``$MATGTO_TLS_KEY``).
        channel: A ready :class:`grpc.Channel` to use instead of opening one
            to ``address`` (the client does not close it; the connection
            options above are then not used).
        channel_options: Extra gRPC channel options for the channel it creates.
            HTTP proxies from the environment are ignored by default
            (``grpc.enable_http_proxy=0``; pass it as 1 to follow them), so
            ``HTTP_PROXY`` pointing at matgto does not capture the control connection.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        timeout: Optional[float] = 10.0,
        check_version: bool = True,
        channel: Optional[grpc.Channel] = None,
        channel_options: Sequence[Tuple[str, Any]] = (),
        token: Optional[str] = None,
        tls: Optional[bool] = None,
        tls_ca: Optional[PemSource] = None,
        tls_cert: Optional[PemSource] = None,
        tls_key: Optional[PemSource] = None,
    ) -> None:
        target, https = split_scheme(address or default_server_address())
        self.address: str = target
        self.timeout = timeout
        self._check_version = check_version
        if channel is None:
            if https and tls is False:
                raise ValueError(f"tls=False (plaintext) contradicts the address {address!r}")
            if https:
                tls = True
            #: The resolved connection options (``None`` with a ready ``channel``).
            self.connection: Optional[ConnectionSettings] = resolve_connection(
                self.address, token=token, tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key
            )
            options = control_channel_options(channel_options)
            self._channel = open_channel(self.address, self.connection, options)
            self._owns_channel = True
        else:
            if token is not None or tls is not None or tls_ca or tls_cert or tls_key:
                raise ValueError("a ready channel carries its own credentials: pass token/tls options or channel, not both")
            self.connection = None
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
        addresses, default mode, the default session (``HasField("session")``),
        every open session (``sessions``), the recently ended ones
        (``ended_sessions``) and ``max_sessions``.

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
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
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
        * ``stream_timing`` / ``stream_speed``: the same for streamed HTTP bodies
          (Server-Sent Events, chunked bodies);
        * ``latency``: how fast replay answers: ``"fast"`` (default),
          ``"as-recorded"``, ``"200ms"``, ``"100ms±50ms"``, a timedelta or a
          :class:`~matgto.Latency`; ``latency_scale``: e.g. ``2.0`` (as-recorded);
        * ``proto_options``: a generated ``CassetteOptions`` message the
          other options are applied on top of.

        Sessions (every cassette-starting call takes these):

        * ``session``: the id of the open session to act on (default: the
          server's default session); ``CassetteNotFoundError`` if unknown;
        * ``new_session=True``: open a new session, with a proxy listener of
          its own (``SessionInfo.id``, ``proxy_address``, ``proxy_url``);
        * ``lease`` (new sessions, timedelta or seconds, 1 s..1 h): the session
          ends unless renewed (:meth:`renew_session`) within it; ``None``: no lease;
        * ``owner`` (new sessions): free text shown by :meth:`status`.

        :meth:`session` does all of this for you, renewals included.

        Bad rules (an RE2 pattern, a JSON pointer) raise
        :class:`~matgto.errors.InvalidArgumentError`. Returns the new ``SessionInfo``.
        """
        request = control_pb2.StartRecordingRequest(
            name=self._name(name),
            options=cassette_options(
            on_exhausted=on_exhausted, repeat=repeat, on_miss=on_miss, match=match, redact=redact,
            store_decoded=store_decoded, ws_timing=ws_timing, ws_speed=ws_speed,
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
        response: control_pb2.StartRecordingResponse = self._call("StartRecording", request)
        return response.session

    def stop_recording(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """Ends the cassette in use in ``session`` (default: the default
        session), whatever its mode, saving what was recorded. A session other
        than the default one is closed with it (its port too).

        Returns the ``SessionSummary`` (counters, misses, ``saved_path``,
        unused interactions, ``end_reason``, ``ended_at``, ``save_error``).
        Raises :class:`~matgto.errors.FailedPreconditionError` when the
        default session has no cassette in use and
        :class:`~matgto.errors.CassetteNotFoundError` for an unknown session.
        """
        if session is not None and not isinstance(session, str):
            raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
        response: control_pb2.StopRecordingResponse = self._call(
            "StopRecording", control_pb2.StopRecordingRequest(session=session or "")
        )
        return response.summary

    def stop(self, session: Optional[str] = None) -> control_pb2.SessionSummary:
        """Same as :meth:`stop_recording`."""
        return self.stop_recording(session)

    def renew_session(self, session: str, *, timeout: Any = _USE_DEFAULT) -> datetime.datetime:
        """Extends the lease of ``session`` by its lease length and returns the
        new expiry (aware UTC datetime). Raises
        :class:`~matgto.errors.CassetteNotFoundError` when the session is not
        open (it ended or never existed)."""
        if not isinstance(session, str) or not session:
            raise ValueError("renew_session needs the id of a session")
        response: control_pb2.RenewSessionResponse = self._call(
            "RenewSession", control_pb2.RenewSessionRequest(session=session), timeout=timeout
        )
        expires = timestamp_to_datetime(response, "lease_expires_at")
        if expires is None:
            raise MatgtoError("RenewSession returned no lease_expires_at", method="RenewSession", address=self.address)
        return expires

    # -- faults -------------------------------------------------------------------

    @staticmethod
    def _fault_session(session: Optional[str]) -> str:
        """The ``session`` field of SetFaults/ClearFaults: empty for the default session."""
        if session is None:
            return ""
        if not isinstance(session, str):
            raise TypeError(f"session must be a session id (str), not {type(session).__name__}")
        return "" if session == DEFAULT_SESSION_ID else session

    def set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], *, seed: Optional[int] = None
    ) -> FaultSet:
        """Adds fault rules to ``session`` (``None`` or ``"default"``: the
        default session) and returns **all** of the session's rules, with the
        ids the server gave them, and its seed (:class:`~matgto.FaultSet`).

        ``faults``: :class:`~matgto.Fault` values, generated
        ``matgto.v1.Fault`` messages, or dicts of :class:`~matgto.Fault`
        arguments. ``seed`` reseeds the session's generator for probabilistic
        rules (``None`` keeps it). The rules apply in every mode until cleared
        or the session ends. Raises :class:`~matgto.errors.InvalidArgumentError`
        for a rule the server refuses (an RE2 pattern, a probability outside
        0..1, a status outside 100..999) and
        :class:`~matgto.errors.CassetteNotFoundError` for an unknown session.
        """
        response = self._set_faults(session, faults, seed)
        return FaultSet.from_protos(response.faults, response.seed)

    def _set_faults(
        self, session: Optional[str], faults: Iterable[FaultLike], seed: Optional[int]
    ) -> control_pb2.SetFaultsResponse:
        messages = [fault_proto(rule) for rule in faults]
        request = control_pb2.SetFaultsRequest(
            session=self._fault_session(session), faults=messages, seed=parse_seed(seed)
        )
        response: control_pb2.SetFaultsResponse = self._call("SetFaults", request)
        return response

    def add_fault(
        self,
        session: Optional[str] = None,
        fault: Optional[FaultLike] = None,
        *,
        seed: Optional[int] = None,
        **rule: Any,
    ) -> Fault:
        """Adds one fault rule to ``session`` and returns it as the server
        stored it (with its ``id``)::

            client.add_fault(session_id, status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/")
            client.add_fault(session_id, reset="mid-body", probability=0.1, seed=7)

        Either a ready ``fault`` (:class:`~matgto.Fault`, generated message,
        dict) or the keyword arguments of :class:`~matgto.Fault`. Errors as
        :meth:`set_faults`.
        """
        if fault is not None and rule:
            raise TypeError("add_fault takes a fault or keyword arguments, not both")
        result = self.set_faults(session, [Fault(**rule) if fault is None else fault], seed=seed)
        return _added(result, 1, self.address)[0]

    def clear_faults(
        self,
        session: Optional[str] = None,
        ids: Union[None, str, Fault, Iterable[Union[str, Fault]]] = None,
    ) -> List[Fault]:
        """Removes the fault rules ``ids`` (ids or :class:`~matgto.Fault`
        values the server returned) from ``session``, or all of them when
        ``ids`` is ``None``; returns the rules left. An empty list removes
        nothing. Raises :class:`~matgto.errors.CassetteNotFoundError` for an
        id the session does not have (or an unknown session)."""
        return [Fault.from_proto(message) for message in self._clear_faults(session, ids)]

    def _clear_faults(
        self, session: Optional[str], ids: Union[None, str, Fault, Iterable[Union[str, Fault]]]
    ) -> List[control_pb2.Fault]:
        wanted = fault_ids(ids)
        if wanted is not None and not wanted:
            return [rule.to_proto() for rule in self.faults(session)]
        request = control_pb2.ClearFaultsRequest(session=self._fault_session(session), ids=wanted or [])
        response: control_pb2.ClearFaultsResponse = self._call("ClearFaults", request)
        return list(response.faults)

    def faults(self, session: Optional[str] = None) -> FaultSet:
        """The fault rules of ``session`` with their ``applied`` counts, and its
        seed, from :meth:`status`. Raises
        :class:`~matgto.errors.CassetteNotFoundError` when the session is not open."""
        target = self._fault_session(session)
        status = self.status()
        if not target:
            if status.HasField("session"):
                return FaultSet.from_protos(status.session.faults, status.session.fault_seed)
            return FaultSet()
        for info in status.sessions:
            if info.id == target:
                return FaultSet.from_protos(info.faults, info.fault_seed)
        raise CassetteNotFoundError(
            f"no open session {target!r} (GetStatus does not list it)", method="GetStatus", address=self.address
        )

    def sessions(self) -> List[control_pb2.SessionInfo]:
        """Every open session with a cassette in use (``status().sessions``)."""
        return list(self.status().sessions)

    def ended_sessions(self) -> List[control_pb2.SessionSummary]:
        """Sessions that ended recently, most recent first, with ``end_reason``
        (``status().ended_sessions``)."""
        return list(self.status().ended_sessions)

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
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
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
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
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
        stream_timing: Optional[WsTimingLike] = None,
        stream_speed: Optional[float] = None,
        latency: Optional[LatencyLike] = None,
        latency_scale: Optional[float] = None,
        proto_options: Optional[cassette_pb2.CassetteOptions] = None,
        session: Optional[str] = None,
        new_session: bool = False,
        lease: Optional[LeaseLike] = None,
        owner: Optional[str] = None,
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
            stream_timing=stream_timing, stream_speed=stream_speed,
            latency=latency, latency_scale=latency_scale, proto_options=proto_options,
        ),
        )
        _session_fields(request, session, new_session, lease, owner)
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

    def watch_events(self, session: Optional[str] = None, cassette: Optional[str] = None) -> EventStream:
        """Follows what the server does, live (``WatchEvents``): every exchange
        (method, URL with query values redacted, status, result), every miss
        with its explanation, and session events, from now on.

        ``session`` (a session id, ``"default"`` for the default session) and
        ``cassette`` filter; both ANDed, ``None``: all. Returns an
        :class:`~matgto.events.EventStream` once the server has subscribed:
        iterate it for ``matgto.v1.Event`` messages, ``close()`` it (or use
        ``with``) to stop. There is no deadline on the stream. A read token is
        enough; a prefix token sees only its cassettes. A refused call (no
        token: :class:`~matgto.errors.UnauthenticatedError`) raises here or,
        at the latest, on the first ``next()`` (gRPC may hand over the empty
        headers of a refusal before its status).
        """
        request = control_pb2.WatchEventsRequest(session=session or "", cassette=cassette or "")
        self._ready("WatchEvents")
        try:
            call = self._stub.WatchEvents(request, timeout=None)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, method="WatchEvents", address=self.address) from None
        stream = EventStream(call, address=self.address)
        try:
            stream._raise_if_failed()
        except BaseException:
            stream.close()
            raise
        return stream

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

    def session(
        self,
        name: str,
        mode: Optional[ModeLike] = "auto",
        *,
        lease: Optional[LeaseLike] = DEFAULT_LEASE,
        owner: Optional[str] = None,
        **options: Any,
    ) -> CassetteSession:
        """Opens a **new session** using cassette ``name`` in ``mode`` (default
        ``"auto"``) and returns it; use it as a context manager, which stops
        it on exit::

            with client.session("users/get-1") as s:
                requests.get(url, proxies=s.proxies())   # s.proxy_url, s.id

        The session has a proxy listener of its own, so sessions of parallel
        tests never mix. It has a ``lease`` (default :data:`DEFAULT_LEASE`, 30 s;
        ``None``: none), renewed by a daemon thread every lease/3 until the
        session is stopped; if the process dies, the server ends the session
        after the lease. A renewal answered NOT_FOUND marks the session
        :attr:`~CassetteSession.lost`, and :meth:`~CassetteSession.stop` then
        raises :class:`~matgto.errors.SessionLostError`. ``options``: the
        keyword options of :meth:`use_cassette`.
        """
        info = self.use_cassette(name, mode, new_session=True, lease=lease, owner=owner, **options)
        return CassetteSession(self, info, renew=True)

    @contextlib.contextmanager
    def _ending(self, info: control_pb2.SessionInfo) -> Iterator[CassetteSession]:
        with CassetteSession(self, info, renew=True) as session:
            yield session

    @contextlib.contextmanager
    def recording(self, name: str, **options: Any) -> Iterator[CassetteSession]:
        """``with client.recording(name) as session:`` records into ``name`` and
        stops the session on exit, even on an exception; ``session.summary``
        holds the result afterwards. ``options``: the keyword options of
        :meth:`start_recording` (``new_session=True`` with a ``lease`` is
        renewed in the background, as :meth:`session` does)."""
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

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

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
