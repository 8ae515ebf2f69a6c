"""Durations and byte rates written the way the matgto CLI writes them.

``"200ms"``, ``"2s"``, ``"1m30s"``, ``"1.5s"`` are durations; ``"100KiB"``,
``"1MiB/s"``, ``"500kB"`` are byte rates. Python callers may always pass a
:class:`datetime.timedelta` (or a number of seconds) and an int of bytes per
second instead.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Union

__all__ = ["DurationLike", "BandwidthLike", "parse_duration", "parse_bandwidth", "format_duration", "to_proto_duration"]

#: A duration: a timedelta, a number of seconds, or a string such as ``"200ms"``.
DurationLike = Union[datetime.timedelta, float, int, str]
#: A byte rate: bytes per second (int), or a string such as ``"100KiB"`` / ``"1MiB/s"``.
BandwidthLike = Union[int, str]

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|μs|ms|min|s|m|h)")


def parse_duration(value: DurationLike, what: str = "duration") -> datetime.timedelta:
    """``value`` as a non-negative timedelta.

    Strings are Go-style durations: one or more number+unit parts (``ns``,
    ``us``, ``ms``, ``s``, ``m``, ``h``): ``"200ms"``, ``"1.5s"``, ``"1m30s"``.
    Numbers are seconds. Raises :class:`ValueError` (bad text, negative,
    infinite) or :class:`TypeError` (another type).
    """
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{what} must be finite, not {value!r}")
        result = datetime.timedelta(seconds=seconds) if seconds >= 0 else datetime.timedelta(0)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text in ("0",):
            return datetime.timedelta(0)
        position = 0
        seconds = 0.0
        for part in _DURATION_PART.finditer(text):
            if part.start() != position:
                break
            seconds += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
            position = part.end()
        if not text or position != len(text):
            raise ValueError(
                f"bad {what} {value!r}: expected a number with a unit (ns, us, ms, s, m, h), "
                "e.g. '200ms', '2s', '1m30s'"
            )
        result = datetime.timedelta(seconds=seconds)
    else:
        raise TypeError(
            f"{what} must be a timedelta, a number of seconds or a string such as '200ms', "
            f"not {type(value).__name__}"
        )
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, not {value!r}")
    return result


def format_duration(value: datetime.timedelta) -> str:
    """A short text for a timedelta: ``"200ms"``, ``"2s"``, ``"1.5s"``, ``"0s"``."""
    micros = round(value.total_seconds() * 1_000_000)
    if micros == 0:
        return "0s"
    if micros % 1_000_000 == 0:
        return f"{micros // 1_000_000}s"
    if micros % 1000 == 0 and micros < 1_000_000:
        return f"{micros // 1000}ms"
    if micros < 1000:
        return f"{micros}us"
    return f"{micros / 1_000_000:g}s"


def to_proto_duration(value: datetime.timedelta) -> Any:
    """A ``google.protobuf.Duration`` for ``value``."""
    from google.protobuf import duration_pb2

    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


_RATE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)(?:/s|ps)?")


def parse_bandwidth(value: BandwidthLike, what: str = "bandwidth") -> int:
    """``value`` in bytes per second.

    An int is bytes per second; a string is a number with an optional unit,
    ``B``, ``kB``/``KB`` (1000), ``KiB`` (1024), ``MB``, ``MiB``, ``GB``,
    ``GiB``, optionally followed by ``/s``: ``"100KiB"`` is 102400. Raises
    :class:`ValueError` for bad text or a rate that is not positive.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        rate = value
    elif isinstance(value, float) and value.is_integer():
        rate = int(value)
    elif isinstance(value, str):
        match = _RATE.fullmatch(value.strip().lower().replace(" ", ""))
        if match is None or match.group(2) not in _RATE_UNITS:
            raise ValueError(
                f"bad {what} {value!r}: expected bytes per second, e.g. 102400, '100KiB', '1MiB/s', '500kB'"
            )
        rate = int(float(match.group(1)) * _RATE_UNITS[match.group(2)])
    else:
        raise TypeError(f"{what} must be an int (bytes per second) or a string such as '100KiB', not {value!r}")
    if rate <= 0:
        raise ValueError(f"{what} must be a positive number of bytes per second, not {value!r}")
    if rate >= 2**64:
        raise ValueError(f"{what} is too large: {value!r}")
    return rate
