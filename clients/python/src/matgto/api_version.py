"""The control API generation this client speaks, and the check that a server speaks it too."""

from __future__ import annotations

from typing import Optional, Protocol

from ._version import __version__
from .errors import IncompatibleServerError

__all__ = ["API_VERSION", "StatusLike", "check_api_version"]

#: The control API generation this client speaks (``matgto.v1``).
API_VERSION = 1


class StatusLike(Protocol):
    """What :func:`check_api_version` reads from a ``GetStatusResponse``."""

    api_version: int
    version: str


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
