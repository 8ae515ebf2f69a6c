"""Fault rules: make a dependency slow, flaky or down for one session.

A :class:`Fault` says which requests it hits (``method``, ``url``: an RE2
pattern searched in the absolute URL), how often (``probability``,
``every_nth`` or ``first_n``; none: every matching request) and what it does
(exactly one of ``status``, ``delay``, ``hang``, ``reset``, ``bandwidth``,
or the WebSocket action ``ws_drop_after`` / ``ws_delay``, alone or together)::

    s.add_fault(status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/.*")
    s.add_fault(delay="2s")                          # or timedelta(seconds=2)
    s.add_fault(reset="mid-body", probability=0.1, seed=7)
    s.add_fault(bandwidth="100KiB")                  # bytes per second
    s.add_fault(ws_drop_after=2, ws_delay="300ms")   # WebSocket upgrades only

They are ``matgto.v1.Fault`` messages on the wire (``SetFaults`` /
``ClearFaults``, clients/CONTRACT.md "Latency and faults"), modelled on
Toxiproxy's toxics but applied per request. The client checks the shape of a
rule (one action, at most one selector, types); the server judges the values
(an RE2 pattern that does not compile, a probability outside 0..1, a status
outside 100..999) and answers :class:`~matgto.errors.InvalidArgumentError`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._proto import cassette_pb2, control_pb2
from .errors import MatgtoError
from .modes import ResetWhen, ResetWhenLike, parse_reset_when
from .units import BandwidthLike, DurationLike, format_duration, parse_bandwidth, parse_duration, to_proto_duration

__all__ = [
    "Fault",
    "FaultSet",
    "FaultLike",
    "FAULT_ACTIONS",
    "FAULT_SELECTORS",
    "fault_proto",
    "fault_ids",
    "parse_seed",
]

#: The action keywords of a fault (exactly one per rule).
#: ``"websocket"`` is ``ws_drop_after`` and/or ``ws_delay``.
FAULT_ACTIONS: Tuple[str, ...] = ("status", "delay", "hang", "reset", "bandwidth", "websocket")
#: The selector keywords of a fault (at most one per rule).
FAULT_SELECTORS: Tuple[str, ...] = ("probability", "every_nth", "first_n")
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1

#: Headers of a status fault: a mapping, or ``(name, value)`` pairs (names may repeat).
HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


def _headers(value: Optional[HeadersLike]) -> Tuple[Tuple[str, str], ...]:
    if value is None:
        return ()
    items: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    if isinstance(value, (str, bytes)):
        raise TypeError("headers must be a mapping or (name, value) pairs, not a string")
    result = []
    for item in items:
        try:
            name, text = item
        except (TypeError, ValueError):
            raise TypeError(f"headers must be a mapping or (name, value) pairs; got {item!r}") from None
        if not isinstance(name, str) or not name:
            raise TypeError(f"a header name must be a non-empty str, not {name!r}")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)  # Retry-After=1
        if not isinstance(text, str):
            raise TypeError(f"the value of header {name!r} must be a str, not {type(text).__name__}")
        result.append((name, text))
    return tuple(result)


def _count(value: Any, what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _UINT32_MAX:
        raise ValueError(f"{what} must be between 0 and {_UINT32_MAX}, not {value}")
    return value


def parse_seed(seed: Optional[int]) -> int:
    """A seed for ``SetFaultsRequest.seed``: ``None`` keeps the session's (0)."""
    if seed is None:
        return 0
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    if not 1 <= seed <= _UINT64_MAX:
        raise ValueError(
            f"seed must be between 1 and 2**64-1, not {seed} (None keeps the session's seed)"
        )
    return seed


@dataclass(frozen=True)
class Fault:
    """A fault rule (``matgto.v1.Fault``).

    Match (all requests when both are empty):
        method: An HTTP method (``"GET"``); empty: any.
        url: An RE2 pattern searched in the request's absolute URL (``r"/orders/.*"``).

    How often (at most one; none: every matching request):
        probability: Each matching request with this probability (0..1), drawn
            from the session's seeded generator.
        every_nth: The Nth, 2Nth, ... matching request.
        first_n: The first N matching requests, then never again.

    What it does (exactly one):
        status: Answer this status instead (nothing is forwarded or
            recorded), with ``headers`` (a mapping or pairs) and ``body``
            (bytes, or str sent as UTF-8).
        delay: Wait this long before the response starts (timedelta, seconds,
            or ``"2s"``).
        hang: ``True``: never answer; the client gives up.
        reset: Break the connection with a TCP RST: ``True`` or
            ``"before-headers"``, ``"after-headers"``, ``"mid-body"`` (a
            :class:`~matgto.ResetWhen`).
        bandwidth: Send the body at most this many bytes per second (an int,
            or ``"100KiB"``).
        ws_drop_after, ws_delay: The WebSocket action (one action, either or
            both set; it applies to WebSocket upgrades only, and the HTTP
            actions never do): drop the client's connection, without a close
            frame, after it got ``ws_drop_after`` messages (0: never), and/or
            hold each message to the client back by ``ws_delay`` (timedelta,
            seconds, or ``"300ms"``).

    Set by the server:
        id: ``"f1"``, ``"f2"``... (empty in a rule you build).
        applied: How many requests it has hit so far (not part of equality).
    """

    status: Optional[int] = None
    headers: Any = ()
    body: Any = b""
    delay: Optional[Any] = None
    hang: bool = False
    reset: Optional[Any] = None
    bandwidth: Optional[Any] = None
    ws_drop_after: Optional[int] = None
    ws_delay: Optional[Any] = None
    method: str = ""
    url: str = ""
    probability: Optional[float] = None
    every_nth: Optional[int] = None
    first_n: Optional[int] = None
    id: str = ""
    applied: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        # Match.
        if not isinstance(self.method, str):
            raise TypeError(f"method must be a str, not {type(self.method).__name__}")
        set_("method", self.method.strip().upper())
        if not isinstance(self.url, str):
            raise TypeError(f"url must be a str (an RE2 pattern), not {type(self.url).__name__}")
        # Selector.
        if self.probability is not None:
            if isinstance(self.probability, bool) or not isinstance(self.probability, (int, float)):
                raise TypeError(f"probability must be a number, not {type(self.probability).__name__}")
            set_("probability", float(self.probability))
        set_("every_nth", _count(self.every_nth, "every_nth"))
        set_("first_n", _count(self.first_n, "first_n"))
        selectors = [name for name in FAULT_SELECTORS if getattr(self, name) is not None]
        if len(selectors) > 1:
            raise ValueError(f"a fault takes at most one of probability, every_nth, first_n; got {', '.join(selectors)}")
        # Action.
        if self.status is not None:
            if isinstance(self.status, bool) or not isinstance(self.status, int):
                raise TypeError(f"status must be an int (an HTTP status code), not {type(self.status).__name__}")
            if not 0 <= self.status <= _UINT32_MAX:
                raise ValueError(f"status must be an HTTP status code, not {self.status}")
        set_("headers", _headers(self.headers))
        body = self.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        elif body is None:
            body = b""
        elif not isinstance(body, bytes):
            raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
        set_("body", body)
        if self.status is None and (self.headers or self.body):
            raise ValueError("headers and body go with status=: they are what a status fault answers")
        if self.delay is not None:
            set_("delay", parse_duration(self.delay, "delay"))
        if not isinstance(self.hang, bool):
            raise TypeError(f"hang must be True or False, not {self.hang!r}")
        reset = self.reset
        if reset is False:
            reset = None
        elif reset is True:
            reset = ResetWhen.BEFORE_HEADERS
        elif reset is not None:
            reset = parse_reset_when(reset)
            if reset is ResetWhen.UNSPECIFIED:
                reset = ResetWhen.BEFORE_HEADERS
        set_("reset", reset)
        if self.bandwidth is not None:
            set_("bandwidth", parse_bandwidth(self.bandwidth, "bandwidth"))
        set_("ws_drop_after", _count(self.ws_drop_after, "ws_drop_after"))
        if self.ws_delay is not None:
            set_("ws_delay", parse_duration(self.ws_delay, "ws_delay"))
            if self.ws_drop_after == 0:
                set_("ws_drop_after", None)  # 0 is "never": the same rule as none
        actions = self._actions()
        if len(actions) > 1:
            raise ValueError(f"a fault does exactly one thing; got {', '.join(actions)}")
        if not actions and not getattr(self, "_unknown_action", False):
            raise ValueError(
                "a fault needs an action: status=, delay=, hang=True, reset=, bandwidth= "
                "or ws_drop_after=/ws_delay= "
                "(see matgto.Fault)"
            )
        if not isinstance(self.id, str):
            raise TypeError(f"id must be a str, not {type(self.id).__name__}")

    def _actions(self) -> List[str]:
        present = {
            "status": self.status is not None,
            "delay": self.delay is not None,
            "hang": bool(self.hang),
            "reset": self.reset is not None,
            "bandwidth": self.bandwidth is not None,
            "websocket": self.ws_drop_after is not None or self.ws_delay is not None,
        }
        return [name for name in FAULT_ACTIONS if present[name]]

    @property
    def kind(self) -> str:
        """The action: ``"status"``, ``"delay"``, ``"hang"``, ``"reset"``,
        ``"bandwidth"``, ``"websocket"`` (``ws_drop_after`` / ``ws_delay``), or ``"unknown"`` for an action this client does not
        know (a rule set by a newer client)."""
        actions = self._actions()
        return actions[0] if actions else "unknown"

    @property
    def headers_dict(self) -> dict:
        """:attr:`headers` as a dict (the last value of a repeated name wins)."""
        return dict(self.headers)

    # -- proto ------------------------------------------------------------------

    def to_proto(self) -> control_pb2.Fault:
        """The ``matgto.v1.Fault`` message (``id`` and ``applied`` included when set)."""
        message = control_pb2.Fault(id=self.id, method=self.method, url_pattern=self.url)
        if self.probability is not None:
            message.probability = self.probability
        elif self.every_nth is not None:
            message.every_nth = self.every_nth
        elif self.first_n is not None:
            message.first_n = self.first_n
        if self.status is not None:
            message.status.code = self.status
            message.status.headers.extend(cassette_pb2.Header(name=n, value=v) for n, v in self.headers)
            message.status.body = self.body
        elif self.delay is not None:
            message.delay.CopyFrom(to_proto_duration(self.delay))
        elif self.hang:
            message.hang.SetInParent()
        elif self.reset is not None:
            message.reset.when = int(self.reset)  # type: ignore[assignment]
        elif self.bandwidth is not None:
            message.bandwidth_bytes_per_second = self.bandwidth
        elif self.ws_drop_after is not None or self.ws_delay is not None:
            message.websocket.SetInParent()
            if self.ws_drop_after:
                message.websocket.drop_after_messages = self.ws_drop_after
            if self.ws_delay is not None:
                message.websocket.message_delay.CopyFrom(to_proto_duration(self.ws_delay))
        if self.applied:
            message.applied = self.applied
        return message

    @classmethod
    def from_proto(cls, message: control_pb2.Fault) -> "Fault":
        """The rule of a ``matgto.v1.Fault`` message (as the server returns it).
        Never raises for a rule whose action this client does not know:
        :attr:`kind` is then ``"unknown"``."""
        values: dict = dict(method=message.method, url=message.url_pattern, id=message.id, applied=message.applied)
        selector = message.WhichOneof("selector")
        if selector is not None:
            values[selector] = getattr(message, selector)
        action = message.WhichOneof("action")
        if action == "status":
            values["status"] = message.status.code
            values["headers"] = tuple(
                (h.name, h.value or h.raw_value.decode("latin-1")) for h in message.status.headers
            )
            values["body"] = message.status.body
        elif action == "delay":
            values["delay"] = message.delay.ToTimedelta()
        elif action == "hang":
            values["hang"] = True
        elif action == "reset":
            try:
                values["reset"] = ResetWhen(message.reset.when)
            except ValueError:
                values["reset"] = ResetWhen.BEFORE_HEADERS
        elif action == "bandwidth_bytes_per_second":
            values["bandwidth"] = message.bandwidth_bytes_per_second
        elif action == "websocket":
            ws = message.websocket
            if ws.HasField("message_delay"):
                values["ws_delay"] = ws.message_delay.ToTimedelta()
            if ws.drop_after_messages or "ws_delay" not in values:
                values["ws_drop_after"] = ws.drop_after_messages
        if action is None or action not in (
            "status", "delay", "hang", "reset", "bandwidth_bytes_per_second", "websocket"
        ):
            # An action added after this client: keep the rule, mark it unknown.
            rule = cls.__new__(cls)
            object.__setattr__(rule, "_unknown_action", True)
            for name in cls.__dataclass_fields__:
                object.__setattr__(rule, name, values.get(name, cls.__dataclass_fields__[name].default))
            rule.__post_init__()
            return rule
        return cls(**values)

    # -- text -------------------------------------------------------------------

    def describe(self) -> str:
        """One line, the way ``matgto fault ls`` shows a rule:
        ``"f1: status 503 (Retry-After: 1) first 2, GET /orders/.*; applied 2"``."""
        kind = self.kind
        if kind == "status":
            what = f"status {self.status}"
            if self.headers:
                what += " (" + ", ".join(f"{n}: {v}" for n, v in self.headers) + ")"
        elif kind == "delay":
            what = f"delay {format_duration(self.delay)}"  # type: ignore[arg-type]
        elif kind == "hang":
            what = "hang"
        elif kind == "reset":
            what = f"reset {self.reset.label}"  # type: ignore[union-attr]
        elif kind == "bandwidth":
            what = f"bandwidth {self.bandwidth} B/s"
        elif kind == "websocket":
            parts = []
            if self.ws_drop_after is not None:
                parts.append(f"drop after {self.ws_drop_after} messages")
            if self.ws_delay is not None:
                parts.append(f"delay {format_duration(self.ws_delay)} per message")
            what = "websocket " + ", ".join(parts)
        else:
            what = "unknown action"
        if self.probability is not None:
            what += f" probability {self.probability:g}"
        elif self.every_nth is not None:
            what += f" every {self.every_nth}th"
        elif self.first_n is not None:
            what += f" first {self.first_n}"
        scope = " ".join(part for part in (self.method, self.url) if part) or "every request"
        prefix = f"{self.id}: " if self.id else ""
        return f"{prefix}{what}, {scope}; applied {self.applied}"

    def __str__(self) -> str:
        return self.describe()


#: A fault rule: a :class:`Fault`, a generated ``matgto.v1.Fault``, or a mapping
#: of :class:`Fault` keyword arguments (``{"status": 503, "first_n": 2}``).
FaultLike = Union[Fault, "control_pb2.Fault", Mapping[str, Any]]


def fault_proto(value: FaultLike) -> control_pb2.Fault:
    """The ``matgto.v1.Fault`` message to send for ``value``; ``id`` and
    ``applied`` are cleared (the server assigns them)."""
    if isinstance(value, Fault):
        message = value.to_proto()
    elif isinstance(value, control_pb2.Fault):
        message = control_pb2.Fault()
        message.CopyFrom(value)  # sent as is: the escape hatch for fields this client does not know
    elif isinstance(value, Mapping):
        message = Fault(**value).to_proto()
    else:
        raise TypeError(f"a fault must be a matgto.Fault, a matgto.v1.Fault or a dict, not {type(value).__name__}")
    message.id = ""
    message.applied = 0
    return message


def fault_ids(ids: Union[None, str, Fault, Iterable[Union[str, Fault]]]) -> Optional[List[str]]:
    """The ids named by ``ids`` (a str, a :class:`Fault`, or an iterable of
    those); ``None`` stays ``None`` (every rule)."""
    if ids is None:
        return None
    if isinstance(ids, (str, Fault)):
        ids = [ids]
    result = []
    for item in ids:
        if isinstance(item, Fault):
            if not item.id:
                raise ValueError(f"fault {item.describe()!r} has no id: pass the Fault the server returned")
            result.append(item.id)
        elif isinstance(item, str) and item:
            result.append(item)
        else:
            raise TypeError(f"fault ids must be non-empty strs or Faults, not {item!r}")
    return result


@dataclass(frozen=True)
class FaultSet(Sequence[Fault]):
    """A session's fault rules and the seed of its generator (what
    ``SetFaults`` returns; also read from a ``SessionInfo``). A sequence of
    :class:`Fault`; ``by_id("f1")`` finds one."""

    faults: Tuple[Fault, ...] = ()
    seed: int = 0

    @classmethod
    def from_protos(cls, faults: Iterable[control_pb2.Fault], seed: int = 0) -> "FaultSet":
        return cls(tuple(Fault.from_proto(f) for f in faults), int(seed))

    def by_id(self, fault_id: str) -> Fault:
        """The rule with this id; :class:`KeyError` when there is none."""
        for rule in self.faults:
            if rule.id == fault_id:
                return rule
        raise KeyError(fault_id)

    @property
    def applied(self) -> dict:
        """``{id: applied}`` for every rule."""
        return {rule.id: rule.applied for rule in self.faults}

    def __getitem__(self, index: Any) -> Any:
        return self.faults[index]

    def __len__(self) -> int:
        return len(self.faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def __str__(self) -> str:
        lines = [rule.describe() for rule in self.faults] or ["no fault rules"]
        return "\n".join(lines + [f"seed {self.seed}"])


def _added(result: FaultSet, count: int, address: Optional[str]) -> List[Fault]:
    """The ``count`` rules a SetFaults call added: the server appends them to
    the session's rules, so they are the last ones it returns."""
    if len(result) < count:
        raise MatgtoError(
            f"SetFaults returned {len(result)} rules after adding {count}", method="SetFaults", address=address
        )
    return list(result.faults[len(result) - count :]) if count else []
