"""WebSocket fault rules (issue 16) against a real matgto server: a real WebSocket
echo server (the ``websockets`` library) on 127.0.0.1 behind the proxy, rules
that drop the connection or delay each message, and HTTP rules and WebSocket
rules kept apart.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any, Iterator, List

import pytest
import requests

import matgto

from conftest import FaultUpstream


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
