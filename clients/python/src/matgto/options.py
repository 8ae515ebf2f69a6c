"""Cassette options: matching rules, redaction rules and replay policies.

The keyword arguments of :meth:`matgto.Client.start_recording`,
:meth:`~matgto.Client.replay`, :meth:`~matgto.Client.use_cassette`, the
context managers and the pytest marker all end up here, in
:func:`cassette_options`, which builds the generated
``matgto.v1.CassetteOptions`` message::

    client.replay(
        "users/create",
        match=MatchRules(body="json", ignore_json_pointers=["/meta/ts"]),
        on_miss="record",
        redact=RedactRules(query_params=["token"]),
    )

On ``replay`` / ``use_cassette`` (when it replays) the options that are set
override the ones stored in the cassette for that session, field by field;
``match`` and ``redact`` replace the stored rules whole.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from ._proto import cassette_pb2
from .modes import (
    BodyMatch,
    BodyMatchLike,
    ExhaustedPolicyLike,
    LatencyMode,
    MatchField,
    MatchFieldLike,
    MissPolicyLike,
    RepeatPolicyLike,
    WsTimingLike,
    parse_body_match,
    parse_exhausted_policy,
    parse_latency_mode,
    parse_match_field,
    parse_miss_policy,
    parse_repeat_policy,
    parse_ws_timing,
)
from .units import format_duration, parse_duration, to_proto_duration

__all__ = [
    "Latency",
    "LatencyLike",
    "MatchRules",
    "RedactRules",
    "MatchRulesLike",
    "RedactRulesLike",
    "latency_proto",
    "UrlRewriteLike",
    "OPTION_NAMES",
    "cassette_options",
]

#: A URL rewrite: ``(pattern, replacement)`` (RE2; ``\\1`` refers to groups) or a
#: generated ``UrlRewrite`` message.
UrlRewriteLike = Union[Tuple[str, str], "cassette_pb2.UrlRewrite"]


def _strings(value: Any, what: str) -> Tuple[str, ...]:
    """A tuple of str from a sequence of str (a lone str is one item, not its characters)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} must hold str values, not {type(item).__name__}")
    return items


def _rewrite(value: Any) -> Tuple[str, str]:
    if isinstance(value, cassette_pb2.UrlRewrite):
        return (value.pattern, value.replacement)
    if isinstance(value, Mapping):
        return (str(value["pattern"]), str(value.get("replacement", "")))
    try:
        pattern, replacement = value
    except (TypeError, ValueError):
        raise TypeError(
            f"a URL rewrite is a (pattern, replacement) pair, not {value!r}"
        ) from None
    if not isinstance(pattern, str) or not isinstance(replacement, str):
        raise TypeError(f"a URL rewrite is a pair of str, not {value!r}")
    return (pattern, replacement)


@dataclass(frozen=True)
class MatchRules:
    """Which requests are "the same" (``matgto.v1.MatchRules``).

    Everything unset means the server's default: method, scheme, host, port,
    path, query and body compared exactly.

    Attributes:
        fields: The parts compared: ``"method"``, ``"scheme"``, ``"host"``,
            ``"port"``, ``"path"``, ``"query"``, ``"headers"``, ``"body"``.
            Empty: all but ``"headers"``.
        headers: Header names compared (case-insensitive). Without ``fields``
            they are compared in addition to the default parts.
        ignore_query_params: Query parameters left out of the comparison.
        query_order_insensitive: ``a=1&b=2`` equals ``b=2&a=1``.
        body: ``"exact"``, ``"json"`` (semantic), ``"form"`` or ``"ignore"``.
            Left unset, ``ignore_json_pointers`` implies ``"json"`` and
            ``ignore_form_fields`` implies ``"form"`` (as ``matgto record
            --ignore-json`` / ``--ignore-form`` do).
        ignore_json_pointers: RFC 6901 pointers (``"/meta/ts"``) left out of JSON bodies.
        ignore_form_fields: Form fields left out of form bodies.
        url_rewrites: ``(pattern, replacement)`` RE2 rewrites applied to both
            URLs before comparing, e.g. ``(r"/users/[0-9]+", "/users/N")``.
    """

    fields: Sequence[MatchFieldLike] = ()
    headers: Sequence[str] = ()
    ignore_query_params: Sequence[str] = ()
    query_order_insensitive: bool = False
    body: Optional[BodyMatchLike] = None
    ignore_json_pointers: Sequence[str] = ()
    ignore_form_fields: Sequence[str] = ()
    url_rewrites: Sequence[UrlRewriteLike] = ()

    def __post_init__(self) -> None:
        fields = (self.fields,) if isinstance(self.fields, (str, int)) else tuple(self.fields or ())
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("fields", tuple(parse_match_field(f) for f in fields))
        set_("headers", _strings(self.headers, "MatchRules.headers"))
        set_("ignore_query_params", _strings(self.ignore_query_params, "MatchRules.ignore_query_params"))
        set_("query_order_insensitive", bool(self.query_order_insensitive))
        set_("ignore_json_pointers", _strings(self.ignore_json_pointers, "MatchRules.ignore_json_pointers"))
        set_("ignore_form_fields", _strings(self.ignore_form_fields, "MatchRules.ignore_form_fields"))
        set_("url_rewrites", tuple(_rewrite(r) for r in (self.url_rewrites or ())))
        body = parse_body_match(self.body)
        if body in (None, BodyMatch.UNSPECIFIED):
            if self.ignore_json_pointers:
                body = BodyMatch.JSON
            elif self.ignore_form_fields:
                body = BodyMatch.FORM
            else:
                body = None
        set_("body", body)

    def to_proto(self) -> cassette_pb2.MatchRules:
        """The generated ``matgto.v1.MatchRules`` message."""
        return cassette_pb2.MatchRules(
            fields=[int(f) for f in self.fields],
            headers=list(self.headers),
            ignore_query_params=list(self.ignore_query_params),
            query_order_insensitive=self.query_order_insensitive,
            body=int(self.body) if self.body is not None else 0,
            ignore_json_pointers=list(self.ignore_json_pointers),
            ignore_form_fields=list(self.ignore_form_fields),
            url_rewrites=[
                cassette_pb2.UrlRewrite(pattern=p, replacement=r) for p, r in self.url_rewrites  # type: ignore[misc]
            ],
        )

    @classmethod
    def from_proto(cls, message: cassette_pb2.MatchRules) -> "MatchRules":
        """The rules of a generated message (e.g. ``session.info.options.match_rules``)."""
        return cls(
            fields=[MatchField(f) for f in message.fields],
            headers=list(message.headers),
            ignore_query_params=list(message.ignore_query_params),
            query_order_insensitive=message.query_order_insensitive,
            body=BodyMatch(message.body) if message.body else None,
            ignore_json_pointers=list(message.ignore_json_pointers),
            ignore_form_fields=list(message.ignore_form_fields),
            url_rewrites=[(r.pattern, r.replacement) for r in message.url_rewrites],
        )


_UNREDACTABLE = {
    "warn": cassette_pb2.UNREDACTABLE_WARN,
    "refuse": cassette_pb2.UNREDACTABLE_REFUSE,
}
_UNREDACTABLE_NAME = {v: k for k, v in _UNREDACTABLE.items()}


@dataclass(frozen=True)
class RedactRules:
    """What is removed before anything is written (``matgto.v1.RedactRules``).

    Redacted values become ``"[REDACTED]"``; live requests are redacted the
    same way before matching, so redacted cassettes still match. The server's
    defaults (credential headers such as ``Authorization``) stay on unless
    ``disable_defaults``.

    Attributes:
        headers: Header names, in addition to the defaults (case-insensitive).
        query_params: Query parameter names.
        json_pointers: RFC 6901 pointers into JSON bodies (requests and responses).
        form_fields: ``application/x-www-form-urlencoded`` field names.
        body_patterns: RE2 patterns; every match in a (decoded) body is replaced.
        disable_defaults: Do not redact the usual credential headers.
        json_keys: JSON member names redacted at any depth of a JSON body.
        on_unredactable: What a recording does with an exchange whose body a
            rule cannot be applied to: ``"warn"`` (store it and warn; the
            server's default) or ``"refuse"`` (do not store it); ``None``
            leaves it to the server.
    """

    headers: Sequence[str] = ()
    query_params: Sequence[str] = ()
    json_pointers: Sequence[str] = ()
    form_fields: Sequence[str] = ()
    body_patterns: Sequence[str] = ()
    disable_defaults: bool = False
    json_keys: Sequence[str] = ()
    on_unredactable: Optional[str] = None

    def __post_init__(self) -> None:
        for name in ("headers", "query_params", "json_pointers", "form_fields", "body_patterns", "json_keys"):
            object.__setattr__(self, name, _strings(getattr(self, name), f"RedactRules.{name}"))
        object.__setattr__(self, "disable_defaults", bool(self.disable_defaults))
        if self.on_unredactable is not None and self.on_unredactable not in _UNREDACTABLE:
            raise ValueError(
                f"RedactRules.on_unredactable must be one of {sorted(_UNREDACTABLE)}, not {self.on_unredactable!r}"
            )

    def to_proto(self) -> cassette_pb2.RedactRules:
        """The generated ``matgto.v1.RedactRules`` message."""
        return cassette_pb2.RedactRules(
            headers=list(self.headers),
            query_params=list(self.query_params),
            json_pointers=list(self.json_pointers),
            form_fields=list(self.form_fields),
            body_patterns=list(self.body_patterns),
            disable_defaults=self.disable_defaults,
            json_keys=list(self.json_keys),
            on_unredactable=_UNREDACTABLE.get(self.on_unredactable or "", 0),
        )

    @classmethod
    def from_proto(cls, message: cassette_pb2.RedactRules) -> "RedactRules":
        """The rules of a generated message (e.g. ``cassette.options.redact``)."""
        return cls(
            headers=list(message.headers),
            query_params=list(message.query_params),
            json_pointers=list(message.json_pointers),
            form_fields=list(message.form_fields),
            body_patterns=list(message.body_patterns),
            disable_defaults=message.disable_defaults,
            json_keys=list(message.json_keys),
            on_unredactable=_UNREDACTABLE_NAME.get(message.on_unredactable),
        )


@dataclass(frozen=True)
class Latency:
    """How fast replay answers an HTTP request (``matgto.v1.Latency``), stored
    with a cassette and overridable per session.

    Build one with :meth:`fast`, :meth:`as_recorded` or :meth:`fixed`, or
    let the ``latency=`` option parse ``"fast"``, ``"as-recorded"``,
    ``"200ms"``, ``"100ms±50ms"`` (also ``"100ms+-50ms"``), a timedelta or a
    number of seconds.

    Attributes:
        mode: :class:`~matgto.LatencyMode` ``FAST``, ``AS_RECORDED`` or ``FIXED``.
        scale: ``AS_RECORDED``: recorded times are multiplied by it (2.0 waits
            twice as long); ``None``: 1.0.
        delay: ``FIXED``: how long each response waits before it starts.
        jitter: ``FIXED``: how far ``delay`` may vary either way (uniformly).
    """

    mode: LatencyMode = LatencyMode.FAST
    scale: Optional[float] = None
    delay: Optional[datetime.timedelta] = None
    jitter: Optional[datetime.timedelta] = None

    def __post_init__(self) -> None:
        mode = parse_latency_mode(self.mode)
        if mode is LatencyMode.UNSPECIFIED:
            mode = LatencyMode.FAST
        object.__setattr__(self, "mode", mode)
        if self.scale is not None:
            if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)):
                raise TypeError(f"latency scale must be a number, not {type(self.scale).__name__}")
            scale = float(self.scale)
            if not (scale > 0 and math.isfinite(scale)):
                raise ValueError(f"latency scale must be a positive number, not {self.scale!r}")
            if mode is not LatencyMode.AS_RECORDED:
                raise ValueError("a latency scale applies to as-recorded latency only")
            object.__setattr__(self, "scale", scale)
        if self.delay is not None:
            object.__setattr__(self, "delay", parse_duration(self.delay, "latency delay"))
        if self.jitter is not None:
            object.__setattr__(self, "jitter", parse_duration(self.jitter, "latency jitter"))
        if mode is LatencyMode.FIXED:
            if self.delay is None:
                raise ValueError("fixed latency needs a delay")
        elif self.delay is not None or self.jitter is not None:
            raise ValueError("a latency delay and jitter apply to fixed latency only")

    @classmethod
    def fast(cls) -> "Latency":
        """Answer at once (the default)."""
        return cls(LatencyMode.FAST)

    @classmethod
    def as_recorded(cls, scale: Optional[float] = None) -> "Latency":
        """Each response starts after its recorded time to first byte and ends
        after its recorded total, times ``scale`` (default 1.0)."""
        return cls(LatencyMode.AS_RECORDED, scale=scale)

    @classmethod
    def fixed(cls, delay: Any, jitter: Any = None) -> "Latency":
        """Each response starts after ``delay`` ± ``jitter`` (timedeltas,
        seconds, or strings such as ``"200ms"``)."""
        return cls(LatencyMode.FIXED, delay=delay, jitter=jitter)

    @classmethod
    def parse(cls, value: "LatencyLike") -> "Latency":
        """``"fast"``, ``"as-recorded"``, ``"200ms"``, ``"100ms±50ms"``, a
        timedelta or seconds (fixed), a :class:`Latency` or a generated
        ``matgto.v1.Latency``."""
        if isinstance(value, Latency):
            return value
        if isinstance(value, cassette_pb2.Latency):
            return cls.from_proto(value)
        if isinstance(value, (datetime.timedelta, int, float)) and not isinstance(value, bool):
            return cls.fixed(value)
        if isinstance(value, str):
            text = value.strip()
            key = text.lower().replace("_", "-")
            if key in ("fast", "as-fast-as-possible", "none", "off"):
                return cls.fast()
            if key in ("as-recorded", "recorded"):
                return cls.as_recorded()
            parts = re.split(r"\s*(?:±|\+/-|\+-)\s*", text)
            if len(parts) > 2:
                raise ValueError(f"bad latency {value!r}: one ± at most, e.g. '100ms±50ms'")
            try:
                delay = parse_duration(parts[0], "latency")
                jitter = parse_duration(parts[1], "latency jitter") if len(parts) == 2 else None
            except ValueError:
                raise ValueError(
                    f"bad latency {value!r}: expected 'fast', 'as-recorded', a duration such as "
                    "'200ms' or a duration with jitter such as '100ms±50ms'"
                ) from None
            return cls.fixed(delay, jitter)
        raise TypeError(
            "latency must be 'fast', 'as-recorded', a duration ('200ms', '100ms±50ms', a timedelta, "
            f"seconds), a matgto.Latency or a matgto.v1.Latency, not {type(value).__name__}"
        )

    def to_proto(self) -> cassette_pb2.Latency:
        """The generated ``matgto.v1.Latency`` message."""
        message = cassette_pb2.Latency(mode=int(self.mode))  # type: ignore[arg-type]
        if self.scale is not None:
            message.scale = self.scale
        if self.delay is not None:
            message.fixed.CopyFrom(to_proto_duration(self.delay))
        if self.jitter is not None:
            message.jitter.CopyFrom(to_proto_duration(self.jitter))
        return message

    @classmethod
    def from_proto(cls, message: cassette_pb2.Latency) -> "Latency":
        """The latency of a generated message (e.g. ``session.info.options.latency``)."""
        try:
            mode = LatencyMode(message.mode)
        except ValueError:
            mode = LatencyMode.FAST
        if mode is LatencyMode.AS_RECORDED:
            return cls(mode, scale=message.scale or None)
        if mode is LatencyMode.FIXED:
            return cls(
                mode,
                delay=message.fixed.ToTimedelta(),
                jitter=message.jitter.ToTimedelta() if message.HasField("jitter") else None,
            )
        return cls(LatencyMode.FAST)

    def __str__(self) -> str:
        if self.mode is LatencyMode.AS_RECORDED:
            return "as-recorded" if self.scale in (None, 1.0) else f"as-recorded x{self.scale:g}"
        if self.mode is LatencyMode.FIXED:
            text = format_duration(self.delay)  # type: ignore[arg-type]
            if self.jitter:
                text += "±" + format_duration(self.jitter)
            return text
        return "fast"


#: ``"fast"``, ``"as-recorded"``, ``"200ms"``, ``"100ms±50ms"``, a timedelta or a
#: number of seconds (fixed), a :class:`Latency` or a generated ``matgto.v1.Latency``.
LatencyLike = Union[Latency, "cassette_pb2.Latency", datetime.timedelta, float, int, str]


def latency_proto(latency: Optional[LatencyLike], scale: Optional[float] = None) -> Optional[cassette_pb2.Latency]:
    """The ``matgto.v1.Latency`` for the ``latency=`` and ``latency_scale=``
    options; ``None`` when neither is set. ``latency_scale`` alone means
    as-recorded latency with that scale."""
    if latency is None and scale is None:
        return None
    if isinstance(latency, cassette_pb2.Latency) and scale is None:
        return latency  # sent as is (escape hatch)
    value = Latency.as_recorded() if latency is None else Latency.parse(latency)
    if scale is not None:
        if value.mode is not LatencyMode.AS_RECORDED:
            raise ValueError(f"latency_scale applies to latency='as-recorded' only, not to {str(value)!r}")
        value = Latency.as_recorded(scale)
    return value.to_proto()


#: ``MatchRules``, a generated ``matgto.v1.MatchRules``, or a mapping of
#: ``MatchRules`` keyword arguments (``{"body": "json"}``).
MatchRulesLike = Union[MatchRules, "cassette_pb2.MatchRules", Mapping[str, Any]]
#: ``RedactRules``, a generated ``matgto.v1.RedactRules``, or a mapping of its keyword arguments.
RedactRulesLike = Union[RedactRules, "cassette_pb2.RedactRules", Mapping[str, Any]]


def _match_proto(value: MatchRulesLike) -> cassette_pb2.MatchRules:
    if isinstance(value, MatchRules):
        return value.to_proto()
    if isinstance(value, cassette_pb2.MatchRules):
        return value
    if isinstance(value, Mapping):
        return MatchRules(**value).to_proto()
    raise TypeError(f"match must be a MatchRules, a matgto.v1.MatchRules or a dict, not {type(value).__name__}")


def _redact_proto(value: RedactRulesLike) -> cassette_pb2.RedactRules:
    if isinstance(value, RedactRules):
        return value.to_proto()
    if isinstance(value, cassette_pb2.RedactRules):
        return value
    if isinstance(value, Mapping):
        return RedactRules(**value).to_proto()
    raise TypeError(f"redact must be a RedactRules, a matgto.v1.RedactRules or a dict, not {type(value).__name__}")


def _speed(value: float, what: str) -> float:
    speed = float(value)
    if not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"{what} must be a positive number, not {value!r}")
    return speed


def cassette_options(
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
) -> Optional[cassette_pb2.CassetteOptions]:
    """Builds a ``matgto.v1.CassetteOptions`` message; ``None`` when nothing is set.

    Args:
        on_exhausted: ``"repeat_last"`` (server default) or ``"error"``, once
            every recorded answer to a request has been used.
        repeat: ``"sequential"`` (default: each answer once, in order) or
            ``"reuse"`` (any matching answer, any number of times).
        on_miss: ``"error"`` (default: 599), ``"passthrough"`` (forward live)
            or ``"record"`` (forward and append to the cassette).
        match: :class:`MatchRules` (or a generated message, or a dict of its arguments).
        redact: :class:`RedactRules` (or a generated message, or a dict of its arguments).
        store_decoded: ``True`` stores gzip/deflate/br bodies decoded
            (``DECODED``), ``False`` as sent (``AS_SENT``).
        ws_timing: ``"fast"`` (default) or ``"as-recorded"`` WebSocket replay pacing.
        ws_speed: With ``ws_timing="as-recorded"``: 2.0 replays twice as fast.
        stream_timing: ``"fast"`` (default: the recorded pieces at once) or
            ``"as-recorded"`` replay pacing of streamed HTTP bodies
            (Server-Sent Events, chunked bodies).
        stream_speed: With ``stream_timing="as-recorded"``: 2.0 replays twice as fast.
        latency: How fast replay answers HTTP requests: ``"fast"`` (default),
            ``"as-recorded"`` (the recorded time to first byte and total),
            a fixed delay (``"200ms"``, a timedelta, seconds) or one with
            jitter (``"100ms±50ms"``), or a :class:`Latency`.
        latency_scale: With ``latency="as-recorded"`` (implied when
            ``latency`` is not given): 2.0 waits twice as long.
        proto_options: A generated ``CassetteOptions`` to start from (escape
            hatch for fields this wrapper does not know); the other arguments
            are applied on top of a copy.
    """
    options = cassette_pb2.CassetteOptions()
    touched = False
    if proto_options is not None:
        if not isinstance(proto_options, cassette_pb2.CassetteOptions):
            raise TypeError(
                "proto_options must be a matgto.v1.CassetteOptions message, not "
                + type(proto_options).__name__
            )
        options.CopyFrom(proto_options)
        touched = True
    exhausted = parse_exhausted_policy(on_exhausted)
    if exhausted is not None:
        options.on_exhausted = int(exhausted)  # type: ignore[assignment]
        touched = True
    repeat_policy = parse_repeat_policy(repeat)
    if repeat_policy is not None:
        options.repeat = int(repeat_policy)  # type: ignore[assignment]
        touched = True
    miss = parse_miss_policy(on_miss)
    if miss is not None:
        options.on_miss = int(miss)  # type: ignore[assignment]
        touched = True
    if match is not None:
        options.match_rules.CopyFrom(_match_proto(match))
        touched = True
    if redact is not None:
        options.redact.CopyFrom(_redact_proto(redact))
        touched = True
    if store_decoded is not None:
        options.body_storage = (  # type: ignore[assignment]
            cassette_pb2.DECODED if store_decoded else cassette_pb2.AS_SENT
        )
        touched = True
    timing = parse_ws_timing(ws_timing)
    if timing is not None:
        options.ws_timing = int(timing)  # type: ignore[assignment]
        touched = True
    if ws_speed is not None:
        options.ws_speed = _speed(ws_speed, "ws_speed")
        touched = True
    timing = parse_ws_timing(stream_timing, "stream_timing")
    if timing is not None:
        options.stream_timing = int(timing)  # type: ignore[assignment]
        touched = True
    if stream_speed is not None:
        options.stream_speed = _speed(stream_speed, "stream_speed")
        touched = True
    latency_message = latency_proto(latency, latency_scale)
    if latency_message is not None:
        options.latency.CopyFrom(latency_message)
        touched = True
    return options if touched else None


#: The keyword arguments every cassette call accepts (see :func:`cassette_options`).
OPTION_NAMES: Tuple[str, ...] = (
    "on_exhausted",
    "repeat",
    "on_miss",
    "match",
    "redact",
    "store_decoded",
    "ws_timing",
    "ws_speed",
    "stream_timing",
    "stream_speed",
    "latency",
    "latency_scale",
    "proto_options",
)
