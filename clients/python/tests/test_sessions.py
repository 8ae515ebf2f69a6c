"""Sessions (issue 9) against a real matgto server and a real upstream."""

from __future__ import annotations

import datetime
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import grpc
import pytest
import requests

import matgto
from matgto import CassetteNotFoundError, FailedPreconditionError, Mode

from conftest import RunningServer, Upstream, start_server, stop_server

SESSION_ID = re.compile(r"s-[0-9a-f]{16}")
UTC = datetime.timezone.utc


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def urls(client: matgto.Client, name: str) -> list:
    return [i.http.request.url for i in client.get_cassette(name).interactions]


def test_two_sessions_record_side_by_side(
    server: RunningServer, client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    before = datetime.datetime.now(UTC)
    with client.session("par/a", owner="test a") as a, client.session("par/b", owner="test b", mode="record") as b:
        for s in (a, b):
            assert SESSION_ID.fullmatch(s.id), s.id
            assert s.mode == Mode.RECORD
            assert s.proxy_address.startswith("127.0.0.1:") and s.proxy_address != server.proxy
            assert s.proxy_url == "http://" + s.proxy_address
            assert re.fullmatch(rf"http://{s.id}(:[^@]*)?@{re.escape(server.proxy)}", s.info.proxy_url), s.info.proxy_url
            assert s.lease == datetime.timedelta(seconds=30)
            assert s.opened_at is not None and before - datetime.timedelta(seconds=5) <= s.opened_at
            assert s.lease_expires_at is not None
            assert abs((s.lease_expires_at - s.opened_at) - datetime.timedelta(seconds=30)) < datetime.timedelta(seconds=5)
        assert a.id != b.id and a.proxy_address != b.proxy_address
        assert (a.owner, b.owner) == ("test a", "test b")
        for i in range(3):  # interleaved
            assert http.get(f"{upstream.url}/a/{i}", proxies=a.proxies(), timeout=10).status_code == 200
            assert http.get(f"{upstream.url}/b/{i}", proxies=b.proxies(), timeout=10).status_code == 200

        status = client.status()
        listed = {info.id: info for info in status.sessions}
        assert {a.id, b.id} <= set(listed)
        assert listed[a.id].owner == "test a" and listed[a.id].recorded == 3
        assert listed[b.id].cassette == "par/b" and listed[b.id].proxy_address == b.info.proxy_address
        assert listed[a.id].HasField("age") and listed[a.id].HasField("lease_expires_at")
        assert not status.HasField("session"), "the default session is not involved"
        assert status.max_sessions == 256
    assert a.summary is not None and b.summary is not None
    assert (a.end_reason, b.end_reason) == ("stopped", "stopped")
    assert a.ended_at is not None and a.summary.session.recorded == 3 and a.summary.saved_path
    assert urls(client, "par/a") == [f"{upstream.url}/a/{i}" for i in range(3)]
    assert urls(client, "par/b") == [f"{upstream.url}/b/{i}" for i in range(3)]

    ended = {summary.session.id: summary for summary in client.ended_sessions()}
    assert ended[a.id].end_reason == "stopped" and ended[a.id].HasField("ended_at")
    assert not any(info.id in (a.id, b.id) for info in client.sessions())


def test_stop_closes_the_session_port(client: matgto.Client, upstream: Upstream) -> None:
    with client.session("closing/one") as s:
        host, port = s.proxy_address.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=5).close()
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_shared_port_with_the_session_as_proxy_user(
    server: RunningServer, client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.session("shared/port") as s:
        assert s.shared_proxy_url == f"http://{s.id}:matgto@{server.proxy}"
        r = http.get(upstream.url + "/via-shared", proxies=s.shared_proxies(), timeout=10)
        assert r.status_code == 200
        # urllib sends a credential only with a non-empty password: the reason for one.
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": s.shared_proxy_url}))
        with opener.open(upstream.url + "/via-urllib", timeout=10) as answer:
            assert answer.status == 200
        unknown = http.get(upstream.url + "/x", proxies={"http": f"http://s-00000000deadbeef:matgto@{server.proxy}"}, timeout=10)
        assert unknown.status_code == 407
        assert unknown.headers.get("X-Matgto-Error") == "unknown-session"
    assert s.summary is not None and s.summary.session.recorded == 2
    assert urls(client, "shared/port") == [upstream.url + "/via-shared", upstream.url + "/via-urllib"]
    assert upstream.calls == 2, "the unknown session's request went nowhere"


def test_sessions_replay_one_cassette_each_with_its_own_used_state(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.session("multi/one", mode="record") as rec:
        recorded = http.get(upstream.url + "/once", proxies=rec.proxies(), timeout=10)
    upstream.stop()
    with client.session("multi/one", mode="replay", on_exhausted="error") as x, \
            client.session("multi/one", mode="replay", on_exhausted="error") as y:
        for s in (x, y):
            assert s.mode == Mode.REPLAY
            again = http.get(upstream.url + "/once", proxies=s.proxies(), timeout=10)
            assert again.content == recorded.content
        for s in (x, y):
            assert http.get(upstream.url + "/once", proxies=s.proxies(), timeout=10).status_code == 599
    for s in (x, y):
        assert s.summary is not None and s.summary.session.replayed == 1
        assert [m.reason for m in s.failing_misses] == ["exhausted"]
        assert "GET " + upstream.url + "/once -> exhausted" in s.explain_misses()


def test_replay_miss_is_listed_with_its_explanation(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.session("explain/one", mode="record") as rec:
        http.get(upstream.url + "/users/1", proxies=rec.proxies(), timeout=10)
    with client.session("explain/one", mode="replay") as s:
        miss = http.get(upstream.url + "/users/2", proxies=s.proxies(), timeout=10)
        assert miss.status_code == 599 and miss.headers.get("X-Matgto-Error") == "no-match"
        live = s.refresh()
        assert live.missed == 1 and live.misses[0].reason == "no-match"
    text = s.explain_misses()
    assert f"GET {upstream.url}/users/2 -> no-match" in text
    assert f"closest: #0 GET {upstream.url}/users/1" in text
    assert "path: recorded '/users/1', live '/users/2'" in text


def test_raw_calls_act_on_the_named_session(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    info = client.start_recording("raw/first", new_session=True, owner="raw")
    assert SESSION_ID.fullmatch(info.id) and not info.HasField("lease"), "no lease unless asked"
    proxies = {"http": "http://" + info.proxy_address}
    http.get(upstream.url + "/1", proxies=proxies, timeout=10)
    # Another cassette in the same session: the first one is saved and ends as "replaced".
    second = client.use_cassette("raw/second", "record", session=info.id)
    assert second.id == info.id and second.cassette == "raw/second"
    http.get(upstream.url + "/2", proxies=proxies, timeout=10)
    replaced = [s for s in client.ended_sessions() if s.session.cassette == "raw/first"]
    assert replaced and replaced[0].end_reason == "replaced"
    summary = client.stop(session=info.id)
    assert summary.session.cassette == "raw/second" and summary.end_reason == "stopped"
    assert urls(client, "raw/first") == [upstream.url + "/1"]
    assert urls(client, "raw/second") == [upstream.url + "/2"]
    with pytest.raises(CassetteNotFoundError):
        client.stop(session=info.id)


def test_session_errors(server: RunningServer, client: matgto.Client) -> None:
    unknown = "s-00000000deadbeef"
    for call in (
        lambda: client.start_recording("e/x", session=unknown),
        lambda: client.replay("e/x", session=unknown),
        lambda: client.use_cassette("e/x", session=unknown),
        lambda: client.stop(session=unknown),
        lambda: client.renew_session(unknown),
    ):
        with pytest.raises(CassetteNotFoundError) as caught:
            call()
        assert caught.value.code is grpc.StatusCode.NOT_FOUND and caught.value.message

    with client.session("e/held", mode="record") as holder:
        with pytest.raises(FailedPreconditionError) as held:
            client.session("e/held", mode="record")
        assert holder.id in held.value.message
        with pytest.raises(FailedPreconditionError):
            client.start_recording("e/held")  # the default session neither
    with client.session("e/held", mode="record"):  # "e/held" exists now: re-record it
        pass
    with client.session("e/held", mode="record") as holder:
        with pytest.raises(FailedPreconditionError) as replaying:
            client.session("e/held", mode="replay")
        assert holder.id in replaying.value.message
    with client.session("e/hour", lease=3600) as hour:  # both bounds of 1 s..1 h are accepted
        assert hour.lease == datetime.timedelta(hours=1)
    with pytest.raises(matgto.InvalidArgumentError):
        client.session("e/short-lease", lease=0.5)
    with pytest.raises(matgto.InvalidArgumentError):
        client.session("e/long-lease", lease=datetime.timedelta(hours=2))
    with pytest.raises(matgto.InvalidArgumentError):
        client.session("e/owner", owner="x" * 257)
    assert [s.cassette for s in client.sessions()] == [], "failed opens leave no session behind"


def test_max_sessions_is_resource_exhausted(tmp_path: Path) -> None:
    server = start_server(tmp_path / "max", "--max-sessions", "2")
    try:
        with server.client() as client:
            assert client.status().max_sessions == 2
            with client.session("m/1"), client.session("m/2"):
                with pytest.raises(matgto.ResourceExhaustedError) as caught:
                    client.session("m/3")
                assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
                client.start_recording("m/default")  # the default session is not counted
                client.stop()
            with client.session("m/3"):
                pass
    finally:
        stop_server(server)


def test_renewal_keeps_a_session_past_its_lease(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.session("lease/kept", lease=1) as s:
        first_expiry = s.lease_expires_at
        time.sleep(2.5)
        assert http.get(upstream.url + "/late", proxies=s.proxies(), timeout=10).status_code == 200
        assert s.renewals >= 3 and not s.lost
        assert s.lease_expires_at is not None and first_expiry is not None and s.lease_expires_at > first_expiry
        assert s.id in [info.id for info in client.sessions()]
    assert s.end_reason == "stopped" and s.summary is not None and s.summary.session.recorded == 1


def test_a_session_nobody_renews_ends_after_its_lease(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    info = client.use_cassette("lease/expired", "record", new_session=True, lease=1, owner="forgetful")
    assert info.lease.ToTimedelta() == datetime.timedelta(seconds=1)
    expires = client.renew_session(info.id)
    assert expires.tzinfo is not None and expires > datetime.datetime.now(UTC)
    http.get(upstream.url + "/kept", proxies={"http": "http://" + info.proxy_address}, timeout=10)

    def ended() -> bool:
        return any(s.session.id == info.id for s in client.ended_sessions())

    wait_until(ended, what="the lease to expire")
    (summary,) = [s for s in client.ended_sessions() if s.session.id == info.id]
    assert summary.end_reason == "lease-expired" and summary.session.owner == "forgetful"
    assert summary.saved_path and not summary.save_error
    assert urls(client, "lease/expired") == [upstream.url + "/kept"], "what it recorded was saved"
    with pytest.raises(CassetteNotFoundError):
        client.renew_session(info.id)


def test_a_session_stopped_elsewhere_is_lost_and_stop_says_why(
    server: RunningServer, client: matgto.Client
) -> None:
    s = client.session("lost/one", lease=1)
    with server.client() as other:
        other.stop(session=s.id)
    wait_until(lambda: s.lost, what="a renewal to find the session gone")
    with pytest.raises(matgto.SessionLostError) as caught:
        s.stop()
    assert caught.value.session_id == s.id
    assert "stopped" in str(caught.value) and "renewing its lease failed" in str(caught.value)
    assert s.end_reason == "stopped", "the summary of that end comes from ended_sessions"


def test_a_dead_test_process_leaves_a_session_that_expires(
    server: RunningServer, client: matgto.Client, upstream: Upstream
) -> None:
    script = textwrap.dedent(
        f"""
        import requests, matgto
        client = matgto.Client({server.control!r})
        s = client.session("dead/process", lease=1, owner="doomed")
        http = requests.Session(); http.trust_env = False
        http.get({upstream.url!r} + "/before-death", proxies=s.proxies(), timeout=10)
        print(s.id, flush=True)
        # no stop: the renewal thread must not keep the process alive
        """
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    session_id = done.stdout.strip()
    assert SESSION_ID.fullmatch(session_id), done.stdout

    def ended() -> bool:
        return any(s.session.id == session_id for s in client.ended_sessions())

    wait_until(ended, what="the dead process's lease to expire")
    (summary,) = [s for s in client.ended_sessions() if s.session.id == session_id]
    assert summary.end_reason == "lease-expired"
    assert urls(client, "dead/process") == [upstream.url + "/before-death"]


def test_stop_by_session_on_the_default_session_still_works(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    info = client.start_recording("default/one")
    assert info.id == "default" and info.proxy_address
    with client.session("beside/default") as s:
        http.get(upstream.url + "/d", proxies=client.proxies(), timeout=10)
        http.get(upstream.url + "/s", proxies=s.proxies(), timeout=10)
        status = client.status()
        assert status.session.id == "default"
        assert [i.id for i in status.sessions][:1] == ["default"], "the default one first"
    summary = client.stop()
    assert summary.session.id == "default" and summary.session.recorded == 1
    assert urls(client, "default/one") == [upstream.url + "/d"]
    assert urls(client, "beside/default") == [upstream.url + "/s"]


def test_websocket_mismatch_is_a_failing_miss_of_its_session(client: matgto.Client) -> None:
    import asyncio
    import threading

    import websockets
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list = []
    servers: list = []

    async def echo(ws) -> None:  # type: ignore[no-untyped-def]
        await ws.send("hello")
        async for message in ws:
            await ws.send("echo:" + message)

    async def main() -> None:
        server = await serve(echo, "127.0.0.1", 0)
        servers.append(server)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await server.wait_closed()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    url = f"ws://127.0.0.1:{port[0]}/chat"

    async def talk(proxy: str, message: str) -> list:
        async with connect(url, proxy=proxy) as ws:
            got = [await ws.recv()]
            await ws.send(message)
            try:
                got.append(await ws.recv())
            except websockets.ConnectionClosed as closed:
                got.append(closed.rcvd.code if closed.rcvd else None)
            return got

    def run(proxy: str, message: str) -> list:
        return asyncio.run(asyncio.wait_for(talk(proxy, message), 20))

    try:
        with client.session("ws/chat", mode="record") as rec:
            assert run(rec.proxy_url, "one") == ["hello", "echo:one"]
        with client.session("ws/chat", mode="replay") as s:
            assert run(s.proxy_url, "two") == ["hello", 1008]
    finally:
        loop.call_soon_threadsafe(servers[0].close)
        thread.join(10)
        loop.close()
    assert [m.reason for m in s.failing_misses] == ["ws-mismatch"]
    assert "-> ws-mismatch" in s.explain_misses()
