"""gRPC through the proxy (issue 13): a stock grpcio client and server, the
client tunnelling with CONNECT (grpc.http_proxy) and speaking h2c in the
tunnel. Unary and the three streaming kinds, a non-OK status with trailing
metadata, recorded, then replayed with the server gone."""

import json
import os
import shutil
import subprocess
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from conftest import wait_for

SERVICE = "test.Echo"


def _unary(request, context):
    context.send_initial_metadata((("x-upstream", "real"),))
    context.set_trailing_metadata((("x-trailer", "t1"),))
    return b"echo:" + request


def _server_stream(request, context):
    for i in range(3):
        yield b"%s-%d" % (request, i)


def _client_stream(requests, context):
    return b"+".join(requests)


def _bidi(requests, context):
    for r in requests:
        yield r.upper()


def _slow(request, context):
    for i in range(3):
        yield b"slow-%d" % i
        time.sleep(0.3)


def _fail(request, context):
    context.set_trailing_metadata((("x-why", "because"),))
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())


def start_grpc_server(pki=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "Slow": grpc.unary_stream_rpc_method_handler(_slow),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if pki is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        creds = grpc.ssl_server_credentials(
            [((pki / "good.key").read_bytes(), (pki / "good.pem").read_bytes())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port


def calls(channel):
    """Every kind of call; what each returned, as comparable values."""
    out = {}
    unary = channel.unary_unary(f"/{SERVICE}/Unary")
    resp, call = unary.with_call(b"hello", metadata=(("x-client", "c1"),), timeout=10)
    out["unary"] = (resp, dict(call.initial_metadata()).get("x-upstream"),
                    dict(call.trailing_metadata()).get("x-trailer"), call.code())
    out["server_stream"] = list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"s", timeout=10))
    out["client_stream"] = channel.stream_unary(f"/{SERVICE}/ClientStream")(
        iter([b"a", b"b", b"c"]), timeout=10)
    out["bidi"] = list(channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"x", b"y"]), timeout=10))
    with pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary(f"/{SERVICE}/Fail")(b"thing", timeout=10)
    err = failed.value
    out["fail"] = (err.code(), err.details(), dict(err.trailing_metadata()).get("x-why"))
    return out


def proxied_channel(matgto_server, target, tls=False):
    options = [("grpc.http_proxy", f"http://{matgto_server.proxy}"),
               ("grpc.enable_retries", 0)]
    if not tls:
        return grpc.insecure_channel(target, options=options)
    # The client trusts matgto's CA, which signs the certificate matgto
    # presents for the host inside the tunnel.
    ca = (matgto_server.dir.parent / "ca" / "matgto-ca.pem").read_bytes()
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca),
                               options=options)


def test_grpc_calls_recorded_over_h2c_in_a_connect_tunnel_replay_offline(server):
    upstream, port = start_grpc_server()
    target = f"127.0.0.1:{port}"
    try:
        server.cli("record", "grpc")
        with proxied_channel(server, target) as ch:
            recorded = calls(ch)
        server.cli("stop")
    finally:
        upstream.stop(0).wait()

    assert recorded["unary"] == (b"echo:hello", "real", "t1", grpc.StatusCode.OK)
    assert recorded["server_stream"] == [b"s-0", b"s-1", b"s-2"]
    assert recorded["client_stream"] == b"a+b+c"
    assert recorded["bidi"] == [b"X", b"Y"]
    assert recorded["fail"] == (grpc.StatusCode.NOT_FOUND, "no such thing: thing", "because")

    show = server.cli("cassette", "show", "grpc").stdout
    assert "grpc  POST" in show and "test.Echo/Bidi: sent 2 messages (1, 1 B), got 2 messages (1, 1 B), OK" in show, show

    # The server is gone: every answer comes from the cassette.
    server.cli("replay", "grpc")
    with proxied_channel(server, target) as ch:
        replayed = calls(ch)
        assert replayed == recorded
        # A call that was never recorded: UNAVAILABLE, saying why.
        with pytest.raises(grpc.RpcError) as miss:
            ch.unary_unary(f"/{SERVICE}/Unary")(b"never sent", timeout=10)
    assert miss.value.code() == grpc.StatusCode.UNAVAILABLE
    # The explanation as a sentence, not the JSON body an HTTP client gets.
    assert miss.value.details().startswith("matgto: no recorded interaction in cassette 'grpc'"), \
        miss.value.details()
    assert dict(miss.value.trailing_metadata()).get("x-matgto-error") == "no-match"
    server.cli("stop")


def ping_pong(channel, words, timeout=10):
    """A bidirectional call that sends each message only once the answer to
    the one before has arrived, as a chat or a turn-based protocol does; the
    answers, each with when it arrived."""
    import queue

    answered = queue.Queue()

    def requests():
        for i, word in enumerate(words):
            if i:
                answered.get(timeout=timeout)
            yield word

    start = time.monotonic()
    call = channel.stream_stream(f"/{SERVICE}/Bidi")(requests(), timeout=timeout)
    out = []
    for answer in call:
        out.append(answer)
        answered.put(answer)
    return out, time.monotonic() - start


def test_a_bidirectional_call_that_waits_for_each_answer_records_and_replays(server):
    upstream, port = start_grpc_server()
    target = f"127.0.0.1:{port}"
    try:
        # Passed through: each message reaches the server before the client
        # sends the next (a proxy that waited for the whole request would
        # hang here until the deadline).
        server.cli("use", "pp-pass", "--mode", "passthrough")
        with proxied_channel(server, target) as ch:
            assert ping_pong(ch, [b"a", b"b"])[0] == [b"A", b"B"]
        server.cli("stop")

        server.cli("record", "pingpong")
        with proxied_channel(server, target) as ch:
            first, _ = ping_pong(ch, [b"hi", b"there", b"you"])
            second, _ = ping_pong(ch, [b"hi", b"again"])
            bulk = list(ch.stream_stream(f"/{SERVICE}/Bidi")(iter([b"x", b"y"]), timeout=10))
        server.cli("stop")
    finally:
        upstream.stop(0).wait()
    assert first == [b"HI", b"THERE", b"YOU"]
    assert second == [b"HI", b"AGAIN"]
    assert bulk == [b"X", b"Y"]
    show = server.cli("cassette", "show", "pingpong").stdout
    assert "test.Echo/Bidi: sent 3 messages (2, 5, 3 B), got 3 messages (2, 5, 3 B), OK" in show, show

    # The server is gone. Both recordings start with "hi": each answer goes
    # out once the live call has sent what the recorded one had sent then,
    # and the second call gets the second recording.
    server.cli("replay", "pingpong")
    with proxied_channel(server, target) as ch:
        assert ping_pong(ch, [b"hi", b"there", b"you"])[0] == first
        replayed, took = ping_pong(ch, [b"hi", b"again"])
        assert replayed == second and took < 2, took
        # Both used: the last one answers again (on_exhausted repeat-last).
        assert ping_pong(ch, [b"hi", b"again"])[0] == second
        assert list(ch.stream_stream(f"/{SERVICE}/Bidi")(iter([b"x", b"y"]), timeout=10)) == bulk
        # A call no recording starts like: the miss is answered at once,
        # not left waiting for a request end the client never sends.
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as miss:
            ping_pong(ch, [b"never recorded", b"x"])
        assert miss.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no recorded interaction" in miss.value.details(), miss.value.details()
        assert time.monotonic() - start < 5
    server.cli("stop")

    # A call that parts from its recording after the first answer: the
    # stream ends with UNAVAILABLE saying where, and the session counts a
    # miss.
    server.cli("replay", "pingpong")
    with proxied_channel(server, target) as ch:
        with pytest.raises(grpc.RpcError) as parted:
            ping_pong(ch, [b"hi", b"elsewhere"])
    assert parted.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "parted from the recording" in parted.value.details(), parted.value.details()
    assert dict(parted.value.trailing_metadata()).get("x-matgto-error") == "stream-mismatch"
    stopped = server.cli("stop").stdout
    assert "missed 1" in stopped and "[stream-mismatch]" in stopped, stopped
    assert "body from byte" in stopped, stopped


def test_a_bidirectional_call_cancelled_midway_is_not_recorded(server):
    import threading

    upstream, port = start_grpc_server()
    target = f"127.0.0.1:{port}"
    release = threading.Event()

    def requests():
        yield b"first"
        release.wait(10)  # the client never sends more before it cancels

    try:
        server.cli("record", "cancelled")
        with proxied_channel(server, target) as ch:
            call = ch.stream_stream(f"/{SERVICE}/Bidi")(requests(), timeout=10)
            assert next(call) == b"FIRST"
            call.cancel()
            release.set()
            with pytest.raises(grpc.RpcError) as cancelled:
                next(call)
            assert cancelled.value.code() == grpc.StatusCode.CANCELLED
            # The proxy goes on serving the same connection.
            assert ping_pong(ch, [b"after"])[0] == [b"AFTER"]
        stopped = server.cli("stop").stdout
    finally:
        upstream.stop(0).wait()
    # Only the call that completed is in the cassette.
    assert "recorded 1" in stopped, stopped
    show = server.cli("cassette", "show", "cancelled").stdout
    assert "sent 1 message (5 B), got 1 message (5 B), OK" in show, show


def test_grpc_over_tls_through_the_proxy_trusting_its_ca(matgto, pki):
    server = matgto("--upstream-ca-file", str(pki / "ca.pem"))
    upstream, port = start_grpc_server(pki)
    target = f"localhost:{port}"
    try:
        server.cli("record", "grpctls")
        with proxied_channel(server, target, tls=True) as ch:
            recorded = calls(ch)
        server.cli("stop")
    finally:
        upstream.stop(0).wait()
    assert recorded["unary"] == (b"echo:hello", "real", "t1", grpc.StatusCode.OK)
    assert recorded["bidi"] == [b"X", b"Y"]
    assert recorded["fail"][0] == grpc.StatusCode.NOT_FOUND

    show = server.cli("cassette", "show", "grpctls").stdout
    assert "https://localhost:%d/test.Echo/Unary" % port in show, show
    assert "test.Echo/ServerStream: sent 1 message (1 B), got 3 messages (3, 3, 3 B), OK" in show, show
    assert 'test.Echo/Fail: sent 1 message (5 B), got 0 messages, NOT_FOUND "no such thing: thing"' in show, show

    server.cli("replay", "grpctls")
    with proxied_channel(server, target, tls=True) as ch:
        assert calls(ch) == recorded
    server.cli("stop")


def go_client() -> str:
    """Builds tests/e2e/grpc_go (grpc-go from the Go module proxy) once."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        pytest.skip("no Go toolchain (scripts/install-client-toolchains.sh installs it)")
    src = Path(__file__).parent / "grpc_go"
    out = Path(__file__).resolve().parents[2] / "build" / "e2e" / "grpc_go"
    subprocess.run([go, "build", "-o", str(out), "."], cwd=src, check=True, timeout=600)
    return str(out)


def test_a_go_grpc_client_records_and_replays_too(server):
    client = go_client()
    upstream, port = start_grpc_server()
    target = f"127.0.0.1:{port}"

    def run(*extra):
        r = subprocess.run([client, "-proxy", server.proxy, "-target", target, *extra],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    try:
        server.cli("record", "grpcgo", "--on-miss", "error")
        recorded = run()
        server.cli("stop")
    finally:
        upstream.stop(0).wait()
    assert recorded["unary"] == ["echo:hello", "real", "t1"]
    assert recorded["server_stream"] == ["s-0", "s-1", "s-2"]
    assert recorded["client_stream"] == ["a+b+c"]
    assert recorded["bidi"] == ["X", "Y"]
    # Each message sent only once the answer to the one before arrived.
    assert recorded["ping_pong"] == ["PING", "PONG", "DONE"]
    assert recorded["fail"] == ["NotFound", "no such thing: thing", "because"]

    server.cli("replay", "grpcgo")
    replayed = run("-miss")
    server.cli("stop")
    code, message = replayed.pop("miss")
    assert code == "Unavailable" and "matgto" in message, message
    assert replayed == recorded


def test_server_streaming_messages_reach_the_client_as_they_arrive(server):
    upstream, port = start_grpc_server()
    target = f"127.0.0.1:{port}"

    def arrivals(ch):
        start = time.monotonic()
        return [(m, time.monotonic() - start)
                for m in ch.unary_stream(f"/{SERVICE}/Slow")(b"go", timeout=10)]

    try:
        server.cli("record", "slow")
        with proxied_channel(server, target) as ch:
            live = arrivals(ch)
        server.cli("stop")
    finally:
        upstream.stop(0).wait()
    assert [m for m, _ in live] == [b"slow-0", b"slow-1", b"slow-2"]
    # Relayed, not held until the call ended (0.9 s).
    assert live[0][1] < 0.25 and live[-1][1] - live[0][1] > 0.45, live

    server.cli("replay", "slow")
    with proxied_channel(server, target) as ch:
        fast = arrivals(ch)
    server.cli("stop")
    assert [m for m, _ in fast] == [m for m, _ in live]
    assert fast[-1][1] < 0.25, fast

    server.cli("replay", "slow", "--stream-timing", "as-recorded")
    with proxied_channel(server, target) as ch:
        paced = arrivals(ch)
    server.cli("stop")
    assert [m for m, _ in paced] == [m for m, _ in live]
    gaps = [b[1] - a[1] for a, b in zip(paced, paced[1:])]
    assert all(0.18 < g < 0.6 for g in gaps), paced


DEMO_PROTO = """
syntax = "proto3";
package demo;
message Greeting { string text = 1; int32 times = 2; }
service Greeter {
  rpc Hello (Greeting) returns (Greeting);
  rpc Many (Greeting) returns (stream Greeting);
}
"""


def test_cassette_show_prints_grpc_messages_as_json_from_a_descriptor_set(server, tmp_path):
    import importlib
    import sys

    (tmp_path / "demo.proto").write_text(DEMO_PROTO)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}",
                    f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                    f"--descriptor_set_out={tmp_path / 'demo.desc'}", "--include_imports",
                    "demo.proto"], check=True)
    sys.path.insert(0, str(tmp_path))
    try:
        pb = importlib.import_module("demo_pb2")
        pb_grpc = importlib.import_module("demo_pb2_grpc")
    finally:
        sys.path.remove(str(tmp_path))

    class Greeter(pb_grpc.GreeterServicer):
        def Hello(self, request, context):
            return pb.Greeting(text=" ".join([request.text] * request.times))

        def Many(self, request, context):
            for i in range(request.times):
                yield pb.Greeting(text=request.text, times=i)

    upstream = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_GreeterServicer_to_server(Greeter(), upstream)
    port = upstream.add_insecure_port("127.0.0.1:0")
    upstream.start()
    try:
        server.cli("record", "demo")
        with proxied_channel(server, f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.GreeterStub(ch)
            assert stub.Hello(pb.Greeting(text="hi", times=2), timeout=10).text == "hi hi"
            assert len(list(stub.Many(pb.Greeting(text="m", times=2), timeout=10))) == 2
        server.cli("stop")
    finally:
        upstream.stop(0).wait()

    show = server.cli("cassette", "show", "demo", "--descriptor-set",
                      str(tmp_path / "demo.desc")).stdout
    assert '   > {"text":"hi","times":2}' in show, show
    assert '   < {"text":"hi hi"}' in show, show
    assert '   < {"text":"m"}' in show and '   < {"text":"m","times":1}' in show, show

    bad = server.cli("cassette", "show", "demo", "--descriptor-set", str(tmp_path / "demo.proto"),
                     check=False)
    assert bad.returncode == 1 and "is not a FileDescriptorSet" in bad.stderr, bad.stderr

    # Without the descriptors, a row has sizes only.
    assert '{"text"' not in server.cli("cassette", "show", "demo").stdout
    # Exported as JSON with --descriptor-set: each message as JSON beside
    # the bytes (which stay what is matched and replayed).
    exported = json.loads(server.cli("cassette", "export", "demo", "--descriptor-set",
                                     str(tmp_path / "demo.desc")).stdout)
    hello = exported["interactions"][0]["http"]
    assert hello["request"]["grpc_messages_json"] == ['{"text":"hi","times":2}']
    assert hello["response"]["grpc_messages_json"] == ['{"text":"hi hi"}']

    # Stored in the cassette: show and export use them by themselves, and
    # the cassette still replays.
    added = server.cli("cassette", "add-descriptors", "demo", str(tmp_path / "demo.desc"))
    assert "now has the descriptors" in added.stdout, added.stdout
    assert '   < {"text":"m","times":1}' in server.cli("cassette", "show", "demo").stdout
    many = json.loads(server.cli("cassette", "export", "demo").stdout)["interactions"][1]["http"]
    assert many["response"]["grpc_messages_json"] == ['{"text":"m"}', '{"text":"m","times":1}']
    refused = server.cli("cassette", "add-descriptors", "demo", str(tmp_path / "demo.proto"),
                         check=False)
    assert refused.returncode == 1 and "is not a FileDescriptorSet" in refused.stderr

    server.cli("replay", "demo")
    with proxied_channel(server, f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.GreeterStub(ch)
        assert stub.Hello(pb.Greeting(text="hi", times=2), timeout=10).text == "hi hi"
    server.cli("stop")
