"""Replay misses: which ones fail a test, and how to explain them.

A ``matgto.v1.Miss`` is a request replay could not answer from the cassette.
Misses whose ``reason`` is ``no-match``, ``exhausted`` or ``ws-mismatch`` were
refused (HTTP 599, or a WebSocket closed with 1008): they fail a test. Misses
the miss policy forwarded live (``"no-match, passed through"``,
``"no-match, recorded"``) are not failures. See clients/CONTRACT.md,
"Sessions (issue 9)".
"""

from __future__ import annotations

from typing import Iterable, List, Sequence

from ._proto import control_pb2

__all__ = ["FAILING_REASONS", "ReplayMissWarning", "failing_misses", "describe_miss", "describe_misses"]

#: ``Miss.reason`` values that mean the request was refused.
FAILING_REASONS = frozenset({"no-match", "exhausted", "ws-mismatch"})
#: Differences shown per candidate, and candidates per miss, in explanations.
MAX_DIFFERENCES = 8
MAX_CANDIDATES = 2
MAX_VALUE_CHARS = 200


class ReplayMissWarning(UserWarning):
    """Issued by the pytest plugin instead of failing a test when misses are
    configured to only warn (``matgto_misses = warn``)."""


def failing_misses(misses: Iterable[control_pb2.Miss]) -> List[control_pb2.Miss]:
    """The misses whose ``reason`` is one that fails a test, oldest first."""
    return [m for m in misses if m.reason in FAILING_REASONS]


def _short(value: str) -> str:
    value = value.replace("\n", "\\n").replace("\r", "\\r")
    if len(value) > MAX_VALUE_CHARS:
        return value[: MAX_VALUE_CHARS - 3] + "..."
    return value


def describe_miss(miss: control_pb2.Miss) -> str:
    """A few lines: the request, the reason, then the closest recorded requests
    and the fields that differ::

        GET http://127.0.0.1:9000/users/2 -> no-match
          closest: #0 GET http://127.0.0.1:9000/users/1
            path: recorded '/users/1', live '/users/2'
    """
    lines = [f"{miss.method} {miss.url} -> {miss.reason or 'miss'}"]
    if not miss.closest:
        lines.append("  no recorded request is close (the cassette may hold none of this kind)")
    for candidate in list(miss.closest)[:MAX_CANDIDATES]:
        lines.append(f"  closest: #{candidate.interaction_index} {candidate.method} {candidate.url}")
        differences = list(candidate.differences)
        for difference in differences[:MAX_DIFFERENCES]:
            lines.append(
                f"    {difference.field}: recorded {_short(difference.recorded)!r}, "
                f"live {_short(difference.live)!r}"
            )
        if len(differences) > MAX_DIFFERENCES:
            lines.append(f"    ... and {len(differences) - MAX_DIFFERENCES} more differences")
    if len(miss.closest) > MAX_CANDIDATES:
        lines.append(f"  ... and {len(miss.closest) - MAX_CANDIDATES} more candidates")
    return "\n".join(lines)


def describe_misses(misses: Sequence[control_pb2.Miss], *, cassette: str = "", session: str = "") -> str:
    """A paragraph for a failure message or a warning: a header naming the
    cassette and the session, then :func:`describe_miss` for each miss."""
    count = len(misses)
    where = f" in cassette {cassette!r}" if cassette else ""
    if session:
        where += f" (session {session})"
    header = f"matgto: {count} replay miss{'es' if count != 1 else ''}{where}:"
    body = "\n".join(_indent(describe_miss(m)) for m in misses)
    return f"{header}\n{body}" if body else header


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
