"""matgto.aio: the asyncio client against a real server, with httpx (async) through the proxy."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

import httpx
import pytest

import matgto
import matgto.aio
from matgto.testing import LocalServer

from conftest import Upstream

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def test_aio_records_then_replays_with_httpx(server: LocalServer, upstream: Upstream) -> None:
    async def main() -> Any:
        async with matgto.aio.Client(server.control) as client:
            assert (await client.status()).api_version == matgto.API_VERSION
            assert await client.proxy_url() == server.proxy_url
            async with client.session("aio/users") as s:
                assert s.id.startswith("s-") and s.mode is matgto.Mode.RECORD
                async with httpx.AsyncClient(proxy=s.proxy_url, trust_env=False) as http:
                    first = (await http.get(upstream.url + "/users/1")).text
            assert s.summary is not None and s.summary.session.recorded == 1
            assert [c.name for c in await client.list_cassettes("aio/")] == ["aio/users"]

            opened = await client.session("aio/users")  # awaited: stopped by hand
            try:
                assert opened.mode is matgto.Mode.REPLAY
                async with httpx.AsyncClient(proxy=opened.proxy_url, trust_env=False) as http:
                    again = (await http.get(upstream.url + "/users/1")).text
            finally:
                summary = await opened.stop()
            assert summary.session.replayed == 1
            assert await opened.stop() is summary, "stop() is idempotent"
            cassette = await client.get_cassette("aio/users")
            assert len(cassette.interactions) == 1
            await client.put_cassette(cassette, "aio/copy")
            await client.delete_cassette("aio/copy")
            return first, again

    first, again = run(main)
    assert first == again and upstream.calls == 1


def test_aio_errors_faults_and_events(server: LocalServer, upstream: Upstream) -> None:
    async def main() -> None:
        async with matgto.aio.Client(server.control) as client:
            with pytest.raises(matgto.CassetteNotFoundError):
                await client.replay("aio/missing")
            with pytest.raises(matgto.InvalidArgumentError):
                await client.use_cassette("../escape")
            async with client.session("aio/faults", lease=3) as s:
                events = await s.events()
                rule = await s.add_fault(status=503, first_n=1)
                assert rule.id and [f.id for f in s.faults] == [rule.id]
                async with httpx.AsyncClient(proxy=s.proxy_url, trust_env=False) as http:
                    assert (await http.get(upstream.url + "/f")).status_code == 503
                    assert (await http.get(upstream.url + "/f")).status_code == 200
                async with s.with_fault(status=418) as teapot:
                    assert teapot.id in [f.id for f in s.faults]
                assert [f.id for f in s.faults] == [rule.id]
                assert await s.clear_faults() == []
                seen = []
                async with events:
                    async for event in events:
                        if event.WhichOneof("kind") == "exchange":
                            seen.append(event.exchange.status)
                        if len(seen) == 2:
                            break
                assert seen == [503, 200]
                await asyncio.sleep(2.5)  # past the 3 s lease only with renewals
                info = await s.refresh()
                assert s.renewals >= 1 and info.id == s.id
            assert s.end_reason == "stopped"
            with pytest.raises(matgto.CassetteNotFoundError):
                await client.renew_session(s.id)
        with pytest.raises(matgto.MatgtoError, match="closed"):
            await client.status()

    run(main)


def test_aio_unreachable_server_is_unavailable(server: LocalServer) -> None:
    async def main() -> None:
        address = server.control
        server.stop()
        async with matgto.aio.Client(address, timeout=2) as client:
            with pytest.raises(matgto.ServerUnavailableError, match="unavailable"):
                await client.status()
            with pytest.raises(matgto.ServerUnavailableError):
                await client.wait_until_ready(timeout=0.5)

    run(main)


def test_aio_control_channel_ignores_proxy_variables(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "grpc_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def main() -> None:
        async with matgto.aio.Client(server.control, timeout=5) as client:
            assert (await client.wait_until_ready()).control_address == server.control
        # The check can fail: with gRPC's proxy support on, the variables lead to the dead proxy.
        async with matgto.aio.Client(server.control, timeout=3, channel_options=[("grpc.enable_http_proxy", 1)]) as c:
            with pytest.raises(matgto.ServerUnavailableError):
                await c.status()

    run(main)


def test_aio_default_session_context_managers_and_shutdown(server: LocalServer, upstream: Upstream) -> None:
    async def main() -> None:
        async with matgto.aio.Client(server.control) as client:
            async with client.recording("aio/default") as s:  # the default session, the shared proxy
                assert s.is_default and s.proxy_url == server.proxy_url
                rule = await client.add_fault(None, status=502, first_n=1)
                assert [f.id for f in await client.faults()] == [rule.id]
                async with httpx.AsyncClient(proxy=s.proxy_url, trust_env=False) as http:
                    assert (await http.get(upstream.url + "/d")).status_code == 502
                    assert (await http.get(upstream.url + "/d")).status_code == 200
                assert await client.clear_faults(None) == []
            assert s.summary is not None and s.summary.session.recorded == 1
            async with client.replaying("aio/default", repeat="reuse") as s:
                assert s.mode is matgto.Mode.REPLAY
            async with client.cassette("aio/default", "replay") as s:
                assert s.name == "aio/default"
            assert [e.session.cassette for e in await client.ended_sessions()][:1] == ["aio/default"]
            assert await client.sessions() == []
            bundle = await client.ca_bundle()
            assert "BEGIN CERTIFICATE" in open(bundle).read()
            await client.shutdown(grace=1)
        assert server.proc.wait(timeout=20) == 0, server.log_tail()

    run(main)
