"""Issue 11, "Secrets", end to end: nothing a redaction rule covers reaches a
cassette or a journal, wherever the secret travels (WebSocket messages,
bodies under two content codings, echoes in bodies, redirects and later
requests); a body no rule can see is reported (or refused); and replay of
what was redacted still matches."""
import asyncio
import gzip
import http.server
import json
import threading
import time
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from conftest import wait_for

TOKEN = "at-5f1c0e9a7b3d42e8"
REFRESH = "rt-0b8e2d6c4a9f7135"
PASSWORD = "pw-correct-horse-battery"
API_KEY = "key-3c9a1f7e5b2d8046"


class SecretsHandler(http.server.BaseHTTPRequestHandler):
    """An OAuth-ish upstream that hands out tokens and echoes them back."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/token":
            form = parse_qs(body.decode())
            if form.get("password") != [PASSWORD]:
                return self._send(401, b"bad password")
            return self._send(200, json.dumps({
                "access_token": TOKEN, "refresh_token": REFRESH, "token_type": "Bearer",
                "expires_in": 3600}).encode(), [("Content-Type", "application/json")])
        if url.path == "/items":
            # Echoes what it was sent: the Authorization header, the query
            # and the body, as a debugging API would.
            return self._send(200, json.dumps({
                "items": [1, 2, 3], "auth": self.headers.get("Authorization", ""),
                "query": url.query, "body": body.decode()}).encode(),
                [("Content-Type", "application/json")])
        if url.path == "/login-redirect":
            key = self.headers.get("X-Api-Key", "")
            return self._send(302, b"", [("Location", f"/landing?session={key}&next=%2Fhome"),
                                        ("X-Seen-Key", key)])
        if url.path == "/landing":
            return self._send(200, f"welcome, session {q.get('session', [''])[0]}".encode(),
                              [("Content-Type", "text/plain")])
        if url.path == "/two-codings":
            doc = json.dumps({"user": "bob", "password": PASSWORD}).encode()
            data = gzip.compress(zlib.compress(doc), mtime=0)  # deflate, then gzip
            return self._send(200, data, [("Content-Type", "application/json"),
                                          ("Content-Encoding", "deflate, gzip")])
        if url.path == "/zstd":
            return self._send(200, b"(\xb5/\xfd not really zstd) password=" + PASSWORD.encode(),
                              [("Content-Type", "application/x-www-form-urlencoded"),
                               ("Content-Encoding", "zstd")])
        return self._send(404, b"not found")

    do_GET = do_POST = _route


@pytest.fixture
def api():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SecretsHandler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def session_for(server):
    s = requests.Session()
    s.proxies = {"http": server.proxy_url}
    return s


def cassette_bytes(server, name):
    return server.cassette_path(name).read_bytes()


def assert_no_secret(data: bytes, *secrets):
    for secret in secrets:
        assert secret.encode() not in data, secret


def oauth_client(server, base):
    """Logs in, then uses the token in a header, a query parameter and a
    form body; returns what the API answered."""
    s = session_for(server)
    r = s.post(base + "/token", data={"grant_type": "password", "username": "bob",
                                      "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    items = s.post(base + "/items", params={"t": token, "page": "2"},
                   data={"token": token, "note": "hello"},
                   headers={"Authorization": f"Bearer {token}"})
    assert items.status_code == 200, items.text
    return token, items.json()


def test_token_responses_are_redacted_by_default_and_requests_carrying_them_replay(server, api):
    server.cli("record", "oauth")
    token, live = oauth_client(server, api.base)
    assert token == TOKEN and live["auth"] == f"Bearer {TOKEN}"
    server.cli("stop")
    data = cassette_bytes(server, "oauth")
    assert_no_secret(data, TOKEN, REFRESH, PASSWORD)
    assert b'"access_token":"[REDACTED]"' in data

    api.shutdown()
    server.cli("replay", "oauth")
    # The client now gets "[REDACTED]" as its token and sends it back in the
    # header, the query and the form: all of it matches the recording.
    token, replayed = oauth_client(server, api.base)
    assert token == "[REDACTED]"
    assert replayed["items"] == [1, 2, 3]
    assert TOKEN not in json.dumps(replayed)
    status = json.loads(server.cli("status", "--json").stdout)["session"]
    assert int(status.get("missed", 0)) == 0 and int(status["replayed"]) == 2


def test_a_secret_echoed_in_a_body_a_redirect_and_other_headers_is_scrubbed_everywhere(server, api):
    server.cli("record", "echo")
    s = session_for(server)
    r = s.get(api.base + "/login-redirect", headers={"X-Api-Key": API_KEY})
    # requests followed the redirect, with the key in the URL.
    assert r.status_code == 200 and r.text == f"welcome, session {API_KEY}"
    assert r.history and API_KEY in r.history[0].headers["Location"]
    server.cli("stop")
    data = cassette_bytes(server, "echo")
    assert_no_secret(data, API_KEY)
    # The Location header and the URL the client followed.
    assert data.count(b"/landing?session=%5BREDACTED%5D&next=%2Fhome") == 2
    assert b"welcome, session [REDACTED]" in data

    api.shutdown()
    server.cli("replay", "echo")
    again = s.get(api.base + "/login-redirect", headers={"X-Api-Key": "another-key-123456"})
    assert again.status_code == 200 and again.text == "welcome, session [REDACTED]"


def test_two_content_codings_are_decoded_in_order_and_redacted(server, api):
    server.cli("record", "codings")
    r = session_for(server).get(api.base + "/two-codings")
    assert r.json() == {"user": "bob", "password": PASSWORD}
    summary = json.loads(server.cli("stop", "--json").stdout)
    assert not summary.get("warnings"), summary
    data = cassette_bytes(server, "codings")
    assert_no_secret(data, PASSWORD)
    assert b'"password":"[REDACTED]"' in data
    api.shutdown()
    server.cli("replay", "codings")
    again = session_for(server).get(api.base + "/two-codings")
    assert again.json() == {"user": "bob", "password": "[REDACTED]"}
    assert "Content-Encoding" not in again.headers


def test_an_unknown_content_coding_is_a_warning_in_the_stop_summary(server, api):
    server.cli("record", "zstd")
    # stream: the client need not decode what matgto cannot either.
    r = session_for(server).get(api.base + "/zstd", stream=True)
    assert r.status_code == 200 and PASSWORD.encode() in r.raw.read(decode_content=False)
    out = server.cli("stop").stdout
    assert "warning:" in out and "zstd" in out and "stored as sent" in out, out
    ended = json.loads(server.cli("status", "--json").stdout)["ended_sessions"][0]
    assert any("zstd" in w for w in ended["warnings"]), ended
    assert "warning:" in server.output()


def test_on_unredactable_refuse_does_not_store_the_exchange(server, api, proto_modules):
    cassette_pb2 = proto_modules[0]
    server.cli("record", "refuse", "--on-unredactable", "refuse")
    s = session_for(server)
    r = s.get(api.base + "/zstd", stream=True)
    assert r.status_code == 200 and r.raw.read(decode_content=False)  # the client still gets it
    assert s.get(api.base + "/landing?session=x").status_code == 200
    summary = json.loads(server.cli("stop", "--json").stdout)
    assert any("was not stored" in w and "/zstd" in w for w in summary["warnings"]), summary
    c = cassette_pb2.Cassette()
    c.ParseFromString(cassette_bytes(server, "refuse"))
    assert [i.http.request.url for i in c.interactions] == [api.base + "/landing?session=x"]
    assert_no_secret(cassette_bytes(server, "refuse"), PASSWORD)


class EchoWs:
    """A WebSocket server that greets with a key and echoes every message."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handler(ws):
            await ws.send(json.dumps({"hello": "client", "auth": {"key": API_KEY}}))
            async for msg in ws:
                await ws.send("echo:" + msg if isinstance(msg, str) else b"echo:" + msg)

        async def main():
            self.server = await serve(handler, "127.0.0.1", 0)
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
def echo_ws():
    u = EchoWs()
    yield u
    u.close()


async def ws_client(url, proxy, secret):
    out = []
    async with connect(url, proxy=proxy) as ws:
        out.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"op": "login", "password": secret}))
        out.append(await ws.recv())
        await ws.send(f"charge with sk_live_{secret}")
        out.append(await ws.recv())
        await ws.send(b"\x00bin sk_live_" + secret.encode())
        out.append(await ws.recv())
    return out


def test_websocket_messages_are_redacted_in_cassette_and_journal_and_replay_still_matches(
        server, echo_ws):
    url = f"ws://127.0.0.1:{echo_ws.port}/feed"
    server.cli("record", "wsred", "--redact-pattern", "sk_live_[A-Za-z0-9-]+",
               "--redact-json", "/auth/key")
    live = asyncio.run(asyncio.wait_for(ws_client(url, server.proxy_url, PASSWORD), 20))
    assert live[0]["auth"]["key"] == API_KEY
    # The journal is written as the session goes: redacted already.
    journal = server.cassette_dir / "wsred.pb.journal"
    wait_for(lambda: journal.exists() and b"echo:" in journal.read_bytes(), what="journal entries")
    wait_for(lambda: journal.read_bytes().count(b"REDACTED") >= 7, what="the last message journaled")
    assert_no_secret(journal.read_bytes(), API_KEY, PASSWORD, f"sk_live_{PASSWORD}")
    server.cli("stop")
    data = cassette_bytes(server, "wsred")
    assert_no_secret(data, API_KEY, PASSWORD, f"sk_live_{PASSWORD}")
    assert b'"key":"[REDACTED]"' in data and b"charge with [REDACTED]" in data
    assert b"\x00bin [REDACTED]" in data

    echo_ws.close()
    server.cli("replay", "wsred")
    # Another password and key: equal to the recording once redacted.
    replayed = asyncio.run(asyncio.wait_for(ws_client(url, server.proxy_url, "pw-other-456789"), 20))
    assert replayed[0]["auth"]["key"] == "[REDACTED]"
    assert replayed[1] == 'echo:{"op": "login", "password": "[REDACTED]"}'
    assert replayed[2] == "echo:charge with [REDACTED]"
    assert replayed[3] == b"echo:\x00bin [REDACTED]"
    status = json.loads(server.cli("status", "--json").stdout)["session"]
    assert not status.get("misses"), status
