"""The RPC plumbing :class:`~matgto.Client`'s calls share: the closed and
version checks before a call, its deadline, and gRPC errors as
:class:`~matgto.errors.MatgtoError` subclasses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import grpc

from ._proto import control_pb2
from .errors import MatgtoError, error_from_rpc

#: The ``timeout`` of a call that did not set one: the client's own.
_USE_DEFAULT: Any = object()


class _Rpc:
    """The base class of :class:`~matgto.Client` and of its groups of calls."""

    if TYPE_CHECKING:  # pragma: no cover  (set by Client.__init__)
        address: str
        timeout: Optional[float]
        _stub: Any
        _closed: bool
        _check_version: bool
        _version_ok: bool

        def status(self) -> control_pb2.GetStatusResponse: ...

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
