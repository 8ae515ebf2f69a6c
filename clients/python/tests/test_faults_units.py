"""Fault rules and replay latency on the client side, without a matgto server.

Rules and options are built and checked as messages; the calls run against an
in-process gRPC server on 127.0.0.1 that records the requests it gets (what a
real server does with them is tested in test_faults.py).
"""

from __future__ import annotations

import datetime
import threading
from concurrent import futures
from typing import Iterator, List, Optional

import grpc
import pytest

import matgto
from matgto import Fault, FaultSet, Latency, LatencyMode, ResetWhen
from matgto.faults import fault_ids, fault_proto, parse_seed
from matgto.options import cassette_options, latency_proto
from matgto.units import format_duration, parse_bandwidth, parse_duration
from matgto.v1 import cassette_pb2, control_pb2, control_pb2_grpc

ms = lambda n: datetime.timedelta(milliseconds=n)  # noqa: E731


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
    answers INVALID_ARGUMENT; see test_faults.py)."""
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


# -- latency ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, mode, scale, fixed, jitter",
    [
        ("fast", cassette_pb2.LATENCY_FAST, 0.0, None, None),
        ("as-recorded", cassette_pb2.LATENCY_AS_RECORDED, 0.0, None, None),
        ("AS_RECORDED", cassette_pb2.LATENCY_AS_RECORDED, 0.0, None, None),
        ("200ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(200), None),
        ("100ms±50ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(100), ms(50)),
        ("100ms +- 50ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(100), ms(50)),
        ("1s+/-250ms", cassette_pb2.LATENCY_FIXED, 0.0, ms(1000), ms(250)),
        (ms(300), cassette_pb2.LATENCY_FIXED, 0.0, ms(300), None),
        (0.3, cassette_pb2.LATENCY_FIXED, 0.0, ms(300), None),
        (Latency.as_recorded(2), cassette_pb2.LATENCY_AS_RECORDED, 2.0, None, None),
        (Latency.fixed("20ms", "5ms"), cassette_pb2.LATENCY_FIXED, 0.0, ms(20), ms(5)),
    ],
)
def test_latency_option(value: object, mode: int, scale: float, fixed: Optional[datetime.timedelta],
                        jitter: Optional[datetime.timedelta]) -> None:
    options = cassette_options(latency=value)  # type: ignore[arg-type]
    assert options is not None and options.HasField("latency")
    latency = options.latency
    assert latency.mode == mode and latency.scale == scale
    assert latency.HasField("fixed") == (fixed is not None) and latency.HasField("jitter") == (jitter is not None)
    if fixed is not None:
        assert latency.fixed.ToTimedelta() == fixed
    if jitter is not None:
        assert latency.jitter.ToTimedelta() == jitter
    assert Latency.from_proto(latency) == Latency.parse(value)  # type: ignore[arg-type]


def test_latency_scale() -> None:
    assert latency_proto("as-recorded", 0.5) == cassette_pb2.Latency(mode=cassette_pb2.LATENCY_AS_RECORDED, scale=0.5)
    assert latency_proto(None, 2) == cassette_pb2.Latency(mode=cassette_pb2.LATENCY_AS_RECORDED, scale=2.0), (
        "latency_scale alone means as-recorded"
    )
    assert latency_proto(None, None) is None and cassette_options(latency=None) is None
    for latency in ("fast", "200ms", ms(5)):
        with pytest.raises(ValueError, match="as-recorded' only"):
            latency_proto(latency, 2)
    for scale in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            latency_proto("as-recorded", scale)


def test_a_latency_message_is_sent_as_is() -> None:
    raw = cassette_pb2.Latency(mode=cassette_pb2.LATENCY_FIXED)
    raw.fixed.FromMilliseconds(5)
    assert cassette_options(latency=raw).latency == raw  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value, error",
    [("slow", ValueError), ("100ms±", ValueError), ("100ms±50ms±1ms", ValueError), ("-1s", ValueError),
     (True, TypeError), ([1], TypeError)],
)
def test_bad_latencies(value: object, error: type) -> None:
    with pytest.raises(error):
        cassette_options(latency=value)  # type: ignore[arg-type]


def test_latency_values() -> None:
    assert str(Latency.parse("100ms±50ms")) == "100ms±50ms"
    assert str(Latency.as_recorded()) == "as-recorded" and str(Latency.as_recorded(2)) == "as-recorded x2"
    assert str(Latency()) == "fast" and Latency(LatencyMode.UNSPECIFIED) == Latency.fast()
    assert Latency("fixed", delay="1s") == Latency.fixed(1)
    with pytest.raises(ValueError, match="needs a delay"):
        Latency(LatencyMode.FIXED)
    with pytest.raises(ValueError, match="fixed latency only"):
        Latency(LatencyMode.FAST, delay="1s")
    with pytest.raises(ValueError, match="as-recorded"):
        Latency(LatencyMode.FIXED, delay="1s", scale=2)


# -- calls, against an in-process gRPC server -------------------------------------------------


SESSION = "s-00000000000000aa"


class FakeFaults(control_pb2_grpc.ProxyControlServicer):
    """Keeps fault rules per session the way the contract describes, and the
    requests it got."""

    def __init__(self) -> None:
        self.requests: List[object] = []
        self.rules: dict = {"": [], SESSION: []}
        self.seeds: dict = {"": 11, SESSION: 42}
        self.next_id = 1
        self.lock = threading.Lock()

    def _info(self, session: str) -> control_pb2.SessionInfo:
        return control_pb2.SessionInfo(
            id=session or "default", cassette="c", mode=control_pb2.REPLAY, proxy_address="127.0.0.1:1",
            faults=self.rules[session], fault_seed=self.seeds[session],
        )

    def GetStatus(self, request, context):  # noqa: N802
        return control_pb2.GetStatusResponse(
            version="0.1.0", api_version=1, proxy_address="127.0.0.1:2",
            session=self._info(""), sessions=[self._info(""), self._info(SESSION)],
        )

    def UseCassette(self, request, context):  # noqa: N802
        self.requests.append(request)
        info = self._info(SESSION if request.new_session else "")
        info.options.CopyFrom(request.options)
        return control_pb2.UseCassetteResponse(session=info)

    def Replay(self, request, context):  # noqa: N802
        self.requests.append(request)
        return control_pb2.ReplayResponse(session=self._info(request.session))

    def StartRecording(self, request, context):  # noqa: N802
        self.requests.append(request)
        return control_pb2.StartRecordingResponse(session=self._info(request.session))

    def StopRecording(self, request, context):  # noqa: N802
        self.requests.append(request)
        summary = control_pb2.SessionSummary(session=self._info(request.session), end_reason="stopped")
        if request.session:
            self.rules[request.session] = []
        return control_pb2.StopRecordingResponse(summary=summary)

    def SetFaults(self, request, context):  # noqa: N802
        self.requests.append(request)
        if request.session not in self.rules:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no session {request.session}")
        for rule in request.faults:
            if rule.WhichOneof("selector") == "probability" and not 0 <= rule.probability <= 1:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "probability outside 0..1")
        with self.lock:
            for rule in request.faults:
                stored = control_pb2.Fault()
                stored.CopyFrom(rule)
                stored.id = f"f{self.next_id}"
                self.next_id += 1
                self.rules[request.session].append(stored)
            if request.seed:
                self.seeds[request.session] = request.seed
        return control_pb2.SetFaultsResponse(faults=self.rules[request.session], seed=self.seeds[request.session])

    def ClearFaults(self, request, context):  # noqa: N802
        self.requests.append(request)
        rules = self.rules[request.session]
        known = {r.id for r in rules}
        for wanted in request.ids:
            if wanted not in known:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no fault {wanted}")
        self.rules[request.session] = [r for r in rules if request.ids and r.id not in request.ids]
        return control_pb2.ClearFaultsResponse(faults=self.rules[request.session])


@pytest.fixture
def fake() -> Iterator[tuple]:
    servicer = FakeFaults()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    control_pb2_grpc.add_ProxyControlServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with matgto.Client(f"127.0.0.1:{port}", timeout=5) as client:
            yield servicer, client
    finally:
        server.stop(grace=None)


def test_client_fault_calls_take_a_session_id(fake: tuple) -> None:
    servicer, client = fake
    added = client.add_fault(SESSION, status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/.*")
    assert added.id == "f1" and added.status == 503 and added.first_n == 2
    (request,) = servicer.requests
    assert request == control_pb2.SetFaultsRequest(session=SESSION, faults=[Fault(
        status=503, headers={"Retry-After": "1"}, first_n=2, url=r"/orders/.*").to_proto()])

    rules = client.set_faults(SESSION, [Fault(hang=True), {"delay": "2s", "method": "GET"}], seed=7)
    assert isinstance(rules, FaultSet) and [r.id for r in rules] == ["f1", "f2", "f3"] and rules.seed == 7
    assert servicer.requests[-1].seed == 7
    assert client.add_fault(SESSION, Fault(reset="mid-body")).id == "f4"

    assert [r.id for r in client.faults(SESSION)] == ["f1", "f2", "f3", "f4"]
    assert [r.id for r in client.clear_faults(SESSION, ["f2", added])] == ["f3", "f4"]
    assert servicer.requests[-1] == control_pb2.ClearFaultsRequest(session=SESSION, ids=["f2", "f1"])
    calls = len(servicer.requests)
    assert [r.id for r in client.clear_faults(SESSION, [])] == ["f3", "f4"], "an empty list clears nothing"
    assert len(servicer.requests) == calls, "no ClearFaults call (empty ids would clear every rule)"
    assert client.clear_faults(SESSION) == [] and servicer.requests[-1].ids == []

    with pytest.raises(matgto.CassetteNotFoundError, match="no fault f9"):
        client.clear_faults(SESSION, "f9")
    with pytest.raises(matgto.CassetteNotFoundError):
        client.add_fault("s-ffffffffffffffff", hang=True)
    with pytest.raises(matgto.CassetteNotFoundError, match="no open session"):
        client.faults("s-ffffffffffffffff")
    with pytest.raises(matgto.InvalidArgumentError, match="probability"):
        client.add_fault(SESSION, hang=True, probability=2)


def test_the_default_session_is_the_empty_id(fake: tuple) -> None:
    servicer, client = fake
    client.add_fault(hang=True)
    client.add_fault("default", hang=True)
    assert [r.session for r in servicer.requests] == ["", ""]
    assert client.faults().seed == 11 and len(client.faults("default")) == 2
    with pytest.raises(TypeError):
        client.add_fault(3, hang=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not both"):
        client.add_fault(None, Fault(hang=True), hang=True)


def test_session_object_faults(fake: tuple) -> None:
    servicer, client = fake
    with client.session("c", lease=None) as s:
        assert s.id == SESSION and len(s.faults) == 0 and s.fault_seed == 42
        first = s.add_fault(status=503, first_n=2)
        assert first.id == "f1" and [r.id for r in s.faults] == ["f1"]
        two = s.add_faults(Fault(hang=True), Fault(delay=ms(5)), seed=9)
        assert [r.id for r in two] == ["f2", "f3"] and s.fault_seed == 9
        assert [r.kind for r in s.faults] == ["status", "hang", "delay"]
        assert s.clear_faults("f2") == [first, two[1]] and [r.id for r in s.faults] == ["f1", "f3"]
        with s.with_fault(reset=True) as temporary:
            assert temporary.id == "f4" and [r.id for r in s.faults] == ["f1", "f3", "f4"]
        assert [r.id for r in s.faults] == ["f1", "f3"], "with_fault removes its rule"
        servicer.rules[SESSION][0].applied = 2  # as if two requests were hit
        s.refresh()
        assert s.faults.applied == {"f1": 2, "f3": 0}
        assert s.clear_faults() == [] and len(s.faults) == 0
    assert all(r.session == SESSION for r in servicer.requests if hasattr(r, "faults") or hasattr(r, "ids"))


def test_the_default_session_object_clears_its_own_rules_when_it_stops(fake: tuple) -> None:
    servicer, client = fake
    servicer.rules[""].append(control_pb2.Fault(id="f0", hang=control_pb2.Hang()))  # set by someone else (the CLI)
    with client.cassette("c") as s:
        assert s.is_default
        mine = s.add_fault(status=500)
    assert [r.id for r in servicer.rules[""]] == ["f0"], f"{mine.id} cleared, f0 kept"
    assert servicer.requests[-2] == control_pb2.ClearFaultsRequest(session="", ids=[mine.id])
    with client.session("c", lease=None) as s:
        s.add_fault(hang=True)
    assert not any(isinstance(r, control_pb2.ClearFaultsRequest) and r.session == SESSION for r in servicer.requests), (
        "a closed session's rules go with it: nothing to clear"
    )


def test_latency_reaches_every_cassette_call(fake: tuple) -> None:
    servicer, client = fake
    client.start_recording("c", latency="as-recorded", latency_scale=2)
    client.replay("c", latency="100ms±50ms")
    with client.session("c", latency=ms(300), lease=None) as s:
        assert s.latency == Latency.fixed("300ms")
    start, replay, use = servicer.requests[:3]
    assert start.options.latency == cassette_pb2.Latency(mode=cassette_pb2.LATENCY_AS_RECORDED, scale=2.0)
    assert replay.options.latency.mode == cassette_pb2.LATENCY_FIXED
    assert replay.options.latency.jitter.ToTimedelta() == ms(50)
    assert use.options.latency.fixed.ToTimedelta() == ms(300)
    with pytest.raises(ValueError):
        client.replay("c", latency="sometimes")
    assert len(servicer.requests) == 4, "a bad latency is refused before any call"


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


def test_session_object_websocket_fault(fake: tuple) -> None:
    servicer, client = fake
    with client.session("ws/units", lease=None) as s:
        rule = s.add_fault(ws_drop_after=2, ws_delay=ms(300), url="/chat")
        assert rule.id == "f1" and rule.kind == "websocket"
        assert (rule.ws_drop_after, rule.ws_delay, rule.url) == (2, ms(300), "/chat")
        (sent,) = servicer.requests[-1].faults
        assert sent.WhichOneof("action") == "websocket"
        assert (sent.websocket.drop_after_messages, sent.websocket.message_delay.ToTimedelta()) == (2, ms(300))
        assert [r.kind for r in s.faults] == ["websocket"]
