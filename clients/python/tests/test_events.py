"""The live event stream (WatchEvents) against a real server and upstream."""

from __future__ import annotations

import threading
import time
from typing import List

import requests

import matgto
from matgto.v1 import control_pb2

from conftest import Upstream

ExchangeResult = control_pb2.ExchangeResult


def collect(events: matgto.EventStream, want: int, timeout: float = 15.0) -> List[control_pb2.Event]:
    """The first ``want`` exchange/miss events (a watchdog closes the stream
    after ``timeout`` so that a missing event fails instead of hanging)."""
    watchdog = threading.Timer(timeout, events.close)
    watchdog.start()
    got: List[control_pb2.Event] = []
    try:
        for event in events:
            if event.WhichOneof("kind") in ("exchange", "miss"):
                got.append(event)
                if len(got) == want:
                    break
    finally:
        watchdog.cancel()
    return got


def test_a_session_sees_its_replayed_exchange_and_its_miss(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.session("ev/items", mode="record") as rec:
        with rec.events() as events:
            assert http.get(f"{upstream.url}/items?token=secret-abc&page=2", proxies=rec.proxies(), timeout=10).status_code == 200
            (recorded,) = collect(events, 1)
        assert recorded.exchange.result == ExchangeResult.RESULT_RECORDED
        assert recorded.exchange.session == rec.id

    with client.session("ev/items", mode="replay") as s:
        with client.session("ev/items", mode="replay") as other:  # filtered out
            with s.events() as events:
                assert http.get(f"{upstream.url}/items?token=secret-abc&page=2", proxies=other.proxies(), timeout=10).status_code == 200
                assert http.get(f"{upstream.url}/items?token=secret-abc&page=2", proxies=s.proxies(), timeout=10).status_code == 200
                assert http.get(f"{upstream.url}/not-recorded", proxies=s.proxies(), timeout=10).status_code == 599
                got = collect(events, 3)
    assert upstream.calls == 1
    exchanges = [e.exchange for e in got if e.HasField("exchange")]
    misses = [e.miss for e in got if e.HasField("miss")]
    assert {x.session for x in exchanges} | {m.session for m in misses} == {s.id}
    replayed = exchanges[0]
    assert (replayed.method, replayed.status, replayed.result) == ("GET", 200, ExchangeResult.RESULT_REPLAYED)
    assert replayed.url == f"{upstream.url}/items?token=[REDACTED]&page=[REDACTED]", replayed.url
    assert replayed.cassette == "ev/items" and replayed.mode == matgto.Mode.REPLAY
    assert len(misses) == 1, got
    miss = misses[0]
    assert miss.miss.reason == "no-match" and miss.miss.url.endswith("/not-recorded")
    assert "/not-recorded" in miss.explanation and "/items" in miss.explanation, miss.explanation
    missed = [x for x in exchanges if x.result == ExchangeResult.RESULT_MISSED]
    assert len(missed) == 1 and missed[0].status == 599 and missed[0].error == "no-match"
    assert all(e.dropped == 0 for e in got) and events.dropped == 0


def test_closing_the_stream_ends_a_blocked_iteration(client: matgto.Client) -> None:
    events = client.watch_events(cassette="ev/nothing-happens-here")
    seen: List[control_pb2.Event] = []
    errors: List[BaseException] = []

    def read() -> None:
        try:
            seen.extend(events)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)  # let it block in next()
    events.close()
    reader.join(timeout=10)
    assert not reader.is_alive(), "iteration did not end after close()"
    assert errors == [] and seen == []
    assert events.closed
    assert list(events) == []  # a closed stream stays finished
    events.close()  # idempotent
    assert client.status().api_version == 1  # the client is still usable


def test_a_closed_client_refuses_to_watch(server: object) -> None:
    client = matgto.Client(getattr(server, "control"))
    client.close()
    try:
        client.watch_events()
    except matgto.MatgtoError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("watch_events on a closed client did not fail")
