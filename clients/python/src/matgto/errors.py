"""Exceptions raised by the matgto client.

Every error is a :class:`MatgtoError`. Errors answered by the server carry the
gRPC status :attr:`~MatgtoError.code` and the server's own message
(:attr:`~MatgtoError.message`); the subclass tells the code apart:

==========================  ==========================================
gRPC status                 exception
==========================  ==========================================
``NOT_FOUND``               :class:`CassetteNotFoundError`; for a call that named a
                            session (stop, renew, faults) its subclass
                            :class:`SessionNotFoundError`, for ``clear_faults``
                            :class:`FaultNotFoundError`
``INVALID_ARGUMENT``        :class:`InvalidArgumentError`
``FAILED_PRECONDITION``     :class:`FailedPreconditionError`
``DATA_LOSS``               :class:`CorruptCassetteError`
``UNAVAILABLE``             :class:`ServerUnavailableError`
``DEADLINE_EXCEEDED``       :class:`DeadlineExceededError`
``UNIMPLEMENTED``           :class:`UnimplementedError`
``RESOURCE_EXHAUSTED``      :class:`ResourceExhaustedError`
``UNAUTHENTICATED``         :class:`UnauthenticatedError` (no token, or a wrong one)
``PERMISSION_DENIED``       :class:`PermissionDeniedError` (the token's scope forbids it)
anything else               :class:`MatgtoError`
==========================  ==========================================

:class:`IncompatibleServerError` is raised by the client itself when the
server speaks another control API generation, and :class:`SessionLostError`
when a session ended before the client stopped it.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

import grpc

__all__ = [
    "MatgtoError",
    "CassetteNotFoundError",
    "SessionNotFoundError",
    "FaultNotFoundError",
    "InvalidArgumentError",
    "FailedPreconditionError",
    "CorruptCassetteError",
    "ServerUnavailableError",
    "DeadlineExceededError",
    "UnimplementedError",
    "IncompatibleServerError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "SessionLostError",
    "error_class_for",
    "error_from_rpc",
]


class MatgtoError(Exception):
    """Base class of every matgto client error.

    Attributes:
        message: The server's message (gRPC status details), or the client's
            own explanation for errors that did not come from the server.
        code: The gRPC status code, ``None`` for client-side errors.
        method: The control RPC that failed (``"Replay"``...), if any.
        address: The control address of the server, if known.
        rpc_error: The original :class:`grpc.RpcError`, if any.
    """

    rpc_error: Optional[Any] = None

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        method: Optional[str] = None,
        address: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.method = method
        self.address = address

    def __str__(self) -> str:
        text = self.message or "(no message)"
        if self.method:
            text = f"{self.method}: {text}"
        if self.code is not None:
            text = f"{text} [{self.code.name}]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code}, method={self.method!r})"


class CassetteNotFoundError(MatgtoError, LookupError):
    """Something named does not exist (``NOT_FOUND``): replaying an unknown
    cassette, or a ``session`` id that names no open session."""


class SessionNotFoundError(CassetteNotFoundError):
    """The ``session`` id a call named (``stop_recording``, ``renew_session``,
    ``set_faults``, ``start_recording`` on a session) names no open session
    (``NOT_FOUND``). A :class:`CassetteNotFoundError`, as before it existed."""


class FaultNotFoundError(CassetteNotFoundError):
    """``clear_faults`` named a fault id (or session) the server does not know
    (``NOT_FOUND``). A :class:`CassetteNotFoundError`, as before it existed."""


class InvalidArgumentError(MatgtoError, ValueError):
    """The server rejected an argument (``INVALID_ARGUMENT``), e.g. a cassette name with ``..``."""


class FailedPreconditionError(MatgtoError):
    """The server is not in a state that allows the call (``FAILED_PRECONDITION``),
    e.g. ``stop_recording()`` while no cassette is in use."""


class CorruptCassetteError(MatgtoError):
    """A cassette file is corrupt or truncated (``DATA_LOSS``)."""


class ServerUnavailableError(MatgtoError, ConnectionError):
    """The server cannot be reached or is shutting down (``UNAVAILABLE``)."""


class DeadlineExceededError(MatgtoError, TimeoutError):
    """The server did not answer within the client's timeout (``DEADLINE_EXCEEDED``)."""


class UnimplementedError(MatgtoError, NotImplementedError):
    """The server does not implement this call (``UNIMPLEMENTED``), e.g.
    ``ca_certificate()`` on servers older than HTTPS interception."""


class IncompatibleServerError(MatgtoError):
    """The server speaks a control API generation this client does not support."""


class ResourceExhaustedError(MatgtoError):
    """The server is out of something (``RESOURCE_EXHAUSTED``): a new session
    beyond ``--max-sessions``, or no free port for it."""


class UnauthenticatedError(MatgtoError):
    """The server wants a bearer token and got none, or one it does not know
    (``UNAUTHENTICATED``): pass ``token=`` or set ``$MATGTO_TOKEN``."""


class PermissionDeniedError(MatgtoError, PermissionError):
    """The token is valid but its scope does not allow the call
    (``PERMISSION_DENIED``): e.g. ``start_recording`` with a ``read`` token,
    ``shutdown`` without ``admin``, or a cassette outside the token's name prefix."""


class SessionLostError(MatgtoError):
    """A session ended before this client stopped it: its lease expired, a
    renewal found it gone, another client stopped it, or the server restarted.

    Attributes:
        session_id: The id of the session.
        summary: The server's ``SessionSummary`` of that end (``end_reason``,
            ``ended_at``, ``saved_path``, ``save_error``) when ``GetStatus``
            still listed it under ``ended_sessions``, else ``None``.
    """

    def __init__(self, message: str, *, session_id: str, summary: Any = None, address: Optional[str] = None) -> None:
        super().__init__(message, address=address)
        self.session_id = session_id
        self.summary = summary


_BY_CODE: Dict[grpc.StatusCode, Type[MatgtoError]] = {
    grpc.StatusCode.NOT_FOUND: CassetteNotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.DATA_LOSS: CorruptCassetteError,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}


#: What a ``NOT_FOUND`` of each RPC is about (others: the cassette).
_NOT_FOUND_ABOUT: Dict[str, str] = {
    "StartRecording": "session",
    "StopRecording": "session",
    "RenewSession": "session",
    "SetFaults": "session",
    "ClearFaults": "fault",
}
_NOT_FOUND_BY_ABOUT: Dict[str, Type[MatgtoError]] = {
    "cassette": CassetteNotFoundError,
    "session": SessionNotFoundError,
    "fault": FaultNotFoundError,
}


def error_class_for(code: Optional[grpc.StatusCode], about: Optional[str] = None) -> Type[MatgtoError]:
    """The exception class used for gRPC status ``code``; for ``NOT_FOUND``,
    ``about`` (``"cassette"``, ``"session"``, ``"fault"``: what the failed call
    named) picks the subclass."""
    if code is None:
        return MatgtoError
    if code is grpc.StatusCode.NOT_FOUND:
        return _NOT_FOUND_BY_ABOUT.get(about or "cassette", CassetteNotFoundError)
    return _BY_CODE.get(code, MatgtoError)


def error_from_rpc(
    error: Any, *, method: Optional[str] = None, address: Optional[str] = None, about: Optional[str] = None
) -> MatgtoError:
    """Converts a failed gRPC call (a :class:`grpc.RpcError` that is also a
    :class:`grpc.Call`) into the matching :class:`MatgtoError`.

    The original error stays available as ``rpc_error`` on the result.
    ``about`` says what the call named for a ``NOT_FOUND`` (default: from
    ``method``, see :func:`error_class_for`).
    """
    code = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else None
    message = details or (code.name if code is not None else str(error))
    if code is grpc.StatusCode.UNAVAILABLE and address:
        message = f"matgto server at {address} is unavailable: {message}"
    if about is None:
        about = _NOT_FOUND_ABOUT.get(method or "", "cassette")
    result = error_class_for(code, about)(message, code=code, method=method, address=address)
    result.rpc_error = error
    return result
