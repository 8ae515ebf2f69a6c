"""Latency and fault injection (issue 16), end to end: real clients (requests
with urllib3 retries, curl, raw sockets) against the real binary and real
upstreams on loopback."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

import grpc
import pytest
import requests
from google.protobuf import duration_pb2
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from conftest import curl, wait_for
from test_sessions import control_stub, load, open_session


def faults(server, proto_modules, session="", seed=0, **fault):
    pb, stub = control_stub(server, proto_modules)
    return stub.SetFaults(pb.SetFaultsRequest(session=session, seed=seed,
                                              faults=[pb.Fault(**fault)]))


def test_first_two_503s_then_urllib3_retries_reach_the_recorded_answer(
        server, upstream, proto_modules):
    pb, stub = control_stub(server, proto_modules)
    server.cli("record", "retry")
    live = requests.get(upstream.url("/echo?order=1"), proxies={"http": server.proxy_url},
                        timeout=10).content
    server.cli("stop")
    upstream.close()
    server.cli("replay", "retry")
    status = pb.StatusFault(code=503, headers=[proto_modules[0].Header(name="Retry-After", value="0")])
    got = faults(server, proto_modules, status=status, first_n=2, url_pattern="/echo")
    assert [f.id for f in got.faults] == ["f1"] and got.seed != 0
    with requests.Session() as http:
        http.mount("http://", HTTPAdapter(max_retries=Retry(
            total=3, status_forcelist=[503], backoff_factor=0, respect_retry_after_header=True)))
        r = http.get(upstream.url("/echo?order=1"), proxies={"http": server.proxy_url}, timeout=10)
    assert r.status_code == 200 and r.content == live
    info = stub.GetStatus(pb.GetStatusRequest()).session
    assert info.faults[0].applied == 2 and info.replayed == 1
    # Without retries the next request sees the real answer: first_n is spent.
    assert requests.get(upstream.url("/echo?order=1"), proxies={"http": server.proxy_url},
                        timeout=10).status_code == 200
    assert "fault f1 status 503" in server.output()


def test_curl_sees_a_reset_and_requests_a_timeout_under_hang(server, upstream, proto_modules):
    s = open_session(server, "broken", "use", "--mode", "passthrough")
    faults(server, proto_modules, session=s["id"], url_pattern="[?]reset",
           reset=proto_modules[1].ResetFault(when=proto_modules[1].ResetFault.BEFORE_HEADERS))
    faults(server, proto_modules, session=s["id"], url_pattern="/hang",
           hang=proto_modules[1].Hang())
    r = curl(f"http://{s['proxy_address']}", upstream.url("/echo?reset"))
    assert r.returncode in (52, 56), r  # empty reply / connection reset
    t = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(upstream.url("/hang"), proxies={"http": f"http://{s['proxy_address']}"},
                     timeout=1.5)
    assert 1.4 < time.monotonic() - t < 5
    # Other requests of the session, and other sessions, are untouched.
    assert requests.get(upstream.url("/echo?fine"), proxies={"http": s["proxy_url"]},
                        timeout=10).status_code == 200
    assert server.alive()


def test_reset_after_headers_and_mid_body_break_the_response(server, upstream, proto_modules):
    pb = proto_modules[1]
    s = open_session(server, "mid", "use", "--mode", "passthrough")
    faults(server, proto_modules, session=s["id"], url_pattern="n=2000$",
           reset=pb.ResetFault(when=pb.ResetFault.AFTER_HEADERS))
    faults(server, proto_modules, session=s["id"], url_pattern="n=2002$",
           reset=pb.ResetFault(when=pb.ResetFault.MID_BODY))
    for path, size, want in (("/big?n=2000", 2000, b""), ("/big?n=2002", 2002, b"x" * 1001)):
        host, port = s["proxy_address"].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as c:
            c.sendall(f"GET {upstream.url(path)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            with pytest.raises(ConnectionResetError):
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break  # a FIN instead of a RST fails the test below
                    data += chunk
                raise AssertionError(f"closed cleanly after {len(data)} bytes")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {size}".encode() in head
        assert body == want


def test_bandwidth_limit_paces_a_body(server, upstream, proto_modules):
    s = open_session(server, "slow-pipe", "use", "--mode", "passthrough")
    faults(server, proto_modules, session=s["id"], bandwidth_bytes_per_second=100 * 1024)
    t = time.monotonic()
    r = requests.get(upstream.url("/big?n=1048576"),
                     proxies={"http": f"http://{s['proxy_address']}"}, timeout=60)
    took = time.monotonic() - t
    assert r.status_code == 200 and len(r.content) == 1048576
    assert 9.0 < took < 14.0, took  # 1 MiB at 100 KiB/s: about 10 s


def test_delay_applies_to_recording_which_says_so(server, upstream, proto_modules):
    pb = proto_modules[1]
    s = open_session(server, "delayed")
    faults(server, proto_modules, session=s["id"], delay=duration_pb2.Duration(nanos=400_000_000))
    t = time.monotonic()
    assert requests.get(upstream.url("/echo?d"), proxies={"http": s["proxy_url"]},
                        timeout=10).status_code == 200
    assert time.monotonic() - t >= 0.4
    server.cli("stop", "--session", s["id"])
    c = load(server, proto_modules, "delayed")
    assert c.interactions[0].fault == "f1 delay 400ms"
    # The upstream's own timing, not the injected delay.
    assert c.interactions[0].http.timing.total.ToMilliseconds() < 400


def test_as_recorded_latency_replays_recorded_times_while_another_session_is_fast(
        server, upstream, proto_modules):
    server.cli("record", "slowly")
    for _ in range(2):
        requests.get(upstream.url("/slow?s=0.6"), proxies={"http": server.proxy_url}, timeout=10)
    server.cli("stop")
    upstream.close()
    slow = json.loads(server.cli("replay", "slowly", "--new-session", "--json",
                                 "--latency", "as-recorded").stdout)
    fast = json.loads(server.cli("replay", "slowly", "--new-session", "--json").stdout)
    results = {}

    def timed(name, session):
        t = time.monotonic()
        r = requests.get(upstream.url("/slow?s=0.6"),
                         proxies={"http": f"http://{session['proxy_address']}"}, timeout=10)
        results[name] = (r.status_code, time.monotonic() - t)

    threads = [threading.Thread(target=timed, args=("slow", slow)),
               threading.Thread(target=timed, args=("fast", fast))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results["slow"][0] == 200 and 0.55 < results["slow"][1] < 1.5, results
    assert results["fast"][0] == 200 and results["fast"][1] < 0.3, results
    half = json.loads(server.cli("replay", "slowly", "--new-session", "--json",
                                 "--latency", "as-recorded", "--latency-scale", "0.5").stdout)
    t = time.monotonic()
    requests.get(upstream.url("/slow?s=0.6"), proxies={"http": f"http://{half['proxy_address']}"},
                 timeout=10)
    assert 0.25 < time.monotonic() - t < 0.6
    fixed = json.loads(server.cli("replay", "slowly", "--new-session", "--json",
                                  "--latency", "200ms±50ms").stdout)
    t = time.monotonic()
    requests.get(upstream.url("/slow?s=0.6"), proxies={"http": f"http://{fixed['proxy_address']}"},
                 timeout=10)
    assert 0.14 < time.monotonic() - t < 0.5


def test_probability_is_reproducible_with_a_seed(server, upstream, proto_modules):
    def run(seed):
        s = open_session(server, f"p{seed}-{time.monotonic_ns()}", "use", "--mode", "passthrough")
        faults(server, proto_modules, session=s["id"], seed=seed, probability=0.5,
               status=proto_modules[1].StatusFault(code=500))
        codes = [requests.get(upstream.url("/echo"), proxies={"http": s["proxy_url"]},
                              timeout=10).status_code for _ in range(20)]
        server.cli("stop", "--session", s["id"])
        return codes

    a, b = run(7), run(7)
    assert a == b and 500 in a and 200 in a


def test_fault_cli_add_ls_rm_and_bad_rules(server, upstream, proto_modules):
    s = open_session(server, "cli-faults", "use", "--mode", "passthrough")
    out = server.cli("fault", "add", "--session", s["id"], "--status", "503", "--first", "2",
                     "--url", "/orders/.*", "--header", "Retry-After: 1").stdout
    assert "f1" in out
    server.cli("fault", "add", "--session", s["id"], "--delay", "1ms", "--every", "3")
    ls = server.cli("fault", "ls", "--session", s["id"]).stdout
    assert "f1 status 503 url ~ /orders/.* first 2" in ls and "f2 delay 1ms every 3" in ls
    r = requests.get(upstream.url("/orders/9"), proxies={"http": s["proxy_url"]}, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.headers["X-Matgto-Fault"] == "f1"
    server.cli("fault", "rm", "--session", s["id"], "f1")
    assert "f1" not in server.cli("fault", "ls", "--session", s["id"]).stdout
    server.cli("fault", "rm", "--session", s["id"], "--all")
    assert requests.get(upstream.url("/orders/9"), proxies={"http": s["proxy_url"]},
                        timeout=10).status_code == 404  # the upstream's own answer
    for bad in (["--status", "503", "--url", "(unclosed"], ["--reset", "--probability", "2"],
                ["--first", "2"]):
        r = server.cli("fault", "add", "--session", s["id"], *bad, check=False)
        assert r.returncode != 0 and ("INVALID_ARGUMENT" in r.stderr or "action" in r.stderr), r
    r = server.cli("fault", "rm", "--session", s["id"], "f9", check=False)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr


def test_bandwidth_limit_ends_a_chunked_body_too(server, upstream, proto_modules):
    s = open_session(server, "chunky", "use", "--mode", "passthrough")
    faults(server, proto_modules, session=s["id"], bandwidth_bytes_per_second=2000)
    r = requests.get(upstream.url("/chunked"), proxies={"http": f"http://{s['proxy_address']}"},
                     timeout=20)
    assert r.status_code == 200 and r.content.startswith(b"chunk-chunk-") and len(r.content) > 120


def test_websocket_drop_after_n_messages_and_delayed_messages(server, proto_modules):
    import asyncio
    import websockets
    from websockets.asyncio.client import connect
    from test_websocket import WsUpstream

    ws_up = WsUpstream()
    try:
        url = f"ws://127.0.0.1:{ws_up.port}/chat"
        relay = open_session(server, "ws-faults", "use", "--mode", "passthrough")
        server.cli("fault", "add", "--session", relay["id"], "--ws-drop-after", "2")

        async def talk(proxy, rounds):
            got = []
            async with connect(url, proxy=proxy) as ws:
                got.append(await ws.recv())
                for i in range(rounds):
                    await ws.send(f"m{i}")
                    got.append(await ws.recv())
            return got

        async def dropped():
            with pytest.raises(websockets.ConnectionClosed) as e:
                await talk(relay["proxy_url"], 3)
            return e.value

        closed = asyncio.run(asyncio.wait_for(dropped(), 20))
        assert closed.rcvd is None  # no close frame: the connection dropped
        ls = server.cli("fault", "ls", "--session", relay["id"]).stdout
        assert "f1 websocket drop after 2  (applied 1)" in ls

        delayed = open_session(server, "ws-delay", "use", "--mode", "passthrough")
        server.cli("fault", "add", "--session", delayed["id"], "--ws-delay", "300ms")
        t = time.monotonic()
        got = asyncio.run(asyncio.wait_for(talk(delayed["proxy_url"], 2), 20))
        assert got[1:] == ["echo:m0", "echo:m1"]
        assert time.monotonic() - t >= 0.9  # three messages to the client, 300 ms each
        # HTTP rules never touch WebSocket sessions, and the other way round.
        assert requests.get("http://127.0.0.1:1/", proxies={"http": delayed["proxy_url"]},
                            timeout=10).status_code == 502
    finally:
        ws_up.close()
