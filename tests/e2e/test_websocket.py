"""WebSocket record and replay through CONNECT (plain and TLS) with real
clients (Python websockets, Node ws) and a real websockets server."""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from conftest import ROOT, wait_for


class WsUpstream:
    """A websockets server in its own thread: greets, echoes, closes on 'bye',
    answers 'slow' with two messages 300 ms apart, counts sessions."""

    def __init__(self, tls_ctx=None):
        self.sessions = 0
        self.ended = 0  # sessions whose connection has ended
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handler(ws):
            self.sessions += 1
            try:
                await serve_one(ws)
            finally:
                self.ended += 1

        async def serve_one(ws):
            await ws.send(f"hello {self.sessions} {ws.request.path}")
            async for msg in ws:
                if msg == "bye":
                    await ws.close(4000, "server says bye")
                    return
                if msg == "drop":
                    ws.transport.abort()  # no close frame: recorded as 1006
                    return
                if msg == "slow":
                    await ws.send("first")
                    await asyncio.sleep(0.3)
                    await ws.send("second")
                    continue
                await ws.send(("echo:" + msg) if isinstance(msg, str) else b"bin:" + msg)

        async def main():
            def pick(connection, offered):
                # Optional subprotocol: the first one we know, or none.
                return next((p for p in offered if p in ("chat.v1", "chat.v2")), None)

            self.server = await serve(handler, "127.0.0.1", 0, ssl=tls_ctx, select_subprotocol=pick)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            await self.server.serve_forever()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        ready.wait(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(5)


@pytest.fixture
def ws_upstream():
    u = WsUpstream()
    yield u
    u.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def conversation(url, proxy, ssl_ctx=None, subprotocols=None):
    """A client session: greeting, text, binary, then the client closes."""
    out = []
    async with connect(url, proxy=proxy, ssl=ssl_ctx, subprotocols=subprotocols) as ws:
        out.append(ws.subprotocol)
        out.append(await ws.recv())
        await ws.send("one")
        out.append(await ws.recv())
        await ws.send(b"\x00\x01\xff")
        out.append(await ws.recv())
    return out


async def server_closes(url, proxy):
    async with connect(url, proxy=proxy) as ws:
        greeting = await ws.recv()
        await ws.send("bye")
        with pytest.raises(websockets.ConnectionClosed) as e:
            await ws.recv()
        return greeting, e.value.rcvd.code, e.value.rcvd.reason


def test_record_replay_through_connect(server, ws_upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    url = f"ws://127.0.0.1:{ws_upstream.port}/chat?room=1"
    server.cli("record", "ws")
    live = run(conversation(url, server.proxy_url, subprotocols=["chat.v2"]))
    assert live == ["chat.v2", "hello 1 /chat?room=1", "echo:one", b"bin:\x00\x01\xff"]
    closed_live = run(server_closes(url, server.proxy_url))
    assert closed_live[1:] == (4000, "server says bye")
    assert "recorded 2" in server.cli("stop").stdout
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("ws").read_bytes())
    s = c.interactions[0].websocket
    assert s.upgrade_request.url == url and s.upgrade_response.status == 101
    kinds = [(m.direction, m.kind, m.payload) for m in s.messages]
    assert kinds[:3] == [(cassette_pb2.SERVER_TO_CLIENT, cassette_pb2.WS_TEXT, b"hello 1 /chat?room=1"),
                         (cassette_pb2.CLIENT_TO_SERVER, cassette_pb2.WS_TEXT, b"one"),
                         (cassette_pb2.SERVER_TO_CLIENT, cassette_pb2.WS_TEXT, b"echo:one")]
    assert (cassette_pb2.CLIENT_TO_SERVER, cassette_pb2.WS_BINARY, b"\x00\x01\xff") in kinds
    assert s.close.initiator == cassette_pb2.CLIENT_TO_SERVER and s.close.code == 1000
    s2 = c.interactions[1].websocket
    assert s2.close.initiator == cassette_pb2.SERVER_TO_CLIENT and s2.close.code == 4000
    assert [m.since_open.ToNanoseconds() for m in s.messages] == sorted(m.since_open.ToNanoseconds() for m in s.messages)

    ws_upstream.close()
    server.cli("replay", "ws")
    assert run(conversation(url, server.proxy_url, subprotocols=["chat.v2"])) == live
    assert run(server_closes(url, server.proxy_url)) == closed_live
    assert "replayed 2" in server.cli("status").stdout


def test_sessions_to_the_same_url_replay_in_recorded_order(server, ws_upstream):
    url = f"ws://127.0.0.1:{ws_upstream.port}/same"
    server.cli("record", "order")
    first = [run(conversation(url, server.proxy_url))[1] for _ in range(3)]
    assert first == ["hello 1 /same", "hello 2 /same", "hello 3 /same"]
    server.cli("stop")
    ws_upstream.close()
    server.cli("replay", "order")
    assert [run(conversation(url, server.proxy_url))[1] for _ in range(3)] == first


def test_client_message_mismatch_closes_1008_and_is_reported(server, ws_upstream):
    url = f"ws://127.0.0.1:{ws_upstream.port}/m"
    server.cli("record", "mm")
    run(conversation(url, server.proxy_url))
    server.cli("stop")
    server.cli("replay", "mm")

    async def wrong():
        async with connect(url, proxy=server.proxy_url) as ws:
            await ws.recv()
            await ws.send("two")  # recorded: "one"
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.rcvd.code, e.value.rcvd.reason

    code, reason = run(wrong())
    assert code == 1008 and "message 1 differs" in reason
    status = server.cli("status").stdout
    assert "ws-mismatch" in status and "message[1]" in status
    assert "recorded 'text one', live 'text two'" in status
    import json
    misses = json.loads(server.cli("status", "--json").stdout)["session"]["misses"]
    assert misses[0]["closest"][0]["differences"][0]["field"] == "message[1]"
    # The log's warn line explains it too.
    wait_for(lambda: "WebSocket client message #1" in server.output(), what="the ws miss line")
    assert "Recorded: text one; live: text two." in server.output()


def test_replay_of_a_dropped_session_drops_the_connection_and_never_sends_close_code_1006(server, ws_upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    url = f"ws://127.0.0.1:{ws_upstream.port}/upstream-drops"
    server.cli("record", "updrop")

    async def upstream_drops():
        async with connect(url, proxy=server.proxy_url) as ws:
            await ws.recv()
            await ws.send("drop")
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value

    recorded = run(upstream_drops())
    time.sleep(0.3)
    server.cli("stop")
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("updrop").read_bytes())
    assert c.interactions[0].websocket.close.code == 1006
    server.cli("replay", "updrop")
    replayed = run(upstream_drops())
    # 1006 is reserved (RFC 6455 7.4.1): a close frame carrying it would make
    # the client fail the connection with 1002. Replay drops it instead.
    assert replayed.rcvd is None and replayed.sent is None, replayed
    assert recorded.rcvd is not None  # (recording: the proxy closed with 1001)


def test_abrupt_disconnects_leave_server_serving(server, ws_upstream, proto_modules, upstream):
    cassette_pb2 = proto_modules[0]
    url = f"ws://127.0.0.1:{ws_upstream.port}/drop"
    server.cli("record", "drop")

    async def drop():
        ws = await connect(url, proxy=server.proxy_url)
        await ws.recv()
        await ws.send("one")
        await ws.recv()
        ws.transport.abort()  # no close frame

    run(drop())
    time.sleep(0.3)
    server.cli("stop")
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("drop").read_bytes())
    assert c.interactions[0].websocket.close.code == 1006
    server.cli("replay", "drop")
    run(drop())
    assert "matgto" in server.cli("status").stdout
    server.cli("use", "after", "--mode", "passthrough")
    assert requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url}).status_code == 200


def test_wss_through_connect_with_matgto_ca(matgto, pki):
    up_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    up_ctx.load_cert_chain(pki / "good.pem", pki / "good.key")
    up = WsUpstream(up_ctx)
    try:
        server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
        ca = server.dir / "ca.pem"
        ca.write_text(server.cli("ca", "export").stdout)
        client_ctx = ssl.create_default_context(cafile=str(ca))
        url = f"wss://localhost:{up.port}/secure"
        server.cli("record", "wss")
        live = run(conversation(url, server.proxy_url, client_ctx))
        assert live[1] == "hello 1 /secure"
        server.cli("stop")
        assert f"wss://localhost:{up.port}/secure".encode() in server.cassette_path("wss").read_bytes()
    finally:
        up.close()
    server.cli("replay", "wss")
    assert run(conversation(url, server.proxy_url, client_ctx)) == live


def test_as_recorded_timing(server, ws_upstream):
    url = f"ws://127.0.0.1:{ws_upstream.port}/t"

    async def slow():
        async with connect(url, proxy=server.proxy_url) as ws:
            await ws.recv()
            await ws.send("slow")
            await ws.recv()
            t = time.monotonic()
            await ws.recv()
            return time.monotonic() - t

    server.cli("record", "timing")
    assert run(slow()) >= 0.25
    server.cli("stop")
    server.cli("replay", "timing")
    assert run(slow()) < 0.2  # as fast as possible by default
    server.cli("replay", "timing", "--ws-timing", "as-recorded")
    assert run(slow()) >= 0.25
    server.cli("replay", "timing", "--ws-timing", "as-recorded", "--ws-speed", "4")
    assert run(slow()) < 0.2


NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="session")
def node_ws():
    subprocess.run(["bash", str(NODE_DIR / "install.sh")], check=True, timeout=300)
    return NODE_DIR / "ws_client.mjs"


def test_node_ws_with_proxy_agent(server, ws_upstream, node_ws):
    url = f"ws://127.0.0.1:{ws_upstream.port}/node"
    server.cli("record", "node")
    live = subprocess.run(["node", str(node_ws), url, server.proxy_url], capture_output=True, text=True, timeout=30)
    assert live.returncode == 0, live.stderr
    assert "hello 1 /node" in live.stdout and "close 4000 server says bye" in live.stdout
    server.cli("stop")
    ws_upstream.close()
    server.cli("replay", "node")
    again = subprocess.run(["node", str(node_ws), url, server.proxy_url], capture_output=True, text=True, timeout=30)
    assert again.stdout == live.stdout, again.stderr


def test_kill_9_during_recording_loses_nothing_completed(matgto, upstream, ws_upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    server = matgto()
    server.cli("record", "crash")
    for i in range(3):
        requests.get(upstream.url(f"/echo?i={i}"), proxies={"http": server.proxy_url})

    async def partial():
        async with connect(f"ws://127.0.0.1:{ws_upstream.port}/c", proxy=server.proxy_url) as ws:
            await ws.recv()
            await ws.send("one")
            await ws.recv()
            time.sleep(0.2)
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()

    try:
        run(partial())
    except Exception:
        pass
    assert not server.cassette_path("crash").exists()
    journal = Path(str(server.cassette_path("crash")) + ".journal")
    assert journal.exists()
    server.log.close()
    again = matgto("--cassette-dir", str(server.cassette_dir))
    assert "recovered cassette 'crash' (4 interactions)" in again.output()
    assert not journal.exists()
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("crash").read_bytes())
    assert [i.http.request.url for i in c.interactions[:3]] == [upstream.url(f"/echo?i={i}") for i in range(3)]
    assert [m.payload for m in c.interactions[3].websocket.messages][:3] == [b"hello 1 /c", b"one", b"echo:one"]
    again.cli("replay", "crash")
    r = requests.get(upstream.url("/echo?i=1"), proxies={"http": again.proxy_url})
    assert r.status_code == 200


def test_reverse_mode_websocket(matgto, ws_upstream):
    server = matgto("--upstream", f"http://127.0.0.1:{ws_upstream.port}")
    url = f"ws://{server.proxy}/rev"  # the client talks to the proxy port directly
    server.cli("record", "revws")
    live = run(conversation(url, None))
    assert live[1] == "hello 1 /rev"
    server.cli("stop")
    assert f"ws://127.0.0.1:{ws_upstream.port}/rev".encode() in server.cassette_path("revws").read_bytes()
    ws_upstream.close()
    server.cli("replay", "revws")
    assert run(conversation(url, None)) == live


def test_node_wss_with_proxy_agent_and_matgto_ca(matgto, pki, node_ws):
    up_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    up_ctx.load_cert_chain(pki / "good.pem", pki / "good.key")
    up = WsUpstream(up_ctx)
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    ca = server.dir / "ca.pem"
    ca.write_text(server.cli("ca", "export").stdout)
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(ca))
    url = f"wss://localhost:{up.port}/node-tls"
    try:
        server.cli("record", "nodewss")
        live = subprocess.run(["node", str(node_ws), url, server.proxy_url], capture_output=True,
                              text=True, timeout=30, env=env)
        assert live.returncode == 0, live.stderr
        assert "hello 1 /node-tls" in live.stdout and "binary 62696e3a010203" in live.stdout
        server.cli("stop")
    finally:
        up.close()
    server.cli("replay", "nodewss")
    again = subprocess.run(["node", str(node_ws), url, server.proxy_url], capture_output=True,
                           text=True, timeout=30, env=env)
    assert again.stdout == live.stdout, again.stderr


def test_text_message_ending_in_a_cut_utf8_sequence_then_an_empty_final_frame_is_refused_with_1007(server, ws_upstream, proto_modules):
    """Beast 1.81 lets such a message through (found by the websocket fuzzer):
    the relay checks the whole message, closes with 1007 and neither forwards
    nor records it."""
    import base64
    import struct
    cassette_pb2 = proto_modules[0]
    server.cli("record", "badtext")
    host, port = server.proxy.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET ws://127.0.0.1:{ws_upstream.port}/bad HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{ws_upstream.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    rest = head.split(b"\r\n\r\n", 1)[1]

    def frame(fin, opcode, payload):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + mask + masked

    def read_frame(buf):
        while len(buf) < 2:
            buf += s.recv(4096)
        n = buf[1] & 0x7F
        while len(buf) < 2 + n:
            buf += s.recv(4096)
        return buf[0] & 0x0F, buf[2:2 + n], buf[2 + n:]

    opcode, payload, rest = read_frame(rest)  # the upstream's greeting
    assert opcode == 1 and payload.startswith(b"hello")
    s.sendall(frame(False, 1, b"caf\xc3") + frame(True, 0, b""))
    opcode, payload, rest = read_frame(rest)
    assert opcode == 8, (opcode, payload)
    assert struct.unpack("!H", payload[:2])[0] == 1007
    assert b"not UTF-8" in payload
    s.close()
    time.sleep(0.3)
    server.cli("stop")
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("badtext").read_bytes())
    ws = c.interactions[0].websocket
    assert all(b"caf" not in m.payload for m in ws.messages)
    assert ws.close.code == 1007
    assert "matgto" in server.cli("status").stdout


async def talk_then_stay_silent(url, proxy, close=False):
    """Six messages 0.3 s apart (longer than a 1 s idle timeout in all),
    then silence: returns how long the talk took, and how long the silence
    lasted before the proxy ended the session (or None, with `close`: the
    client closes instead)."""
    async with connect(url, proxy=proxy) as ws:
        await ws.recv()  # the greeting
        start = time.monotonic()
        for i in range(6):
            if i:
                await asyncio.sleep(0.3)
            await ws.send(f"m{i}")
            assert await ws.recv() == f"echo:m{i}"
        talked = time.monotonic() - start
        if close:
            return talked, None
        silent = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed) as e:
            await ws.recv()
        assert e.value.rcvd is None  # dropped, no close frame (1006)
        return talked, time.monotonic() - silent


def test_ws_idle_timeout_ends_a_relayed_session_silent_that_long_and_the_cassette_says_why(matgto, ws_upstream, proto_modules):
    cassette_pb2 = proto_modules[0]
    server = matgto("--ws-idle-timeout", "1")
    url = f"ws://127.0.0.1:{ws_upstream.port}/idle"
    server.cli("record", "idle")
    talked, silent = run(talk_then_stay_silent(url, server.proxy_url))
    assert talked > 1.4  # messages kept it open past the timeout
    assert 0.5 < silent < 5, silent
    # The relay records the close before it tells the upstream.
    wait_for(lambda: ws_upstream.ended == 1, what="the upstream told")
    assert "recorded 1" in server.cli("stop").stdout
    c = cassette_pb2.Cassette()
    c.ParseFromString(server.cassette_path("idle").read_bytes())
    close = c.interactions[0].websocket.close
    assert close.code == 1006, close
    assert close.reason == "no message either way for 1s (--ws-idle-timeout)", close
    assert len(c.interactions[0].websocket.messages) == 13  # greeting + 6 x 2


def test_ws_idle_timeout_ends_a_replayed_session_silent_that_long(matgto, ws_upstream):
    server = matgto("--ws-idle-timeout", "1")
    url = f"ws://127.0.0.1:{ws_upstream.port}/idle-replay"
    server.cli("record", "idle-replay")
    run(talk_then_stay_silent(url, server.proxy_url, close=True))
    server.cli("stop")
    ws_upstream.close()
    server.cli("replay", "idle-replay")
    # The recording ends with the client's close: replay waits for it, and
    # the client stays silent instead.
    talked, silent = run(talk_then_stay_silent(url, server.proxy_url))
    assert talked > 1.4
    assert 0.5 < silent < 5, silent
    assert "replayed 1" in server.cli("status").stdout
