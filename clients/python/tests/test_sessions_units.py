"""Sessions on the client side, without a matgto server.

Requests are built and checked as messages; lease renewal runs against an
in-process gRPC server on 127.0.0.1 that plays a matgto server whose answers
each test chooses (NOT_FOUND, UNAVAILABLE), which a real server does not
produce on demand.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Callable, Iterator, List, Optional

import grpc
import pytest

import matgto
from matgto.client import _session_fields, lease_seconds, usable_proxy_url
from matgto.misses import FAILING_REASONS, describe_miss, describe_misses, failing_misses
from matgto.session import duration_to_timedelta, timestamp_to_datetime
from matgto.v1 import control_pb2, control_pb2_grpc

from conftest import fake_control

UTC = datetime.timezone.utc


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


# -- requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_type", [control_pb2.StartRecordingRequest, control_pb2.ReplayRequest, control_pb2.UseCassetteRequest]
)
def test_session_fields_reach_every_cassette_request(request_type: type) -> None:
    request = request_type(name="x")
    _session_fields(request, None, True, datetime.timedelta(seconds=30), "pytest gw1 pid 1 t")
    assert request.new_session and request.session == ""
    assert request.lease.ToTimedelta() == datetime.timedelta(seconds=30)
    assert request.owner == "pytest gw1 pid 1 t"

    request = request_type(name="x")
    _session_fields(request, "s-0123456789abcdef", False, None, None)
    assert request.session == "s-0123456789abcdef" and not request.new_session
    assert not request.HasField("lease") and request.owner == ""

    request = request_type(name="x")
    _session_fields(request, None, True, 1.5, None)
    assert request.lease.seconds == 1 and request.lease.nanos == 500_000_000


def test_no_session_fields_means_the_default_session() -> None:
    request = control_pb2.UseCassetteRequest(name="x")
    _session_fields(request, None, False, None, None)
    assert request == control_pb2.UseCassetteRequest(name="x")


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"session": "s-1", "new_session": True}, ValueError, "no session id"),
        ({"lease": 30}, ValueError, "new sessions only"),
        ({"owner": "me"}, ValueError, "new sessions only"),
        ({"new_session": True, "lease": 0}, ValueError, "positive"),
        ({"new_session": True, "lease": -1}, ValueError, "positive"),
        ({"new_session": True, "lease": float("nan")}, ValueError, "positive"),
        ({"new_session": True, "lease": "30"}, TypeError, "timedelta"),
        ({"new_session": True, "lease": True}, TypeError, "timedelta"),
        ({"new_session": True, "owner": 3}, TypeError, "owner"),
        ({"session": 3}, TypeError, "session"),
    ],
)
def test_bad_session_arguments_are_refused_before_any_call(kwargs: dict, error: type, text: str) -> None:
    with matgto.Client("127.0.0.1:1", check_version=False) as client:
        for call in (client.start_recording, client.replay, client.use_cassette):
            with pytest.raises(error, match=text):
                call("x", **kwargs)
        with pytest.raises(ValueError):
            client.renew_session("")
        with pytest.raises(TypeError):
            client.stop_recording(session=7)  # type: ignore[arg-type]


def test_lease_seconds() -> None:
    assert lease_seconds(datetime.timedelta(minutes=1)) == 60.0
    assert lease_seconds(2) == 2.0
    assert matgto.DEFAULT_LEASE == datetime.timedelta(seconds=30)


@pytest.mark.parametrize(
    "url, control, expected",
    [
        ("http://s-0123456789abcdef@127.0.0.1:8888", "127.0.0.1:8889", "http://s-0123456789abcdef@127.0.0.1:8888"),
        ("http://s-01@0.0.0.0:8888", "10.0.0.5:8889", "http://s-01@10.0.0.5:8888"),
        ("http://s-01@[::]:8888/", "proxyhost:1", "http://s-01@proxyhost:8888/"),
        ("not a url", "h:1", "not a url"),
    ],
)
def test_usable_proxy_url(url: str, control: str, expected: str) -> None:
    assert usable_proxy_url(url, control) == expected


def test_shared_proxy_url_gets_a_password_that_python_clients_send() -> None:
    import requests.utils

    from matgto.session import _with_password

    url = _with_password("http://s-0123456789abcdef@127.0.0.1:8888")
    assert url == "http://s-0123456789abcdef:matgto@127.0.0.1:8888"
    assert requests.utils.get_auth_from_url(url) == ("s-0123456789abcdef", "matgto")
    assert requests.utils.get_auth_from_url("http://s-0123456789abcdef@127.0.0.1:8888") == ("", ""), (
        "requests drops a user without a password: the reason for the password"
    )
    assert _with_password("http://u:p@h:1") == "http://u:p@h:1", "a password the server gave is kept"
    assert _with_password("http://u:@h:1") == "http://u:@h:1"
    assert _with_password("http://h:1/a@b") == "http://h:1/a@b"


def test_time_conversions() -> None:
    info = control_pb2.SessionInfo()
    assert timestamp_to_datetime(info, "opened_at") is None
    assert duration_to_timedelta(info, "lease") is None
    info.opened_at.FromDatetime(datetime.datetime(2026, 12, 1, 15, 0, 1, 250000))
    info.lease.FromTimedelta(datetime.timedelta(seconds=30))
    assert timestamp_to_datetime(info, "opened_at") == datetime.datetime(2026, 12, 1, 15, 0, 1, 250000, tzinfo=UTC)
    assert duration_to_timedelta(info, "lease") == datetime.timedelta(seconds=30)


# -- the session object ----------------------------------------------------------------


def _miss(reason: str, url: str = "http://127.0.0.1:9/b") -> control_pb2.Miss:
    return control_pb2.Miss(
        method="GET",
        url=url,
        reason=reason,
        closest=[
            control_pb2.Candidate(
                interaction_index=3,
                method="GET",
                url="http://127.0.0.1:9/a",
                differences=[control_pb2.FieldDifference(field="path", recorded="/a", live="/b")],
            )
        ],
    )


def test_session_object_exposes_the_session_info() -> None:
    info = control_pb2.SessionInfo(
        cassette="a/test_x/t",
        mode=control_pb2.REPLAY,
        requested_mode=control_pb2.AUTO,
        id="s-0123456789abcdef",
        proxy_address="0.0.0.0:41234",
        proxy_url="http://s-0123456789abcdef@0.0.0.0:8888",
        owner="pytest gw0 pid 1 a/test_x.py::t",
        misses=[_miss("no-match"), _miss("no-match, passed through")],
    )
    info.opened_at.FromDatetime(datetime.datetime(2026, 12, 1, 15, 0, 0))
    info.age.FromTimedelta(datetime.timedelta(seconds=2))
    info.lease.FromTimedelta(datetime.timedelta(seconds=30))
    info.lease_expires_at.FromDatetime(datetime.datetime(2026, 12, 1, 15, 0, 30))
    with matgto.Client("10.1.2.3:8889", check_version=False) as client:
        session = matgto.CassetteSession(client, info)  # renew=False: no thread, no call
        assert session.id == "s-0123456789abcdef" and not session.is_default
        assert (session.name, session.mode, session.requested_mode) == ("a/test_x/t", matgto.Mode.REPLAY, matgto.Mode.AUTO)
        assert session.proxy_address == "10.1.2.3:41234", "an unspecified host becomes the control host"
        assert session.proxy_url == "http://10.1.2.3:41234"
        assert session.proxies() == {"http": "http://10.1.2.3:41234", "https": "http://10.1.2.3:41234"}
        assert session.shared_proxy_url == "http://s-0123456789abcdef:matgto@10.1.2.3:8888", "requests sends a user with a password"
        assert session.shared_proxies()["https"] == session.shared_proxy_url
        assert session.owner == "pytest gw0 pid 1 a/test_x.py::t"
        assert session.opened_at == datetime.datetime(2026, 12, 1, 15, 0, 0, tzinfo=UTC)
        assert session.age == datetime.timedelta(seconds=2)
        assert session.lease == datetime.timedelta(seconds=30)
        assert session.lease_expires_at == datetime.datetime(2026, 12, 1, 15, 0, 30, tzinfo=UTC)
        assert [m.reason for m in session.failing_misses] == ["no-match"]
        assert "GET http://127.0.0.1:9/b -> no-match" in session.explain_misses()
        assert session.end_reason is None and session.ended_at is None and session.save_error == ""

        summary = control_pb2.SessionSummary(session=info, end_reason="lease-expired", save_error="disk full")
        summary.ended_at.FromDatetime(datetime.datetime(2026, 12, 1, 15, 1, 0))
        session.summary = summary
        assert session.end_reason == "lease-expired" and session.save_error == "disk full"
        assert session.ended_at == datetime.datetime(2026, 12, 1, 15, 1, 0, tzinfo=UTC)


def test_default_session_object_stops_the_default_session() -> None:
    with matgto.Client("127.0.0.1:1", check_version=False) as client:
        assert matgto.CassetteSession(client, control_pb2.SessionInfo(id="default")).is_default
        assert matgto.CassetteSession(client, control_pb2.SessionInfo()).is_default  # pre-session servers


# -- misses ----------------------------------------------------------------------------


def test_which_misses_fail_a_test() -> None:
    reasons = ["no-match", "exhausted", "ws-mismatch", "no-match, passed through", "no-match, recorded"]
    assert [m.reason for m in failing_misses(_miss(r) for r in reasons)] == reasons[:3]
    assert FAILING_REASONS == {"no-match", "exhausted", "ws-mismatch"}


def test_a_miss_explains_itself() -> None:
    text = describe_miss(_miss("no-match"))
    assert text.splitlines() == [
        "GET http://127.0.0.1:9/b -> no-match",
        "  closest: #3 GET http://127.0.0.1:9/a",
        "    path: recorded '/a', live '/b'",
    ]
    lonely = describe_miss(control_pb2.Miss(method="POST", url="http://h/x", reason="exhausted"))
    assert "POST http://h/x -> exhausted" in lonely and "no recorded request is close" in lonely
    many = describe_misses([_miss("no-match"), _miss("exhausted")], cassette="a/t", session="s-1")
    assert many.startswith("matgto: 2 replay misses in cassette 'a/t' (session s-1):")
    long_value = control_pb2.Miss(
        method="POST", url="u", reason="no-match",
        closest=[control_pb2.Candidate(differences=[control_pb2.FieldDifference(field="body", recorded="x" * 5000, live="y")])],
    )
    assert len(describe_miss(long_value)) < 600, "long bodies are cut"


# -- renewal, against an in-process gRPC server ---------------------------------------------


class FakeControl(control_pb2_grpc.ProxyControlServicer):
    """Plays the session part of a matgto server; each test sets ``renew_answer``."""

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self.renewed: List[str] = []
        self.stopped: List[str] = []
        self.owner = ""
        self.renew_answer: Optional[grpc.StatusCode] = None  # None: OK
        self.stop_answer: Optional[grpc.StatusCode] = None
        self.ended: List[control_pb2.SessionSummary] = []
        self._lock = threading.Lock()

    def _info(self) -> control_pb2.SessionInfo:
        info = control_pb2.SessionInfo(
            cassette="c", mode=control_pb2.RECORD, requested_mode=control_pb2.AUTO, id="s-00000000000000aa",
            proxy_address="127.0.0.1:1", proxy_url="http://s-00000000000000aa@127.0.0.1:2", owner=self.owner,
        )
        info.lease.FromNanoseconds(int(self.lease * 1e9))
        return info

    def GetStatus(self, request, context):  # noqa: N802
        return control_pb2.GetStatusResponse(version="0.1.0", api_version=1, proxy_address="127.0.0.1:2",
                                             ended_sessions=self.ended)

    def UseCassette(self, request, context):  # noqa: N802
        self.owner = request.owner
        assert request.new_session and request.HasField("lease")
        return control_pb2.UseCassetteResponse(session=self._info())

    def RenewSession(self, request, context):  # noqa: N802
        with self._lock:
            self.renewed.append(request.session)
            answer = self.renew_answer
        if answer is not None:
            context.abort(answer, f"answer {answer.name}")
        response = control_pb2.RenewSessionResponse()
        response.lease_expires_at.FromDatetime(datetime.datetime(2030, 1, 1) + datetime.timedelta(seconds=len(self.renewed)))
        return response

    def StopRecording(self, request, context):  # noqa: N802
        self.stopped.append(request.session)
        if self.stop_answer is not None:
            context.abort(self.stop_answer, "session s-00000000000000aa is not open")
        return control_pb2.StopRecordingResponse(
            summary=control_pb2.SessionSummary(session=self._info(), end_reason="stopped")
        )

    def renewals(self) -> int:
        with self._lock:
            return len(self.renewed)


@pytest.fixture
def fake() -> Iterator[tuple]:
    servicer = FakeControl(lease=0.3)
    with fake_control(servicer) as address, matgto.Client(address, timeout=5) as client:
        yield servicer, client


def test_a_session_is_renewed_every_third_of_its_lease_until_stopped(fake: tuple) -> None:
    servicer, client = fake
    started = time.monotonic()
    session = client.session("c", owner="me", lease=datetime.timedelta(seconds=0.3))
    assert servicer.owner == "me"
    thread = session._renewer._thread  # type: ignore[union-attr]
    assert thread.daemon, "the renewer must not keep the process alive"
    assert session._renewer.interval == pytest.approx(0.1), "every lease/3"  # type: ignore[union-attr]
    wait_until(lambda: session.renewals >= 4, what="4 renewals answered")
    elapsed = time.monotonic() - started
    assert elapsed >= 0.35, f"4 renewals every 0.1 s take at least 0.4 s, took {elapsed:.3f}s"
    assert set(servicer.renewed) == {"s-00000000000000aa"} and servicer.renewals() >= 4
    assert session.lease_expires_at is not None and session.lease_expires_at.year == 2030

    summary = session.stop()
    assert summary.end_reason == "stopped" and session.end_reason == "stopped"
    assert servicer.stopped == ["s-00000000000000aa"]
    assert not thread.is_alive()
    after = servicer.renewals()
    time.sleep(0.35)
    assert servicer.renewals() == after, "no renewal after stop"
    assert session.stop() is summary, "stop is idempotent"
    assert servicer.stopped == ["s-00000000000000aa"]


def test_transient_renewal_errors_are_retried(fake: tuple) -> None:
    servicer, client = fake
    servicer.renew_answer = grpc.StatusCode.UNAVAILABLE
    with client.session("c", lease=0.3) as session:
        wait_until(lambda: servicer.renewals() >= 2, what="2 failed renewals")
        assert isinstance(session.renew_error, matgto.ServerUnavailableError)
        assert not session.lost
        servicer.renew_answer = None
        count = servicer.renewals()
        wait_until(lambda: session.renewals >= 1 and servicer.renewals() > count, what="a renewal that succeeds")
        assert not session.lost
    assert session.summary is not None and session.summary.end_reason == "stopped"


def test_renewal_not_found_marks_the_session_lost_and_stop_says_so(fake: tuple) -> None:
    servicer, client = fake
    ended = control_pb2.SessionSummary(
        session=control_pb2.SessionInfo(id="s-00000000000000aa", cassette="c"),
        end_reason="lease-expired", saved_path="c.pb",
    )
    ended.ended_at.FromDatetime(datetime.datetime(2026, 12, 1, 16, 0, 0))
    servicer.ended = [ended]
    session = client.session("c", lease=0.3)
    servicer.renew_answer = grpc.StatusCode.NOT_FOUND
    servicer.stop_answer = grpc.StatusCode.NOT_FOUND
    wait_until(lambda: session.lost, what="the session to be marked lost")
    count = servicer.renewals()
    time.sleep(0.35)
    assert servicer.renewals() == count, "a lost session is no longer renewed"
    with pytest.raises(matgto.SessionLostError) as caught:
        session.stop()
    error = caught.value
    assert error.session_id == "s-00000000000000aa"
    assert error.summary == ended and session.summary == ended
    assert session.end_reason == "lease-expired"
    text = str(error)
    assert "lease-expired" in text and "2026-12-01T16:00:00" in text and "c.pb" in text
    assert "renewing its lease failed" in text and "NOT_FOUND" in text


def test_leaving_the_block_on_an_exception_keeps_that_exception(fake: tuple) -> None:
    servicer, client = fake
    servicer.stop_answer = grpc.StatusCode.NOT_FOUND
    with pytest.raises(KeyError):
        with client.session("c", lease=0.3):
            raise KeyError("the test's own error")
    assert servicer.stopped == ["s-00000000000000aa"]


def test_no_lease_means_no_renewal(fake: tuple) -> None:
    servicer, client = fake
    servicer.lease = 0.0

    def info_without_lease() -> control_pb2.SessionInfo:
        return control_pb2.SessionInfo(cassette="c", id="s-00000000000000aa", proxy_address="127.0.0.1:1")

    servicer._info = info_without_lease  # type: ignore[method-assign]
    with client.session("c", lease=30) as session:
        assert session.lease is None and session._renewer is None
    assert servicer.renewals() == 0


# -- every proto field has a home --------------------------------------------------------

#: SessionInfo fields read from ``session.info`` (or the summary's) rather than
#: through a property of their own, and properties named otherwise.
SESSION_INFO_VIA_INFO = {"recorded", "replayed", "missed", "passed_through", "interactions", "options"}
SESSION_INFO_RENAMED = {"cassette": "name", "proxy_url": "shared_proxy_url"}


def test_every_session_info_field_is_exposed() -> None:
    for field in control_pb2.SessionInfo.DESCRIPTOR.fields:
        if field.name in SESSION_INFO_VIA_INFO:
            continue
        attribute = SESSION_INFO_RENAMED.get(field.name, field.name)
        assert hasattr(matgto.CassetteSession, attribute), f"SessionInfo.{field.name} has no CassetteSession.{attribute}"


def test_every_session_summary_field_is_exposed() -> None:
    for field in control_pb2.SessionSummary.DESCRIPTOR.fields:
        if field.name == "session":
            continue  # summary.session: the SessionInfo at the end (misses, counters)
        assert hasattr(matgto.CassetteSession, field.name), f"SessionSummary.{field.name} is not exposed"


def test_status_has_the_session_lists() -> None:
    names = {f.name for f in control_pb2.GetStatusResponse.DESCRIPTOR.fields}
    assert {"sessions", "ended_sessions", "max_sessions"} <= names
    assert hasattr(matgto.Client, "sessions") and hasattr(matgto.Client, "ended_sessions")


def test_closing_the_client_ends_the_renewals(fake: tuple) -> None:
    servicer, client = fake
    session = client.session("c", lease=0.3)
    wait_until(lambda: session.renewals >= 1, what="a renewal")
    client.close()
    thread = session._renewer._thread  # type: ignore[union-attr]
    thread.join(5)
    assert not thread.is_alive(), "the renewer ends once its client is closed"
    assert not session.lost
