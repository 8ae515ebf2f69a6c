"""The session fields StartRecording, Replay and UseCassette requests share:
which session, or a new one with its lease and owner; checked before any call."""

from __future__ import annotations

import datetime
from typing import Any, Optional, Union

__all__ = ["LeaseLike", "lease_seconds"]


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


def _duration(value: Union[float, datetime.timedelta]) -> Any:
    from google.protobuf import duration_pb2

    duration = duration_pb2.Duration()
    if isinstance(value, datetime.timedelta):
        duration.FromTimedelta(value)
    else:
        duration.FromNanoseconds(int(round(float(value) * 1e9)))
    return duration
