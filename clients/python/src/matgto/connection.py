"""How the client reaches a (possibly secured) matgto control API.

A central server may require TLS (``--control-tls-cert``), a client certificate
(mTLS, ``--control-client-ca``) and a bearer token (``--auth-tokens``). The
client's connection options come from its arguments, else from the environment:

=====================  ====================  =================================================
argument               environment           meaning
=====================  ====================  =================================================
``token``              ``MATGTO_TOKEN``      sent as ``authorization: Bearer TOKEN`` on every call
``tls_ca``             ``MATGTO_TLS_CA``     PEM file (or PEM bytes) of the roots that sign the server
``tls_cert``           ``MATGTO_TLS_CERT``   client certificate chain (PEM) for mTLS
``tls_key``            ``MATGTO_TLS_KEY``    its private key (PEM)
``tls``                                      ``None``: TLS when a CA or client certificate is
                                             configured (or the address is ``https://host:port``),
                                             else plaintext; ``True``: TLS (the system roots unless
                                             ``tls_ca``); ``False``: plaintext, explicitly (the TLS
                                             variables are then ignored)
=====================  ====================  =================================================

Plaintext stays the default: it is what a loopback sidecar speaks. A token is not
sent in plaintext to a host other than loopback unless plaintext was chosen
explicitly (``tls=False``, e.g. behind a service mesh that encrypts): gRPC's call
credentials refuse insecure channels, and so does this client by default.
Over TLS the token travels as gRPC call credentials
(:func:`grpc.access_token_call_credentials`); over plaintext, where Python's gRPC
has no call credentials, a client interceptor adds the same metadata.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from .errors import MatgtoError

__all__ = [
    "DEFAULT_SERVER",
    "SERVER_ENV",
    "TOKEN_ENV",
    "TLS_CA_ENV",
    "TLS_CERT_ENV",
    "TLS_KEY_ENV",
    "ConnectionSettings",
    "PemSource",
    "control_channel_options",
    "default_server_address",
    "is_loopback_target",
    "open_channel",
    "resolve_connection",
    "split_scheme",
]

#: Control address used when neither an address nor ``$MATGTO_SERVER`` is given.
DEFAULT_SERVER = "127.0.0.1:8889"
#: Environment variable holding the control address.
SERVER_ENV = "MATGTO_SERVER"
#: Environment variable holding the bearer token.
TOKEN_ENV = "MATGTO_TOKEN"
#: Environment variable naming the PEM file of the roots that sign the server's certificate.
TLS_CA_ENV = "MATGTO_TLS_CA"
#: Environment variable naming the client certificate (PEM) for mTLS.
TLS_CERT_ENV = "MATGTO_TLS_CERT"
#: Environment variable naming the client certificate's private key (PEM).
TLS_KEY_ENV = "MATGTO_TLS_KEY"

#: A PEM source: a file path, or the PEM itself as bytes.
PemSource = Union[str, "os.PathLike[str]", bytes]


@dataclass(frozen=True)
class ConnectionSettings:
    """The resolved connection options of a :class:`~matgto.Client`.

    Attributes:
        tls: Whether the channel uses TLS.
        token: The bearer token, or ``None``.
        ca: PEM roots (``None``: the system's roots).
        cert: PEM client certificate chain for mTLS, or ``None``.
        key: PEM private key of ``cert``, or ``None``.
        explicit_plaintext: ``tls=False`` was passed.
    """

    tls: bool = False
    token: Optional[str] = None
    ca: Optional[bytes] = None
    cert: Optional[bytes] = None
    key: Optional[bytes] = None
    explicit_plaintext: bool = False

    def __repr__(self) -> str:  # never show the token
        return (
            f"ConnectionSettings(tls={self.tls}, token={'***' if self.token else None}, "
            f"ca={self.ca is not None}, cert={self.cert is not None})"
        )


def default_server_address() -> str:
    """``$MATGTO_SERVER`` when set and not empty, else :data:`DEFAULT_SERVER`."""
    return os.environ.get(SERVER_ENV, "").strip() or DEFAULT_SERVER


def split_scheme(address: str) -> Tuple[str, Optional[bool]]:
    """``"https://h:1/"`` -> ``("h:1", True)``; ``"http://h:1"`` -> ``("h:1", None)``;
    anything else unchanged (as the ``matgto`` CLI reads ``--server``)."""
    for scheme, tls in (("https://", True), ("http://", None)):
        if address.lower().startswith(scheme):
            return address[len(scheme):].rstrip("/"), tls
    return address, None


def _read_pem(value: Optional[PemSource], what: str, env: str, from_env: bool) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    path = os.fspath(value)
    source = f" (from ${env})" if from_env else ""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise MatgtoError(f"cannot read the {what} {path!r}{source}: {err.strerror or err}") from None


def _pick(arg: Optional[PemSource], env: str, environ: Mapping[str, str]) -> Tuple[Optional[PemSource], bool]:
    if arg is not None:
        return arg, False
    value = environ.get(env, "").strip()
    return (value, True) if value else (None, False)


def resolve_connection(
    address: str,
    *,
    token: Optional[str] = None,
    tls: Optional[bool] = None,
    tls_ca: Optional[PemSource] = None,
    tls_cert: Optional[PemSource] = None,
    tls_key: Optional[PemSource] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> ConnectionSettings:
    """Turns the client's arguments and the environment into :class:`ConnectionSettings`.

    Arguments win over the environment; ``token=""`` sends no token whatever
    ``$MATGTO_TOKEN`` says. Raises :class:`ValueError` for a client certificate
    without its key (or the reverse), TLS files with ``tls=False``, or a token
    that would go in plaintext to a non-loopback ``address`` without ``tls=False``;
    :class:`~matgto.errors.MatgtoError` for an unreadable file.
    """
    env = os.environ if environ is None else environ
    if token is None:
        token = env.get(TOKEN_ENV, "").strip() or None
    elif not isinstance(token, str):
        raise TypeError(f"token must be a str, not {type(token).__name__}")
    token = token or None
    if token is not None and any(c in token for c in "\r\n"):
        raise ValueError("the token contains a line break")

    if tls is False:
        if tls_ca is not None or tls_cert is not None or tls_key is not None:
            raise ValueError("tls=False (plaintext) cannot be combined with tls_ca, tls_cert or tls_key")
        return ConnectionSettings(tls=False, token=token, explicit_plaintext=True)

    ca, ca_env = _pick(tls_ca, TLS_CA_ENV, env)
    cert, cert_env = _pick(tls_cert, TLS_CERT_ENV, env)
    key, key_env = _pick(tls_key, TLS_KEY_ENV, env)
    if (cert is None) != (key is None):
        raise ValueError(
            "a client certificate needs its key: give both tls_cert and tls_key "
            f"(or ${TLS_CERT_ENV} and ${TLS_KEY_ENV}), or neither"
        )
    use_tls = bool(tls) or ca is not None or cert is not None
    if not use_tls:
        if token is not None and not is_loopback_target(address):
            raise ValueError(
                f"refusing to send the token in plaintext to {address}: connect with TLS "
                f"(tls_ca=... or ${TLS_CA_ENV}, or tls=True for the system roots), or pass "
                "tls=False to choose plaintext explicitly (e.g. behind an encrypting service mesh)"
            )
        return ConnectionSettings(tls=False, token=token)
    return ConnectionSettings(
        tls=True,
        token=token,
        ca=_read_pem(ca, "TLS CA file", TLS_CA_ENV, ca_env),
        cert=_read_pem(cert, "TLS client certificate", TLS_CERT_ENV, cert_env),
        key=_read_pem(key, "TLS client key", TLS_KEY_ENV, key_env),
    )


def _target_host(target: str) -> str:
    if target.startswith(("unix:", "unix-abstract:")):
        return "localhost"
    for prefix in ("dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix):]
            break
    target = target.split(",")[0].rsplit("/", 1)[-1]
    if target.startswith("["):
        return target[1:].partition("]")[0]
    if target.count(":") == 1:
        return target.partition(":")[0]
    return target


def is_loopback_target(target: str) -> bool:
    """Whether the gRPC ``target`` names this machine (``localhost``, 127.0.0.0/8, ``::1``, a unix socket)."""
    host = _target_host(target).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _BearerInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer TOKEN`` to every call of a plaintext channel."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        metadata = [m for m in (details.metadata or ()) if m[0] != "authorization"]
        metadata.append(self._header)
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


class _Details(grpc.ClientCallDetails):  # type: ignore[misc]
    """``ClientCallDetails`` with other metadata (when grpc's is not a namedtuple)."""

    def __init__(self, base: Any, metadata: Sequence[Tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


def open_channel(address: str, settings: ConnectionSettings, options: Sequence[Tuple[str, Any]]) -> grpc.Channel:
    """A channel to ``address`` as ``settings`` say."""
    if settings.tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=settings.ca, private_key=settings.key, certificate_chain=settings.cert
        )
        if settings.token:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(settings.token)
            )
        return grpc.secure_channel(address, credentials, options=list(options))
    channel = grpc.insecure_channel(address, options=list(options))
    if settings.token:
        channel = grpc.intercept_channel(channel, _BearerInterceptor(settings.token))
    return channel


def control_channel_options(extra: Sequence[Tuple[str, Any]] = ()) -> List[Tuple[str, Any]]:
    """``extra`` plus ``grpc.enable_http_proxy=0`` unless ``extra`` sets it: the
    control channel never follows ``HTTP(S)_PROXY``/``grpc_proxy`` by default
    (gRPC reads them; tests often point them at matgto itself). gRPC takes the
    first value of a repeated option, so ``extra`` comes first."""
    options = list(extra)
    if not any(name == "grpc.enable_http_proxy" for name, _ in options):
        options.append(("grpc.enable_http_proxy", 0))
    return options
