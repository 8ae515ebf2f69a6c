"""The client's fault and latency calls, without a matgto server: they run against
an in-process gRPC server on 127.0.0.1 that keeps rules per session the way the
contract describes and records the requests it gets (``Client`` calls by session
id, ``Session`` objects, latency on every cassette call).
"""

from __future__ import annotations

import threading
from typing import Iterator, List

import grpc
import pytest

import matgto
from matgto import Fault, FaultSet, Latency
from matgto.v1 import cassette_pb2, control_pb2, control_pb2_grpc

from conftest import fake_control, ms


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
    with fake_control(servicer) as address, matgto.Client(address, timeout=5) as client:
        yield servicer, client


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
