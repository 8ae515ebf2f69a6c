"""Fault rules as values and messages, without a matgto server: the duration and
bandwidth texts rules are written in, ``Fault`` (every action and selector, the
rules refused before any call, rules as the server returns them), fault ids,
seeds, ``FaultSet`` and the WebSocket action. The calls that carry rules are in
test_faults_calls_units.py; what a real server does with them is tested in
test_faults_http.py and test_faults_websocket.py.
"""

from __future__ import annotations

import datetime
from typing import Optional

import pytest

from matgto import Fault, FaultSet, ResetWhen
from matgto.faults import fault_ids, fault_proto, parse_seed
from matgto.units import format_duration, parse_bandwidth, parse_duration
from matgto.v1 import control_pb2

from conftest import ms


# -- units ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("200ms", ms(200)),
        ("2s", ms(2000)),
        ("1.5s", ms(1500)),
        ("1m30s", ms(90_000)),
        ("1h", datetime.timedelta(hours=1)),
        ("250us", datetime.timedelta(microseconds=250)),
        ("0", datetime.timedelta(0)),
        (" 20 ms ", ms(20)),
        (0.25, ms(250)),
        (3, ms(3000)),
        (ms(7), ms(7)),
    ],
)
def test_durations(text: object, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "ms", "200", "2 seconds", "1s2", "-1s", "1d"])
def test_bad_duration_texts(bad: str) -> None:
    with pytest.raises(ValueError, match="duration|negative"):
        parse_duration(bad)


def test_bad_duration_values() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)
    with pytest.raises(ValueError, match="negative"):
        parse_duration(datetime.timedelta(seconds=-1))
    with pytest.raises(ValueError, match="finite"):
        parse_duration(float("inf"))
    with pytest.raises(TypeError):
        parse_duration(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_duration(None)  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert [format_duration(d) for d in (ms(0), ms(200), ms(2000), ms(1500), datetime.timedelta(microseconds=5))] == [
        "0s", "200ms", "2s", "1.5s", "5us"
    ]


@pytest.mark.parametrize(
    "value, expected",
    [
        (102400, 102400),
        ("100KiB", 102400),
        ("100 KiB/s", 102400),
        ("1MiB", 1048576),
        ("500kB", 500_000),
        ("1.5MB", 1_500_000),
        ("64", 64),
        ("64B", 64),
        (2048.0, 2048),
    ],
)
def test_bandwidths(value: object, expected: int) -> None:
    assert parse_bandwidth(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-5, ValueError), ("fast", ValueError), ("1XB", ValueError),
                                        ("0KiB", ValueError), (True, TypeError), (1.5, TypeError), (2**64, ValueError)])
def test_bad_bandwidths(bad: object, error: type) -> None:
    with pytest.raises(error):
        parse_bandwidth(bad)  # type: ignore[arg-type]


# -- Fault values ---------------------------------------------------------------------------


def test_a_status_fault_as_a_message() -> None:
    rule = Fault(status=503, headers={"Retry-After": 1}, body="busy", first_n=2, url=r"/orders/.*", method="get")
    assert rule.kind == "status" and rule.method == "GET" and rule.headers == (("Retry-After", "1"),)
    assert rule.body == b"busy" and rule.headers_dict == {"Retry-After": "1"}
    message = rule.to_proto()
    assert message.WhichOneof("action") == "status" and message.WhichOneof("selector") == "first_n"
    assert (message.status.code, message.first_n, message.url_pattern, message.method) == (503, 2, "/orders/.*", "GET")
    assert [(h.name, h.value) for h in message.status.headers] == [("Retry-After", "1")]
    assert message.status.body == b"busy" and message.id == "" and message.applied == 0
    assert Fault.from_proto(message) == rule
    assert str(rule) == "status 503 (Retry-After: 1) first 2, GET /orders/.*; applied 0"


@pytest.mark.parametrize(
    "kwargs, action, check",
    [
        ({"delay": datetime.timedelta(seconds=2)}, "delay", lambda m: m.delay.ToTimedelta() == ms(2000)),
        ({"delay": "1.5s"}, "delay", lambda m: m.delay.seconds == 1 and m.delay.nanos == 500_000_000),
        ({"hang": True}, "hang", lambda m: m.HasField("hang")),
        ({"reset": True}, "reset", lambda m: m.reset.when == control_pb2.ResetFault.BEFORE_HEADERS),
        ({"reset": "before-headers"}, "reset", lambda m: m.reset.when == control_pb2.ResetFault.BEFORE_HEADERS),
        ({"reset": "after-headers"}, "reset", lambda m: m.reset.when == control_pb2.ResetFault.AFTER_HEADERS),
        ({"reset": "mid_body"}, "reset", lambda m: m.reset.when == control_pb2.ResetFault.MID_BODY),
        ({"reset": ResetWhen.MID_BODY}, "reset", lambda m: m.reset.when == control_pb2.ResetFault.MID_BODY),
        ({"bandwidth": 100 * 1024}, "bandwidth_bytes_per_second", lambda m: m.bandwidth_bytes_per_second == 102400),
        ({"bandwidth": "1MiB"}, "bandwidth_bytes_per_second", lambda m: m.bandwidth_bytes_per_second == 1 << 20),
    ],
)
def test_every_action_as_a_message(kwargs: dict, action: str, check: object) -> None:
    rule = Fault(**kwargs)
    message = rule.to_proto()
    assert message.WhichOneof("action") == action
    assert message.WhichOneof("selector") is None, "no selector: every matching request"
    assert check(message)  # type: ignore[operator]
    assert Fault.from_proto(message) == rule
    assert Fault.from_proto(message).to_proto() == message


@pytest.mark.parametrize(
    "kwargs, selector, value",
    [
        ({"probability": 0.1}, "probability", 0.1),
        ({"probability": 1}, "probability", 1.0),
        ({"every_nth": 3}, "every_nth", 3),
        ({"first_n": 2}, "first_n", 2),
        ({"first_n": 0}, "first_n", 0),
    ],
)
def test_every_selector_as_a_message(kwargs: dict, selector: str, value: object) -> None:
    message = Fault(hang=True, **kwargs).to_proto()
    assert message.WhichOneof("selector") == selector and getattr(message, selector) == value


def test_values_are_for_the_server_to_judge() -> None:
    """Out-of-range values the server refuses are sent as they are (the server
    answers INVALID_ARGUMENT; see test_faults_http.py)."""
    assert Fault(hang=True, probability=2).to_proto().probability == 2.0
    assert Fault(hang=True, url="(").to_proto().url_pattern == "("
    assert Fault(status=42).to_proto().status.code == 42


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({}, ValueError, "needs an action"),
        ({"first_n": 2}, ValueError, "needs an action"),
        ({"status": 503, "hang": True}, ValueError, "exactly one thing; got status, hang"),
        ({"delay": "1s", "reset": True, "bandwidth": 10}, ValueError, "delay, reset, bandwidth"),
        ({"hang": True, "first_n": 1, "every_nth": 2}, ValueError, "at most one of"),
        ({"hang": True, "probability": 0.5, "first_n": 1}, ValueError, "at most one of"),
        ({"hang": True, "headers": {"A": "b"}}, ValueError, "go with status"),
        ({"delay": "1s", "body": "x"}, ValueError, "go with status"),
        ({"status": "503"}, TypeError, "status"),
        ({"status": True}, TypeError, "status"),
        ({"status": -1}, ValueError, "status"),
        ({"hang": 1}, TypeError, "hang"),
        ({"hang": True, "probability": "0.5"}, TypeError, "probability"),
        ({"hang": True, "first_n": 1.0}, TypeError, "first_n"),
        ({"hang": True, "every_nth": -3}, ValueError, "every_nth"),
        ({"hang": True, "method": 3}, TypeError, "method"),
        ({"hang": True, "url": b"/x"}, TypeError, "url"),
        ({"reset": "sometimes"}, ValueError, "reset point"),
        ({"delay": "soon"}, ValueError, "delay"),
        ({"delay": -1}, ValueError, "negative"),
        ({"bandwidth": 0}, ValueError, "positive"),
        ({"status": 503, "headers": "Retry-After: 1"}, TypeError, "mapping"),
        ({"status": 503, "headers": [("A",)]}, TypeError, "pairs"),
        ({"status": 503, "body": 3}, TypeError, "body"),
    ],
)
def test_rules_of_the_wrong_shape_are_refused_before_any_call(kwargs: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Fault(**kwargs)


def test_reset_false_is_no_action() -> None:
    with pytest.raises(ValueError, match="needs an action"):
        Fault(reset=False)
    assert Fault(reset=False, hang=True).kind == "hang"


def test_headers_may_repeat_and_keep_their_order() -> None:
    rule = Fault(status=429, headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Retry-After", "3")])
    assert [(h.name, h.value) for h in rule.to_proto().status.headers] == [
        ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Retry-After", "3")
    ]


def test_a_rule_from_the_server_keeps_id_and_applied() -> None:
    message = control_pb2.Fault(id="f3", method="GET", url_pattern="/x", every_nth=3, applied=7)
    message.hang.SetInParent()
    rule = Fault.from_proto(message)
    assert (rule.id, rule.applied, rule.kind, rule.every_nth) == ("f3", 7, "hang", 3)
    assert str(rule) == "f3: hang every 3th, GET /x; applied 7"
    assert rule == Fault(hang=True, every_nth=3, method="GET", url="/x", id="f3"), "applied is not part of equality"
    sent = fault_proto(rule)
    assert sent.id == "" and sent.applied == 0, "the server assigns ids and counts"


def test_a_rule_with_an_action_this_client_does_not_know_is_kept() -> None:
    rule = Fault.from_proto(control_pb2.Fault(id="f9", url_pattern="/ws", first_n=1))
    assert rule.kind == "unknown" and rule.id == "f9" and rule.first_n == 1
    assert "unknown action" in str(rule)


def test_fault_like_values() -> None:
    assert fault_proto({"status": 503, "first_n": 2}) == Fault(status=503, first_n=2).to_proto()
    raw = control_pb2.Fault(id="f1", probability=2.5)
    raw.hang.SetInParent()
    sent = fault_proto(raw)
    assert sent.probability == 2.5 and sent.id == "" and raw.id == "f1", "a message is sent as is, copied"
    with pytest.raises(TypeError):
        fault_proto("status=503")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword"):
        fault_proto({"code": 503})


def test_fault_ids() -> None:
    assert fault_ids(None) is None
    assert fault_ids([]) == []
    assert fault_ids("f1") == ["f1"]
    assert fault_ids([Fault(hang=True, id="f2"), "f3"]) == ["f2", "f3"]
    with pytest.raises(ValueError, match="no id"):
        fault_ids([Fault(hang=True)])
    with pytest.raises(TypeError):
        fault_ids([""])
    with pytest.raises(TypeError):
        fault_ids([3])  # type: ignore[list-item]


def test_seeds() -> None:
    assert parse_seed(None) == 0, "0 keeps the session's seed"
    assert parse_seed(7) == 7 and parse_seed(2**64 - 1) == 2**64 - 1
    for bad in (0, -1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            parse_seed(bad)
    with pytest.raises(TypeError):
        parse_seed("7")  # type: ignore[arg-type]


def test_fault_set() -> None:
    first = control_pb2.Fault(id="f1", first_n=2, applied=2)
    first.status.code = 503
    second = control_pb2.Fault(id="f2", applied=0)
    second.hang.SetInParent()
    rules = FaultSet.from_protos([first, second], seed=7)
    assert len(rules) == 2 and rules[0].status == 503 and [r.id for r in rules] == ["f1", "f2"]
    assert rules.by_id("f2").kind == "hang" and rules.applied == {"f1": 2, "f2": 0} and rules.seed == 7
    with pytest.raises(KeyError):
        rules.by_id("f3")
    assert str(rules).splitlines()[-1] == "seed 7"


# -- the WebSocket action ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, drop, delay",
    [
        ({"ws_drop_after": 2}, 2, None),
        ({"ws_delay": ms(300)}, 0, ms(300)),
        ({"ws_delay": "300ms"}, 0, ms(300)),
        ({"ws_drop_after": 3, "ws_delay": 0.25}, 3, ms(250)),
        ({"ws_drop_after": 0, "ws_delay": "1s"}, 0, ms(1000)),
    ],
)
def test_the_websocket_action_as_a_message(kwargs: dict, drop: int, delay: Optional[datetime.timedelta]) -> None:
    rule = Fault(url="/chat", first_n=1, **kwargs)
    assert rule.kind == "websocket"
    message = rule.to_proto()
    assert message.WhichOneof("action") == "websocket", "both go in one websocket action"
    assert message.websocket.drop_after_messages == drop
    assert message.websocket.HasField("message_delay") == (delay is not None)
    if delay is not None:
        assert message.websocket.message_delay.ToTimedelta() == delay
    assert (message.url_pattern, message.first_n) == ("/chat", 1)
    back = Fault.from_proto(message)
    assert back == rule and back.kind == "websocket"
    assert back.to_proto() == message


def test_websocket_rules_from_the_server() -> None:
    message = control_pb2.Fault(id="f4", applied=1, websocket=control_pb2.WsFault(drop_after_messages=2))
    message.websocket.message_delay.FromTimedelta(ms(300))
    rule = Fault.from_proto(message)
    assert (rule.id, rule.applied, rule.ws_drop_after, rule.ws_delay) == ("f4", 1, 2, ms(300))
    assert rule == Fault(ws_drop_after=2, ws_delay="300ms", id="f4")
    assert str(rule) == "f4: websocket drop after 2 messages, delay 300ms per message, every request; applied 1"
    only_delay = Fault.from_proto(control_pb2.Fault(websocket=control_pb2.WsFault(message_delay=ms(50))))
    assert (only_delay.ws_drop_after, only_delay.ws_delay) == (None, ms(50))
    empty = Fault.from_proto(control_pb2.Fault(websocket=control_pb2.WsFault()))
    assert empty.kind == "websocket" and empty.ws_drop_after == 0, "never raises for a rule the server holds"
    assert fault_proto({"ws_drop_after": 2}) == Fault(ws_drop_after=2).to_proto()


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"ws_drop_after": 2, "status": 503}, ValueError, "exactly one thing; got status, websocket"),
        ({"ws_delay": "1s", "delay": "1s"}, ValueError, "got delay, websocket"),
        ({"ws_drop_after": "2"}, TypeError, "ws_drop_after"),
        ({"ws_drop_after": True}, TypeError, "ws_drop_after"),
        ({"ws_drop_after": -1}, ValueError, "ws_drop_after"),
        ({"ws_delay": "soon"}, ValueError, "ws_delay"),
        ({"ws_delay": -1}, ValueError, "negative"),
    ],
)
def test_websocket_rules_of_the_wrong_shape(kwargs: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Fault(**kwargs)
