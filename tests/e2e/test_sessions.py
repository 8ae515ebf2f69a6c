"""Many sessions on one server (issue 9), end to end: the real binary, real
upstreams on loopback, curl, requests, websockets and a gRPC client that is
killed with SIGKILL."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import MATGTO_BIN, curl, free_port_range, wait_for
from test_https import TlsUpstream, ca_of
from test_websocket import WsUpstream, conversation, run


def open_session(server, name, mode="record", *extra):
    r = server.cli(mode if mode != "use" else "use", name, "--new-session", "--json", *extra)
    info = json.loads(r.stdout)
    assert info["id"].startswith("s-") and info["proxy_address"].startswith("127.0.0.1:")
    return info


def control_stub(server, proto_modules):
    _, control_pb2, control_pb2_grpc = proto_modules
    channel = grpc.insecure_channel(server.control, options=[("grpc.enable_http_proxy", 0)])
    return control_pb2, control_pb2_grpc.ProxyControlStub(channel)


def load(server, proto_modules, name):
    c = proto_modules[0].Cassette()
    c.ParseFromString(server.cassette_path(name).read_bytes())
    return c


def urls(cassette):
    return [i.http.request.url for i in cassette.interactions]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_32_sessions_record_and_replay_side_by_side_without_cross_talk(
        server, upstream, proto_modules):
    control_pb2, stub = control_stub(server, proto_modules)
    n_each, rounds = 16, 6

    # Cassettes for the replaying half, recorded by 16 concurrent sessions.
    def record(i, prefix, barrier=None):
        s = stub.StartRecording(control_pb2.StartRecordingRequest(
            name=f"{prefix}-{i}", new_session=True, owner=f"e2e {prefix} {i}")).session
        if barrier is not None:
            barrier.wait()
        own_port = {"http": f"http://{s.proxy_address}"}
        by_credential = {"http": s.proxy_url}
        with requests.Session() as http:
            bodies = []
            for k in range(rounds):
                # Interleaved: its own port, then the shared port + credential.
                proxies = own_port if k % 2 == 0 else by_credential
                r = http.get(upstream.url(f"/echo?who={prefix}-{i}&k={k}"), proxies=proxies,
                             timeout=20)
                assert r.status_code == 200, r.text
                bodies.append(r.content)
        return s.id, bodies

    with concurrent.futures.ThreadPoolExecutor(n_each) as pool:
        seeded = list(pool.map(lambda i: record(i, "rep"), range(n_each)))
    for sid, _ in seeded:
        stub.StopRecording(control_pb2.StopRecordingRequest(session=sid))

    # Now 32 at once: 16 replay those cassettes while 16 record new ones.
    peak = {}

    def count_open():  # run once, when all 32 are open and none has traffic
        peak["sessions"] = len(stub.GetStatus(control_pb2.GetStatusRequest()).sessions)

    barrier = threading.Barrier(2 * n_each, action=count_open, timeout=60)

    def replay(i):
        s = stub.Replay(control_pb2.ReplayRequest(name=f"rep-{i}", new_session=True)).session
        barrier.wait()
        got = []
        with requests.Session() as http:
            for k in range(rounds):
                proxies = ({"http": s.proxy_url} if k % 2 == 0
                           else {"http": f"http://{s.proxy_address}"})
                got.append(http.get(upstream.url(f"/echo?who=rep-{i}&k={k}"), proxies=proxies,
                                    timeout=20).content)
        summary = stub.StopRecording(control_pb2.StopRecordingRequest(session=s.id)).summary
        return got, summary

    def record_at_peak(i):
        return record(i, "rec", barrier)

    with concurrent.futures.ThreadPoolExecutor(2 * n_each) as pool:
        replays = [pool.submit(replay, i) for i in range(n_each)]
        recs = [pool.submit(record_at_peak, i) for i in range(n_each)]
        replayed = [f.result() for f in replays]
        recorded = [f.result() for f in recs]
    assert peak["sessions"] == 2 * n_each

    for i, (got, summary) in enumerate(replayed):
        # Byte-identical to what session rep-i recorded (the upstream's call
        # counter would differ on any live answer, and the who= would differ
        # on an answer from another cassette).
        assert got == seeded[i][1]
        assert summary.session.replayed == rounds and summary.session.missed == 0
    for i, (sid, _) in enumerate(recorded):
        stub.StopRecording(control_pb2.StopRecordingRequest(session=sid))
        assert urls(load(server, proto_modules, f"rec-{i}")) == [
            upstream.url(f"/echo?who=rec-{i}&k={k}") for k in range(rounds)]
    for i in range(n_each):
        assert urls(load(server, proto_modules, f"rep-{i}")) == [
            upstream.url(f"/echo?who=rep-{i}&k={k}") for k in range(rounds)]
    status = stub.GetStatus(control_pb2.GetStatusRequest())
    assert len(status.sessions) == 0
    assert {e.end_reason for e in status.ended_sessions} == {"stopped"}


def test_requests_without_credentials_still_reach_the_default_session(server, upstream):
    other = open_session(server, "other")
    server.cli("record", "default-one")
    assert curl(server.proxy_url, upstream.url("/echo?d=1")).returncode == 0
    out = server.cli("stop").stdout
    assert "cassette 'default-one'" in out and "recorded 1" in out
    assert other["id"] in server.cli("sessions").stdout


def test_unknown_session_gets_407_on_http_connect_and_websocket(server, upstream, pki):
    bad = f"http://s-0000000000000000@{server.proxy}"
    r = curl(bad, upstream.url("/echo"))
    head = r.stdout.decode(errors="replace")
    assert head.startswith("HTTP/1.1 407") and "X-Matgto-Error: unknown-session" in head
    assert "Proxy-Authenticate: Basic" in head
    # HTTPS: refused at CONNECT, before any TLS.
    tls = TlsUpstream(pki)
    try:
        r = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "--proxy", bad, "--cacert",
                            str(ca_of(server)), tls.url("/x")], capture_output=True, timeout=30)
        assert r.returncode != 0
        assert b"< HTTP/1.1 407" in r.stderr and b"unknown-session" in r.stderr
        assert tls.calls["n"] == 0
    finally:
        tls.close()
    # A session that ended is unknown too.
    s = open_session(server, "ended")
    server.cli("stop", "--session", s["id"])
    r = requests.get(upstream.url("/echo"), proxies={"http": s["proxy_url"]}, timeout=10)
    assert r.status_code == 407 and r.headers["X-Matgto-Error"] == "unknown-session"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(upstream.url("/echo"), proxies={"http": f"http://{s['proxy_address']}"},
                     timeout=10)
    assert server.alive()


def test_https_and_websocket_route_by_credential_and_by_port(matgto, pki, proto_modules):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    tls = TlsUpstream(pki)
    ws = WsUpstream()
    try:
        ca = ca_of(server)
        a = open_session(server, "tls-a")
        b = open_session(server, "tls-b")
        for s, tag in ((a, "a"), (b, "b")):
            r = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", s["proxy_url"],
                                "--cacert", str(ca), tls.url(f"/{tag}-by-credential")],
                               capture_output=True, timeout=30)
            assert r.returncode == 0 and f"/{tag}-by-credential".encode() in r.stdout, r.stderr
            r = requests.get(tls.url(f"/{tag}-by-port"), verify=str(ca), timeout=20,
                             proxies={"https": f"http://{s['proxy_address']}"})
            assert r.status_code == 200
            url = f"ws://127.0.0.1:{ws.port}/{tag}"
            assert run(conversation(url, s["proxy_url"]))[1] == f"hello {1 if tag == 'a' else 2} /{tag}"
        for s in (a, b):
            server.cli("stop", "--session", s["id"])
        for tag in ("a", "b"):
            c = load(server, proto_modules, f"tls-{tag}")
            kinds = [i.WhichOneof("kind") for i in c.interactions]
            got = [i.http.request.url if k == "http" else i.websocket.upgrade_request.url
                   for i, k in zip(c.interactions, kinds)]
            assert got == [tls.url(f"/{tag}-by-credential"), tls.url(f"/{tag}-by-port"),
                           f"ws://127.0.0.1:{ws.port}/{tag}"], got
            # The credential is the proxy's business: never recorded.
            for i in c.interactions:
                if i.WhichOneof("kind") == "http":
                    assert all(h.name.lower() != "proxy-authorization" for h in i.http.request.headers)
    finally:
        tls.close()
        ws.close()


def test_second_recorder_and_deleting_a_cassette_in_use_are_refused(server):
    holder = open_session(server, "shared-name", "record", "--owner", "worker 1")
    r = server.cli("record", "shared-name", "--new-session", check=False)
    assert r.returncode == 1
    assert "FAILED_PRECONDITION" in r.stderr and holder["id"] in r.stderr and "worker 1" in r.stderr
    # AUTO resolves to record (nothing saved yet): refused the same way.
    r = server.cli("use", "shared-name", "--new-session", check=False)
    assert r.returncode == 1 and holder["id"] in r.stderr
    r = server.cli("cassette", "rm", "shared-name", check=False)
    assert r.returncode == 1 and "in use by session " + holder["id"] in r.stderr
    server.cli("stop", "--session", holder["id"])
    r = server.cli("use", "shared-name", check=False)  # the default session
    assert r.returncode == 0 and "mode replay" in r.stdout
    # Replayers share a cassette freely.
    a = open_session(server, "shared-name", "replay")
    b = open_session(server, "shared-name", "replay")
    assert a["id"] != b["id"]


def test_killed_client_session_ends_after_its_lease_and_keeps_its_recording(
        matgto, upstream, proto_modules, tmp_path):
    server = matgto()
    out_dir = Path(sys.modules[proto_modules[1].__name__].__file__).parents[2]
    client = tmp_path / "client.py"
    client.write_text(textwrap.dedent(f"""
        import sys, threading, time, urllib.request
        sys.path.insert(0, {str(out_dir)!r})
        import grpc
        from google.protobuf import duration_pb2
        from matgto.v1 import control_pb2, control_pb2_grpc
        stub = control_pb2_grpc.ProxyControlStub(grpc.insecure_channel({server.control!r}))
        s = stub.StartRecording(control_pb2.StartRecordingRequest(
            name="killed", new_session=True, owner="doomed test",
            lease=duration_pb2.Duration(seconds=2))).session
        def renew():
            while True:
                time.sleep(0.5)
                stub.RenewSession(control_pb2.RenewSessionRequest(session=s.id))
        threading.Thread(target=renew, daemon=True).start()
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({{"http": "http://" + s.proxy_address}}))
        body = opener.open({upstream.url("/echo?from=doomed")!r}, timeout=10).read()
        print(s.id, s.proxy_address, len(body), flush=True)
        time.sleep(60)
    """))
    proc = subprocess.Popen([sys.executable, str(client)], stdout=subprocess.PIPE, text=True)
    try:
        sid, address, size = proc.stdout.readline().split()
        assert int(size) > 0
        # Renewed meanwhile: alive past its 2 s lease.
        time.sleep(3)
        assert sid in server.cli("sessions").stdout
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    control_pb2, stub = control_stub(server, proto_modules)

    def ended():
        for e in stub.GetStatus(control_pb2.GetStatusRequest()).ended_sessions:
            if e.session.id == sid:
                return e
        return None

    e = wait_for(ended, timeout=10, what="the lease to expire")
    assert e.end_reason == "lease-expired" and e.session.owner == "doomed test"
    assert urls(load(server, proto_modules, "killed")) == [upstream.url("/echo?from=doomed")]
    # (Logged just after the session is listed as ended.)
    wait_for(lambda: f"session {sid}: lease of 2s expired" in server.output(), timeout=5,
             what="the lease expiry in the log")
    # The port is closed and can be bound again.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port_of(address)), timeout=2).close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port_of(address)))
    s.close()
    with pytest.raises(grpc.RpcError) as err:
        stub.RenewSession(control_pb2.RenewSessionRequest(session=sid))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "lease-expired" in err.value.details()


def test_session_port_range_and_max_sessions(matgto, upstream):
    low = free_port_range(2)
    ports = [low, low + 1]
    server = matgto("--session-ports", f"{low}-{low + 1}", "--max-sessions", "3")
    a = open_session(server, "p-a")
    b = open_session(server, "p-b")
    assert sorted(port_of(s["proxy_address"]) for s in (a, b)) == ports
    r = server.cli("record", "p-c", "--new-session", check=False)
    assert r.returncode == 1 and "RESOURCE_EXHAUSTED" in r.stderr and "no free port" in r.stderr
    server.cli("stop", "--session", a["id"])
    c = open_session(server, "p-c")
    assert port_of(c["proxy_address"]) == port_of(a["proxy_address"])
    assert requests.get(upstream.url("/echo"), proxies={"http": f"http://{c['proxy_address']}"},
                        timeout=10).status_code == 200

    limited = matgto("--max-sessions", "2")
    open_session(limited, "m-a")
    open_session(limited, "m-b")
    r = limited.cli("record", "m-c", "--new-session", check=False)
    assert r.returncode == 1 and "RESOURCE_EXHAUSTED" in r.stderr and "--max-sessions 2" in r.stderr
    # The default session is not counted.
    limited.cli("record", "m-default")


def test_cli_session_verbs_print_json_and_tables(server, upstream):
    r = server.cli("record", "cli-a", "--new-session", "--owner", "me")
    assert "session s-" in r.stdout and "proxy  http://127.0.0.1:" in r.stdout
    a = json.loads(server.cli("sessions", "--json").stdout)["sessions"][0]
    assert a["owner"] == "me" and a["cassette"] == "cli-a" and "lease" not in a
    requests.get(upstream.url("/echo?cli"), proxies={"http": a["proxy_url"]}, timeout=10)
    table = server.cli("sessions").stdout
    assert a["id"] in table and "1/0/0" in table and "none" in table
    status = server.cli("status").stdout
    assert f"session   {a['id']}" in status and "cassette  cli-a" in status
    leased = open_session(server, "cli-b", "use", "--lease", "1m")
    assert leased["lease"] == "60s"
    one = server.cli("status", "--session", a["id"]).stdout
    assert a["id"] in one and "cassette  cli-a" in one and "cli-b" not in one
    stopped = json.loads(server.cli("stop", "--session", a["id"], "--json").stdout)
    assert stopped["end_reason"] == "stopped" and stopped["session"]["recorded"] == "1"
    assert "ended (stopped" in server.cli("status", "--session", a["id"]).stdout
    r = server.cli("status", "--session", "s-nope", check=False)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    r = server.cli("record", "x", "--lease", "5s", check=False)
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr
    r = server.cli("record", "x", "--new-session", "--lease", "soon", check=False)
    assert r.returncode == 2 and "--lease" in r.stderr


def test_shutdown_saves_every_open_session(matgto, upstream, proto_modules):
    server = matgto()
    a = open_session(server, "down-a")
    server.cli("record", "down-default")
    requests.get(upstream.url("/echo?a"), proxies={"http": a["proxy_url"]}, timeout=10)
    requests.get(upstream.url("/echo?d"), proxies={"http": server.proxy_url}, timeout=10)
    assert server.stop() == 0
    assert urls(load(server, proto_modules, "down-a")) == [upstream.url("/echo?a")]
    assert urls(load(server, proto_modules, "down-default")) == [upstream.url("/echo?d")]
    assert f"session {a['id']} ended (shutdown)" in server.output()


def test_stopping_a_session_cancels_its_connections_at_once(server, upstream, proto_modules):
    s = open_session(server, "cut")
    own = {"http": f"http://{s['proxy_address']}"}
    idle = socket.create_connection(("127.0.0.1", port_of(s["proxy_address"])), timeout=10)
    outcome = {}

    def slow():
        t = time.monotonic()
        try:
            requests.get(upstream.url("/slow?s=5"), proxies=own, timeout=20)
            outcome["result"] = "answered"
        except requests.exceptions.ConnectionError:
            outcome["result"] = "cut"
        outcome["seconds"] = time.monotonic() - t

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)  # the request is with the upstream now
    server.cli("stop", "--session", s["id"])
    worker.join(10)
    assert outcome == {"result": "cut", "seconds": outcome["seconds"]} and outcome["seconds"] < 3
    assert idle.recv(1) == b""  # the idle keep-alive connection was closed too
    idle.close()
    assert urls(load(server, proto_modules, "cut")) == []
    # The server goes on serving.
    other = open_session(server, "after")
    assert requests.get(upstream.url("/echo"), proxies={"http": f"http://{other['proxy_address']}"},
                        timeout=10).status_code == 200
