"""Client for the matgto control API (gRPC service ``matgto.v1.ProxyControl``).

:class:`Client` holds the connection and the server-wide calls; its groups of
calls live in base classes: cassette sessions (:mod:`matgto._session_calls`),
faults (:mod:`matgto._fault_calls`) and stored cassettes
(:mod:`matgto._cassette_calls`), on the plumbing of :mod:`matgto._rpc`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
import threading
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import grpc

from ._cassette_calls import CHUNK_BYTES, _CassetteCalls
from ._fault_calls import _FaultCalls
from ._proto import control_pb2, control_pb2_grpc
from ._session_calls import DEFAULT_LEASE, _SessionCalls
from .api_version import API_VERSION, StatusLike, check_api_version
from .connection import (
    DEFAULT_SERVER,
    SERVER_ENV,
    ConnectionSettings,
    PemSource,
    control_channel_options,
    default_server_address,
    open_channel,
    resolve_connection,
    split_scheme,
)
from .errors import MatgtoError, ServerUnavailableError, error_from_rpc
from .events import EventStream
from .proxy_address import usable_proxy_address, usable_proxy_url
from .session import CassetteSession

# Names this module imported before its split into modules: code that took
# them from ``matgto.client`` keeps working (their homes are the modules
# named here, and the package itself).
from ._proto import cassette_pb2  # noqa: F401,E402
from ._version import __version__  # noqa: F401,E402
from .errors import CassetteNotFoundError, IncompatibleServerError  # noqa: F401,E402
from .faults import Fault, FaultLike, FaultSet, fault_ids, fault_proto, parse_seed  # noqa: F401,E402
from .modes import (  # noqa: F401,E402
    ExhaustedPolicyLike,
    MissPolicyLike,
    ModeLike,
    RepeatPolicyLike,
    WsTimingLike,
    parse_mode,
)
from .options import LatencyLike, MatchRulesLike, RedactRulesLike, cassette_options  # noqa: F401,E402
from .session import DEFAULT_SESSION_ID, timestamp_to_datetime  # noqa: F401,E402
from .session_requests import _duration

# Defined here before they moved to their own modules; still importable from here.
from ._rpc import _USE_DEFAULT  # noqa: F401
from .faults import _added  # noqa: F401
from .proxy_address import _UNSPECIFIED_HOSTS, _host_of_target, _join_host_port, _split_host_port  # noqa: F401
from .session_requests import LeaseLike, _session_fields, lease_seconds  # noqa: F401

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


class Client(_SessionCalls, _FaultCalls, _CassetteCalls):
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
