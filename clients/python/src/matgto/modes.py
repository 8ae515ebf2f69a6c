"""Enumerations mirroring ``matgto.v1`` proto enums, and their parsing.

The members have the proto numbers, and they are :class:`enum.IntEnum`, so they
compare equal to the plain ints found in generated messages::

    client.status().session.mode == Mode.REPLAY
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type, TypeVar, Union

__all__ = [
    "Mode",
    "ExhaustedPolicy",
    "RepeatPolicy",
    "MissPolicy",
    "BodyMatch",
    "MatchField",
    "WsTiming",
    "LatencyMode",
    "ResetWhen",
    "ModeLike",
    "ExhaustedPolicyLike",
    "RepeatPolicyLike",
    "MissPolicyLike",
    "BodyMatchLike",
    "MatchFieldLike",
    "WsTimingLike",
    "LatencyModeLike",
    "ResetWhenLike",
    "parse_mode",
    "parse_exhausted_policy",
    "parse_repeat_policy",
    "parse_miss_policy",
    "parse_body_match",
    "parse_match_field",
    "parse_ws_timing",
    "parse_latency_mode",
    "parse_reset_when",
]


class Mode(enum.IntEnum):
    """How a cassette is used (``matgto.v1.Mode``)."""

    UNSPECIFIED = 0
    #: Replay when the cassette exists, otherwise record it.
    AUTO = 1
    #: Forward to the real upstream and record (overwriting the cassette).
    RECORD = 2
    #: Answer from the cassette only; the cassette must exist.
    REPLAY = 3
    #: Forward to the real upstream, record nothing.
    PASSTHROUGH = 4

    @property
    def proto_name(self) -> str:
        """The value's name in ``matgto.v1.Mode`` (``"MODE_UNSPECIFIED"``, ``"AUTO"``...)."""
        return "MODE_UNSPECIFIED" if self is Mode.UNSPECIFIED else self.name


class ExhaustedPolicy(enum.IntEnum):
    """What replay does once every recorded answer to a request was used
    (``matgto.v1.ExhaustedPolicy``)."""

    UNSPECIFIED = 0
    #: Keep answering with the last recorded response (the server's default).
    REPEAT_LAST = 1
    #: Answer with a no-match error (HTTP 599).
    ERROR = 2

    @property
    def proto_name(self) -> str:
        """The value's name in ``matgto.v1.ExhaustedPolicy``."""
        return {0: "EXHAUSTED_POLICY_UNSPECIFIED", 1: "REPEAT_LAST", 2: "EXHAUSTED_ERROR"}[int(self)]


class RepeatPolicy(enum.IntEnum):
    """How recorded interactions are consumed in replay (``matgto.v1.RepeatPolicy``)."""

    UNSPECIFIED = 0
    #: Each recorded interaction answers once, in recorded order (the default).
    SEQUENTIAL = 1
    #: Any matching interaction answers, any number of times.
    REUSE = 2

    @property
    def proto_name(self) -> str:
        return "REPEAT_POLICY_UNSPECIFIED" if self is RepeatPolicy.UNSPECIFIED else self.name


class MissPolicy(enum.IntEnum):
    """What replay does with a request nothing matches (``matgto.v1.MissPolicy``)."""

    UNSPECIFIED = 0
    #: Answer 599 with the explanation (the default).
    ERROR = 1
    #: Forward to the real upstream, record nothing.
    PASSTHROUGH = 2
    #: Forward and append the new exchange to the cassette ("new episodes").
    RECORD = 3

    @property
    def proto_name(self) -> str:
        return "MISS_POLICY_UNSPECIFIED" if self is MissPolicy.UNSPECIFIED else "MISS_" + self.name


class BodyMatch(enum.IntEnum):
    """How request bodies are compared (``matgto.v1.BodyMatch``)."""

    UNSPECIFIED = 0
    #: Byte for byte (the default).
    EXACT = 1
    #: Semantically equal JSON, ``ignore_json_pointers`` left out.
    JSON = 2
    #: ``application/x-www-form-urlencoded`` fields in any order, ``ignore_form_fields`` left out.
    FORM = 3
    #: Bodies are not compared.
    IGNORE = 4

    @property
    def proto_name(self) -> str:
        return "BODY_MATCH_UNSPECIFIED" if self is BodyMatch.UNSPECIFIED else "BODY_" + self.name


class MatchField(enum.IntEnum):
    """A part of a request that matching compares (``matgto.v1.MatchField``)."""

    UNSPECIFIED = 0
    METHOD = 1
    SCHEME = 2
    HOST = 3
    PORT = 4
    PATH = 5
    QUERY = 6
    #: The headers named in ``MatchRules.headers``.
    HEADERS = 7
    BODY = 8

    @property
    def proto_name(self) -> str:
        return "MATCH_FIELD_UNSPECIFIED" if self is MatchField.UNSPECIFIED else self.name


class WsTiming(enum.IntEnum):
    """How replay paces the server messages of a WebSocket session (``matgto.v1.WsTiming``)."""

    UNSPECIFIED = 0
    #: As fast as possible (the default); ``"fast"``.
    FAST = 1
    #: Keep the recorded gaps (divided by ``ws_speed``); ``"as-recorded"``.
    AS_RECORDED = 2

    @property
    def proto_name(self) -> str:
        return {0: "WS_TIMING_UNSPECIFIED", 1: "AS_FAST_AS_POSSIBLE", 2: "AS_RECORDED"}[int(self)]


class LatencyMode(enum.IntEnum):
    """How fast replay answers an HTTP request (``matgto.v1.LatencyMode``)."""

    UNSPECIFIED = 0
    #: At once (the default); ``"fast"``.
    FAST = 1
    #: After the recorded time to first byte, ending after the recorded total
    #: (times the scale); ``"as-recorded"``.
    AS_RECORDED = 2
    #: After a fixed delay, optionally with jitter.
    FIXED = 3

    @property
    def proto_name(self) -> str:
        return "LATENCY_MODE_UNSPECIFIED" if self is LatencyMode.UNSPECIFIED else "LATENCY_" + self.name


class ResetWhen(enum.IntEnum):
    """Where a ``reset`` fault breaks the connection (``matgto.v1.ResetFault.When``)."""

    #: The server treats it as :attr:`BEFORE_HEADERS`.
    UNSPECIFIED = 0
    #: Nothing is sent; ``"before-headers"``.
    BEFORE_HEADERS = 1
    #: The status line and headers are sent, then the connection breaks; ``"after-headers"``.
    AFTER_HEADERS = 2
    #: Half the body is sent, then the connection breaks; ``"mid-body"``.
    MID_BODY = 3

    @property
    def proto_name(self) -> str:
        return "WHEN_UNSPECIFIED" if self is ResetWhen.UNSPECIFIED else self.name

    @property
    def label(self) -> str:
        """``"before-headers"``, ``"after-headers"``, ``"mid-body"`` (as the CLI spells them)."""
        return "before-headers" if self is ResetWhen.UNSPECIFIED else self.name.lower().replace("_", "-")


#: A mode: a :class:`Mode`, its proto number, or its name (``"auto"``, ``"record"``,
#: ``"replay"``, ``"passthrough"``, case-insensitive).
ModeLike = Union[Mode, int, str]
#: An exhausted policy: an :class:`ExhaustedPolicy`, its proto number, or
#: ``"repeat_last"`` / ``"error"``.
ExhaustedPolicyLike = Union[ExhaustedPolicy, int, str]
#: ``"sequential"`` / ``"reuse"``, a :class:`RepeatPolicy` or its proto number.
RepeatPolicyLike = Union[RepeatPolicy, int, str]
#: ``"error"`` / ``"passthrough"`` / ``"record"``, a :class:`MissPolicy` or its proto number.
MissPolicyLike = Union[MissPolicy, int, str]
#: ``"exact"`` / ``"json"`` / ``"form"`` / ``"ignore"``, a :class:`BodyMatch` or its proto number.
BodyMatchLike = Union[BodyMatch, int, str]
#: ``"method"``, ``"scheme"``, ``"host"``, ``"port"``, ``"path"``, ``"query"``,
#: ``"headers"``, ``"body"``, a :class:`MatchField` or its proto number.
MatchFieldLike = Union[MatchField, int, str]
#: ``"fast"`` / ``"as-recorded"``, a :class:`WsTiming` or its proto number.
WsTimingLike = Union[WsTiming, int, str]
#: ``"fast"`` / ``"as-recorded"`` / ``"fixed"``, a :class:`LatencyMode` or its proto number.
LatencyModeLike = Union[LatencyMode, int, str]
#: ``"before-headers"`` / ``"after-headers"`` / ``"mid-body"``, a :class:`ResetWhen` or its proto number.
ResetWhenLike = Union[ResetWhen, int, str]

_MODE_NAMES = {m.name.lower(): m for m in Mode if m is not Mode.UNSPECIFIED}
_POLICY_NAMES = {
    "repeat_last": ExhaustedPolicy.REPEAT_LAST,
    "repeat-last": ExhaustedPolicy.REPEAT_LAST,
    "error": ExhaustedPolicy.ERROR,
    "exhausted_error": ExhaustedPolicy.ERROR,
}


def parse_mode(value: ModeLike) -> Mode:
    """Converts ``value`` to a :class:`Mode`; raises :class:`ValueError` on anything else."""
    if isinstance(value, str):
        try:
            return _MODE_NAMES[value.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown matgto mode {value!r}; expected one of {', '.join(_MODE_NAMES)}"
            ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return Mode(value)
        except ValueError:
            raise ValueError(f"unknown matgto mode number {value}") from None
    raise ValueError(f"a matgto mode must be a Mode, an int or a str, not {type(value).__name__}")


def parse_exhausted_policy(value: Optional[ExhaustedPolicyLike]) -> Optional[ExhaustedPolicy]:
    """Converts ``value`` to an :class:`ExhaustedPolicy` (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return _POLICY_NAMES[value.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown on_exhausted policy {value!r}; expected 'repeat_last' or 'error'"
            ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ExhaustedPolicy(value)
        except ValueError:
            raise ValueError(f"unknown on_exhausted policy number {value}") from None
    raise ValueError(
        f"on_exhausted must be an ExhaustedPolicy, an int or a str, not {type(value).__name__}"
    )


_E = TypeVar("_E", bound=enum.IntEnum)


def _parse_enum(value: Union[_E, int, str], cls: Type[_E], names: Dict[str, _E], what: str, expected: str) -> _E:
    if isinstance(value, str):
        try:
            return names[value.strip().lower().replace("-", "_")]
        except KeyError:
            raise ValueError(f"unknown {what} {value!r}; expected {expected}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {what} number {value}") from None
    raise ValueError(f"{what} must be a {cls.__name__}, an int or a str, not {type(value).__name__}")


def _names(cls: Type[_E], **extra: _E) -> Dict[str, _E]:
    names = {m.name.lower(): m for m in cls if m.name != "UNSPECIFIED"}
    names.update(extra)
    return names


_REPEAT_NAMES = _names(RepeatPolicy)
_MISS_NAMES = _names(MissPolicy)
_BODY_NAMES = _names(BodyMatch)
_FIELD_NAMES = _names(MatchField, header=MatchField.HEADERS)
_WS_TIMING_NAMES = _names(WsTiming, as_fast_as_possible=WsTiming.FAST)
_LATENCY_MODE_NAMES = _names(LatencyMode, recorded=LatencyMode.AS_RECORDED)
_RESET_WHEN_NAMES = _names(
    ResetWhen, before=ResetWhen.BEFORE_HEADERS, after=ResetWhen.AFTER_HEADERS, mid=ResetWhen.MID_BODY,
    body=ResetWhen.MID_BODY,
)


def parse_repeat_policy(value: Optional[RepeatPolicyLike]) -> Optional[RepeatPolicy]:
    """``"sequential"`` / ``"reuse"`` (or the enum, or its number); ``None`` stays ``None``."""
    return None if value is None else _parse_enum(
        value, RepeatPolicy, _REPEAT_NAMES, "repeat policy", "'sequential' or 'reuse'"
    )


def parse_miss_policy(value: Optional[MissPolicyLike]) -> Optional[MissPolicy]:
    """``"error"`` / ``"passthrough"`` / ``"record"``; ``None`` stays ``None``."""
    return None if value is None else _parse_enum(
        value, MissPolicy, _MISS_NAMES, "on_miss policy", "'error', 'passthrough' or 'record'"
    )


def parse_body_match(value: Optional[BodyMatchLike]) -> Optional[BodyMatch]:
    """``"exact"`` / ``"json"`` / ``"form"`` / ``"ignore"``; ``None`` stays ``None``."""
    return None if value is None else _parse_enum(
        value, BodyMatch, _BODY_NAMES, "body match", "'exact', 'json', 'form' or 'ignore'"
    )


def parse_match_field(value: MatchFieldLike) -> MatchField:
    """``"method"``, ``"scheme"``, ``"host"``, ``"port"``, ``"path"``, ``"query"``, ``"headers"``, ``"body"``."""
    return _parse_enum(
        value, MatchField, _FIELD_NAMES, "match field",
        "'method', 'scheme', 'host', 'port', 'path', 'query', 'headers' or 'body'",
    )


def parse_ws_timing(value: Optional[WsTimingLike], what: str = "ws_timing") -> Optional[WsTiming]:
    """``"fast"`` / ``"as-recorded"``; ``None`` stays ``None``. ``what`` names
    the option in errors (``"stream_timing"`` uses the same values)."""
    return None if value is None else _parse_enum(
        value, WsTiming, _WS_TIMING_NAMES, what, "'fast' or 'as-recorded'"
    )


def parse_latency_mode(value: Optional[LatencyModeLike]) -> Optional[LatencyMode]:
    """``"fast"`` / ``"as-recorded"`` / ``"fixed"``; ``None`` stays ``None``."""
    return None if value is None else _parse_enum(
        value, LatencyMode, _LATENCY_MODE_NAMES, "latency mode", "'fast', 'as-recorded' or 'fixed'"
    )


def parse_reset_when(value: ResetWhenLike) -> ResetWhen:
    """``"before-headers"`` / ``"after-headers"`` / ``"mid-body"`` (or the enum, or its number)."""
    return _parse_enum(
        value, ResetWhen, _RESET_WHEN_NAMES, "reset point", "'before-headers', 'after-headers' or 'mid-body'"
    )
