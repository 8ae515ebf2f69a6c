"""Fault rules and replay latency (issue 16) against a real matgto server, with
real HTTP clients (requests, urllib3) and a real upstream on 127.0.0.1.

Timing assertions test the mechanism with generous tolerances; they are not
benchmarks.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import requests
import urllib3

import matgto
from matgto import CassetteNotFoundError, Fault, InvalidArgumentError, Latency, Mode

from conftest import RunningServer

SLOW_SECONDS = 0.6
BIG_BYTES = 64 * 1024


class FaultUpstream:
    """A real HTTP/1.1 server: ``/orders/N`` answers JSON, ``/slow`` answers
    after :data:`SLOW_SECONDS`, ``/big`` sends :data:`BIG_BYTES`."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with upstream._lock:
                    upstream.calls.append(self.path)
                    number = len(upstream.calls)
                if self.path.startswith("/slow"):
                    time.sleep(SLOW_SECONDS)
                if self.path.startswith("/big"):
                    body = bytes(i % 251 for i in range(BIG_BYTES))
                    kind = "application/octet-stream"
                else:
                    body = json.dumps({"path": self.path, "call": number}).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def origin() -> Iterator[FaultUpstream]:
    running = FaultUpstream()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    try:
        yield session
    finally:
        session.close()


def timed(call: Any) -> tuple:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def record(client: matgto.Client, http: requests.Session, name: str, *urls: str) -> None:
    with client.session(name, mode="record") as s:
        for url in urls:
            assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    assert s.summary is not None and s.summary.session.recorded == len(urls)


# -- status faults and retries ----------------------------------------------------------------


def test_urllib3_retries_reach_the_answer_after_two_injected_503s(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    retry = urllib3.Retry(total=4, status_forcelist=[503], backoff_factor=0, respect_retry_after_header=True)
    url = origin.url + "/orders/1"

    # Recording: the injected 503s are answered by matgto, never forwarded or recorded.
    with client.session("faults/orders", mode="record") as s:
        rule = s.add_fault(status=503, headers={"Retry-After": "1"}, body="try later", first_n=2, url=r"/orders/.*")
        assert rule.id and rule.kind == "status" and rule.first_n == 2 and rule.headers == (("Retry-After", "1"),)
        with urllib3.ProxyManager(s.proxy_url, retries=retry) as pool:
            response, took = timed(lambda: pool.request("GET", url, timeout=10))
        assert response.status == 200 and json.loads(response.data)["path"] == "/orders/1"
        assert [h.status for h in response.retries.history] == [503, 503], "two injected 503s, then the real answer"
        assert took >= 1.8, f"urllib3 honoured Retry-After: 1 twice, took {took:.2f}s"
        assert origin.calls == ["/orders/1"], "the injected answers were not forwarded"
        s.refresh()
        (after,) = s.faults
        assert after.id == rule.id and after.applied == 2
    cassette = client.get_cassette("faults/orders")
    assert [i.http.response.status for i in cassette.interactions] == [200], "no 503 in the cassette"

    # Replaying: the same rule in front of the recorded answer.
    with client.session("faults/orders", mode="replay") as s:
        s.add_fault(status=503, headers={"Retry-After": "0"}, first_n=2, url=r"/orders/.*")
        with urllib3.ProxyManager(s.proxy_url, retries=retry) as pool:
            response = pool.request("GET", url, timeout=10)
            assert response.status == 200 and len(response.retries.history) == 2
            assert json.loads(response.data) == {"path": "/orders/1", "call": 1}, "the recorded answer"
            # first_n: never again.
            assert pool.request("GET", url, timeout=10, retries=False).status == 200
        s.refresh()
        assert s.faults[0].applied == 2
    assert origin.calls == ["/orders/1"], "replay did not reach the upstream"


def test_injected_answers_do_not_use_up_recorded_answers(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    """CONTRACT.md: a status fault is answered *instead* of the recorded response,
    so with each recorded answer used once (on_exhausted="error") the request after
    two injected 503s still gets the recorded answer."""
    url = origin.url + "/orders/once"
    record(client, http, "faults/once", url)
    with client.session("faults/once", mode="replay", on_exhausted="error") as s:
        s.add_fault(status=503, first_n=2)
        codes = [http.get(url, proxies=s.proxies(), timeout=10).status_code for _ in range(3)]
        info = s.refresh()
        assert codes == [503, 503, 200], "the 3rd request is the first to reach the cassette"
        assert info.replayed == 1, "injected answers are not replays"


def test_a_status_fault_answers_its_headers_and_body(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/status", mode="passthrough") as s:
        s.add_fault(status=429, headers=[("Retry-After", "7"), ("X-Why", "test")], body=b'{"error":"slow down"}',
                    method="POST")
        got = http.get(origin.url + "/orders/2", proxies=s.proxies(), timeout=10)
        assert got.status_code == 200, "the rule matches POST only"
        refused = http.post(origin.url + "/orders/2", data=b"x", proxies=s.proxies(), timeout=10)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "7" and refused.headers["X-Why"] == "test"
        assert refused.content == b'{"error":"slow down"}'


# -- connection faults --------------------------------------------------------------------------


def test_a_reset_before_the_headers_is_a_connection_error(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/reset", mode="passthrough") as s:
        rule = s.add_fault(reset=True)
        assert rule.reset is matgto.ResetWhen.BEFORE_HEADERS
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get(origin.url + "/orders/3", proxies=s.proxies(), timeout=10)
        assert s.refresh().faults[0].applied == 1


@pytest.mark.parametrize("when", ["after-headers", "mid-body"])
def test_a_reset_later_breaks_the_response(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session, when: str
) -> None:
    with client.session(f"faults/reset-{when}", mode="passthrough") as s:
        s.add_fault(reset=when, url="/big")
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            response = http.get(origin.url + "/big", proxies=s.proxies(), timeout=10)
            response.content  # noqa: B018 - reading the body is what fails
        ok = http.get(origin.url + "/orders/4", proxies=s.proxies(), timeout=10)
        assert ok.status_code == 200, "other URLs are untouched"
        assert s.refresh().faults[0].applied == 1


def test_hang_is_seen_as_a_client_timeout_and_clearing_restores_answers(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/hang", mode="passthrough") as s:
        rule = s.add_fault(hang=True)
        with pytest.raises(requests.exceptions.Timeout):
            _, took = timed(lambda: http.get(origin.url + "/orders/5", proxies=s.proxies(), timeout=1))
        assert s.clear_faults() == [] and len(s.faults) == 0
        assert not client.faults(s.id), "the server has no rule left"
        answer = http.get(origin.url + "/orders/5", proxies=s.proxies(), timeout=10)
        assert answer.status_code == 200 and answer.json()["path"] == "/orders/5"
        with pytest.raises(CassetteNotFoundError):
            s.clear_faults([rule.id])


def test_clearing_one_rule_keeps_the_others(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/clear", mode="passthrough") as s:
        s.add_fault(delay="1ms", url="/nothing-goes-here")
        teapot, busy = s.add_faults(Fault(status=418, url="/orders/"), {"status": 503, "url": "/other"})
        assert (teapot.status, teapot.url, busy.status, busy.url) == (418, "/orders/", 503, "/other"), (
            "add_faults returns the rules it added, with their ids"
        )
        assert len({teapot.id, busy.id, s.faults[0].id}) == 3 and len(client.faults(s.id)) == 3
        s.clear_faults(s.faults[0])
        get = lambda path: http.get(origin.url + path, proxies=s.proxies(), timeout=10).status_code  # noqa: E731
        assert (get("/orders/6"), get("/other"), get("/fine")) == (418, 503, 200)
        left = s.clear_faults(teapot)
        assert [r.id for r in left] == [busy.id]
        assert (get("/orders/6"), get("/other")) == (200, 503)
        with s.with_fault(status=500, url="/fine") as temporary:
            assert get("/fine") == 500 and temporary.id in {r.id for r in client.faults(s.id)}
        assert get("/fine") == 200, "with_fault removed its rule"
        assert client.clear_faults(s.id) == []
        assert get("/other") == 200


def test_faults_are_per_session(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/a", mode="passthrough") as a, client.session("faults/b", mode="passthrough") as b:
        a.add_fault(status=503)
        assert http.get(origin.url + "/x", proxies=a.proxies(), timeout=10).status_code == 503
        assert http.get(origin.url + "/x", proxies=b.proxies(), timeout=10).status_code == 200
        assert http.get(origin.url + "/x", proxies=a.shared_proxies(), timeout=10).status_code == 503, (
            "the session's rules apply on the shared port too"
        )
        assert len(b.refresh().faults) == 0


# -- delay and bandwidth ---------------------------------------------------------------------------


def test_a_delay_fault_slows_the_answer(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/delay", mode="passthrough") as s:
        s.add_fault(delay=datetime.timedelta(milliseconds=700), every_nth=2)
        took = [timed(lambda: http.get(origin.url + "/d", proxies=s.proxies(), timeout=10))[1] for _ in range(2)]
        assert took[0] < 0.5 and took[1] >= 0.65, f"the 2nd request waits 700ms: {took}"


def test_a_bandwidth_limit_paces_the_body(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    with client.session("faults/bandwidth", mode="passthrough") as s:
        free, fast = timed(lambda: http.get(origin.url + "/big", proxies=s.proxies(), timeout=10))
        s.add_fault(bandwidth="32KiB", url="/big")  # 64 KiB at 32 KiB/s: about 2 s
        limited, slow = timed(lambda: http.get(origin.url + "/big", proxies=s.proxies(), timeout=20))
        assert limited.content == free.content and len(limited.content) == 64 * 1024
        assert 1.4 <= slow <= 6.0 and fast < 1.0, f"unlimited {fast:.2f}s, limited {slow:.2f}s (expected about 2s)"


# -- WebSocket faults ------------------------------------------------------------------------------


class WsEcho:
    """A real WebSocket server (the ``websockets`` library) on 127.0.0.1 that
    answers each message with ``"echo:" + message``, on its own event loop."""

    def __init__(self) -> None:
        import asyncio

        from websockets.asyncio.server import serve

        self.loop = asyncio.new_event_loop()
        self.connections = 0
        ready = threading.Event()
        servers: list = []

        async def echo(ws: Any) -> None:
            self.connections += 1
            async for message in ws:
                await ws.send("echo:" + message)

        async def main() -> None:
            server = await serve(echo, "127.0.0.1", 0)
            servers.append(server)
            ready.set()
            await server.wait_closed()

        self._thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self._thread.start()
        assert ready.wait(10), "the WebSocket server did not start"
        self._server = servers[0]
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/chat"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._server.close)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def ws_echo() -> Iterator[WsEcho]:
    running = WsEcho()
    try:
        yield running
    finally:
        running.stop()


def ws_talk(url: str, proxy: str, messages: List[str]) -> dict:
    """Sends each message through ``proxy`` and waits for its echo; returns the
    echoes, each one's round trip, and how the connection ended (``closed``:
    None while open, else whether a close frame came and its code)."""
    import asyncio

    import websockets
    from websockets.asyncio.client import connect

    async def talk() -> dict:
        got: list = []
        took: list = []
        closed: Any = None
        async with connect(url, proxy=proxy, open_timeout=10, close_timeout=2) as ws:
            for message in messages:
                started = time.monotonic()
                await ws.send(message)
                try:
                    got.append(await ws.recv())
                except websockets.ConnectionClosed as error:
                    closed = {"frame": error.rcvd is not None, "code": error.rcvd.code if error.rcvd else None,
                              "error": type(error).__name__}
                    break
                took.append(time.monotonic() - started)
        return {"got": got, "took": took, "closed": closed}

    return asyncio.run(asyncio.wait_for(talk(), 20))


def test_a_websocket_fault_drops_the_connection_without_a_close_frame(
    client: matgto.Client, ws_echo: WsEcho
) -> None:
    with client.session("faults/ws-drop", mode="passthrough") as s:
        rule = s.add_fault(ws_drop_after=2, url="/chat")
        assert rule.id and rule.kind == "websocket" and rule.ws_drop_after == 2 and rule.ws_delay is None
        assert s.faults[0].to_proto().websocket.drop_after_messages == 2
        result = ws_talk(ws_echo.url, s.proxy_url, ["one", "two", "three"])
        assert result["got"] == ["echo:one", "echo:two"], "two messages reach the client, then the drop"
        assert result["closed"] == {"frame": False, "code": None, "error": "ConnectionClosedError"}, (
            f"dropped without a close frame: {result['closed']}"
        )
        s.refresh()
        assert s.faults[0].applied == 1, "one upgrade hit"
        s.clear_faults()
        again = ws_talk(ws_echo.url, s.proxy_url, ["one", "two", "three"])
        assert again["got"] == ["echo:one", "echo:two", "echo:three"] and again["closed"] is None, (
            "cleared: the connection stays up"
        )
    assert ws_echo.connections == 2


def test_a_websocket_fault_delays_each_message(client: matgto.Client, ws_echo: WsEcho) -> None:
    with client.session("faults/ws-delay", mode="passthrough") as s:
        rule = s.add_fault(ws_delay=datetime.timedelta(milliseconds=300))
        assert rule.kind == "websocket" and rule.ws_delay == datetime.timedelta(milliseconds=300)
        result = ws_talk(ws_echo.url, s.proxy_url, ["one", "two"])
        assert result["got"] == ["echo:one", "echo:two"] and result["closed"] is None
        assert all(t >= 0.27 for t in result["took"]), f"each message waits 300ms: {result['took']}"


def test_http_rules_and_websocket_rules_do_not_mix(
    client: matgto.Client, ws_echo: WsEcho, origin: FaultUpstream, http: requests.Session
) -> None:
    """CONTRACT.md: the websocket action applies to upgrades only, HTTP rules never do."""
    with client.session("faults/ws-mix", mode="passthrough") as s:
        s.add_fault(ws_drop_after=1)
        assert http.get(origin.url + "/orders/1", proxies=s.proxies(), timeout=10).status_code == 200
        s.clear_faults()
        s.add_fault(status=503)
        assert ws_talk(ws_echo.url, s.proxy_url, ["one"])["got"] == ["echo:one"]


# -- status, seeds, errors ------------------------------------------------------------------------


def test_status_shows_rules_applied_counts_and_the_seed(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    with client.session("faults/status-counts", mode="passthrough") as s:
        rule = s.add_fault(status=500, every_nth=2, seed=7)
        assert s.fault_seed == 7
        codes = [http.get(origin.url + f"/n/{i}", proxies=s.proxies(), timeout=10).status_code for i in range(4)]
        assert codes == [200, 500, 200, 500]
        (listed,) = [info for info in client.status().sessions if info.id == s.id]
        assert listed.fault_seed == 7 and [(f.id, f.applied) for f in listed.faults] == [(rule.id, 2)]
        assert client.faults(s.id).applied == {rule.id: 2} and client.faults(s.id).seed == 7
        s.refresh()
        assert s.faults.by_id(rule.id).applied == 2 and s.fault_seed == 7
    assert s.summary is not None and s.summary.session.fault_seed == 7


def test_the_same_seed_gives_the_same_sequence(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    def run(name: str) -> List[int]:
        with client.session(name, mode="passthrough") as s:
            s.add_fault(status=503, probability=0.5, seed=12345)
            return [http.get(origin.url + "/p", proxies=s.proxies(), timeout=10).status_code for _ in range(24)]

    first, second = run("faults/seed-1"), run("faults/seed-2")
    assert first == second, "same seed, same sequence"
    assert 503 in first and 200 in first, f"probability 0.5 over 24 requests: {first}"


def test_a_session_reports_a_seed_without_being_given_one(client: matgto.Client) -> None:
    with client.session("faults/seedless", mode="passthrough") as s:
        s.add_fault(status=503, probability=0.1)
        assert s.fault_seed != 0, "the session's seed is reported so a failing test can be re-run with it"
        assert s.refresh().fault_seed == s.fault_seed


def test_bad_rules_are_invalid_argument(client: matgto.Client) -> None:
    with client.session("faults/bad", mode="passthrough") as s:
        with pytest.raises(InvalidArgumentError) as bad_re:
            s.add_fault(hang=True, url="/orders/(")
        assert bad_re.value.method == "SetFaults"
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=503, probability=2)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=503, probability=-0.5)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(status=42)
        with pytest.raises(InvalidArgumentError):
            s.add_fault(matgto.v1.control_pb2.Fault(url_pattern="/x"))  # no action: only a raw message can say that
        assert len(client.faults(s.id)) == 0, "nothing was added"
        with pytest.raises(CassetteNotFoundError):
            s.clear_faults("f999")
    with pytest.raises(CassetteNotFoundError):
        client.add_fault("s-0000000000000000", hang=True)
    with pytest.raises(CassetteNotFoundError):
        client.clear_faults("s-0000000000000000")


def test_a_closed_session_takes_its_rules_with_it(client: matgto.Client) -> None:
    with client.session("faults/closed", mode="passthrough") as s:
        s.add_fault(hang=True)
    assert len(s.faults) == 1, "the summary still shows the rule"
    with pytest.raises(CassetteNotFoundError):
        client.add_fault(s.id, hang=True)


def test_faults_on_the_default_session(
    server: RunningServer, client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    proxies = {"http": "http://" + server.proxy}
    with client.cassette("faults/default", "passthrough") as s:
        assert s.is_default
        mine = s.add_fault(status=503)
        assert http.get(origin.url + "/d", proxies=proxies, timeout=10).status_code == 503
        assert [r.id for r in client.faults()] == [mine.id]
    assert len(client.faults()) == 0, "the session object cleared the rule it added when it stopped"


# -- latency ------------------------------------------------------------------------------------------


def test_fixed_latency_slows_a_replayed_request_and_no_other_session(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    url = origin.url + "/orders/7"
    with client.session("latency/fixed", mode="record", latency="300ms") as s:  # stored with the cassette
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    assert Latency.from_proto(client.get_cassette("latency/fixed").options.latency) == Latency.fixed("300ms")
    record(client, http, "latency/plain", url)
    with client.session("latency/fixed", mode="replay", repeat="reuse") as slow, \
            client.session("latency/plain", mode="replay", repeat="reuse") as fast:
        assert slow.latency == Latency.fixed("300ms") and fast.latency is None
        # Another session on the same server is not slowed while this one waits.
        waiting: dict = {}
        thread = threading.Thread(
            target=lambda: waiting.update(took=timed(lambda: http.get(url, proxies=slow.proxies(), timeout=10))[1])
        )
        thread.start()
        answer, quick = timed(lambda: requests.get(url, proxies=fast.proxies(), timeout=10))
        thread.join()
        assert answer.status_code == 200 and quick < 0.25, f"the other session took {quick:.3f}s"
        assert waiting["took"] >= 0.29, f"300ms latency, took {waiting['took']:.3f}s"
        _, again = timed(lambda: http.get(url, proxies=slow.proxies(), timeout=10))
        assert 0.29 <= again < 3.0
        assert slow.refresh().replayed == 2 and slow.mode == Mode.REPLAY


def test_jittered_latency_stays_in_its_range(client: matgto.Client, origin: FaultUpstream, http: requests.Session) -> None:
    url = origin.url + "/orders/8"
    with client.session("latency/jitter", mode="record", latency="200ms±100ms") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    with client.session("latency/jitter", mode="replay", repeat="reuse") as s:
        assert s.latency == Latency.fixed("200ms", "100ms")
        took = [timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1] for _ in range(4)]
    assert all(0.09 <= t < 2.0 for t in took), took


def test_as_recorded_latency_follows_the_recording(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    url = origin.url + "/slow"
    with client.session("latency/recorded", mode="record", latency="as-recorded") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    timing = client.get_cassette("latency/recorded").interactions[0].http.timing
    assert timing.total.ToTimedelta() >= datetime.timedelta(seconds=SLOW_SECONDS * 0.9)
    with client.session("latency/recorded", mode="replay") as s:
        assert s.latency == Latency.as_recorded()
        _, real = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))
    assert SLOW_SECONDS * 0.9 <= real < SLOW_SECONDS + 1.5, f"as recorded ({SLOW_SECONDS}s) took {real:.3f}s"


def test_latency_is_overridden_per_session(
    client: matgto.Client, origin: FaultUpstream, http: requests.Session
) -> None:
    """CONTRACT.md: latency is "overridable per session by Replay/UseCassette
    options like any other option"."""
    url = origin.url + "/slow"
    with client.session("latency/override", mode="record", latency="as-recorded") as s:
        assert http.get(url, proxies=s.proxies(), timeout=10).status_code == 200
    took, reported = {}, {}
    for latency, scale in (("fast", None), (None, 0.5), ("300ms", None)):
        with client.session("latency/override", mode="replay", latency=latency, latency_scale=scale) as s:
            took[latency or scale] = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1]
            reported[latency or scale] = str(s.latency)
    with client.replaying("latency/override", new_session=True, latency="fast") as s:
        took["Replay fast"] = timed(lambda: http.get(url, proxies=s.proxies(), timeout=10))[1]
    assert took["fast"] < 0.3 and took["Replay fast"] < 0.3, took
    assert SLOW_SECONDS * 0.45 <= took[0.5] < SLOW_SECONDS * 0.9, took
    assert 0.29 <= took["300ms"] < SLOW_SECONDS * 0.9, took
    assert reported == {"fast": "fast", 0.5: "as-recorded x0.5", "300ms": "300ms"}, "SessionInfo.options.latency"


# -- the pytest plugin --------------------------------------------------------------------------------


PLUGIN_TESTS = '''
import os

import pytest
import requests

import matgto


def get(session, path, **kwargs):
    http = requests.Session()
    http.trust_env = False
    return http.get(os.environ["UPSTREAM_URL"] + path, proxies=session.proxies(), **kwargs)


@pytest.mark.matgto(mode="passthrough")
def test_fixture_session_takes_faults(matgto_cassette):
    rule = matgto_cassette.add_fault(status=503, first_n=2, url="/orders/")
    assert [get(matgto_cassette, "/orders/1", timeout=10).status_code for _ in range(3)] == [503, 503, 200]
    matgto_cassette.refresh()
    assert matgto_cassette.faults.by_id(rule.id).applied == 2
    matgto_cassette.add_fault(hang=True)
    with pytest.raises(requests.exceptions.Timeout):
        get(matgto_cassette, "/x", timeout=0.5)
    assert len(matgto_cassette.clear_faults()) == 0
    assert get(matgto_cassette, "/x", timeout=10).status_code == 200


@pytest.mark.matgto(mode="passthrough", faults=[matgto.Fault(status=502, url="/down"), {"reset": True, "url": "/rst"}],
                    fault_seed=99)
def test_marker_faults(matgto_cassette):
    assert matgto_cassette.fault_seed == 99
    assert [f.kind for f in matgto_cassette.faults] == ["status", "reset"]
    assert get(matgto_cassette, "/down", timeout=10).status_code == 502
    with pytest.raises(requests.exceptions.ConnectionError):
        get(matgto_cassette, "/rst", timeout=10)


@pytest.mark.matgto(name="plugin/latency", latency="400ms", repeat="reuse")
def test_marker_latency(matgto_cassette):
    assert matgto_cassette.latency == matgto.Latency.fixed("400ms")
    import time
    started = time.monotonic()
    assert get(matgto_cassette, "/orders/9", timeout=10).status_code == 200
    took = time.monotonic() - started
    with open(os.environ["MATGTO_TEST_OUT"], "a") as out:
        out.write(f"{matgto_cassette.mode.name} {took:.3f}\\n")


@pytest.mark.matgto(faults=[{"status": 503, "hang": True}])
def test_bad_marker_faults(matgto_cassette):
    pass
'''


def test_the_plugin_fixture_carries_faults_and_latency(
    pytester: pytest.Pytester,
    server: RunningServer,
    origin: FaultUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.txt"
    monkeypatch.setenv("UPSTREAM_URL", origin.url)
    monkeypatch.setenv("MATGTO_SERVER", server.control)
    monkeypatch.setenv("MATGTO_TEST_OUT", str(out))
    pytester.makepyfile(test_inner=PLUGIN_TESTS)
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    first.assert_outcomes(passed=3, errors=1)
    first.stdout.fnmatch_lines(["*UsageError: @pytest.mark.matgto: a fault does exactly one thing; got status, hang*"])
    second = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "latency")
    second.assert_outcomes(passed=1)
    (recorded, replayed) = [line.split() for line in out.read_text().splitlines()]
    assert recorded[0] == "RECORD" and replayed[0] == "REPLAY"
    assert float(replayed[1]) >= 0.39, f"the replay waited the 400ms stored with the cassette: {replayed}"
    with server.client() as check:
        assert not check.sessions(), "every test's session (and its rules) ended"
