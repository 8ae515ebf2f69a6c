"""Cassette tooling with the real binary: `matgto cassette ls/show/export/
import/diff/rm` against a server and a directory, the management RPCs
(ListCassettes, GetCassette, PutCassette, DeleteCassette) and the JSON store
format (`serve --cassette-format json`)."""
import base64
import json
import subprocess
import types
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from conftest import MATGTO_BIN, ROOT, free_port
from test_websocket import WsUpstream, conversation, run


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    """matgto.v1 message classes built from proto/ in a private descriptor pool,
    and a stub factory. (The shared proto_modules fixture can hand out an
    installed client's older generated modules, which lack the cassette
    management messages.)"""
    from grpc_tools import protoc  # type: ignore
    import grpc_tools

    out = tmp_path_factory.mktemp("descriptors") / "v1.pb"
    std_include = str(Path(grpc_tools.__file__).parent / "_proto")
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{std_include}", "--include_imports",
                        f"--descriptor_set_out={out}", "matgto/v1/cassette.proto",
                        "matgto/v1/control.proto"]) == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    ns = types.SimpleNamespace()
    for name in ("Cassette", "CassetteChunk", "GetCassetteRequest", "PutCassetteResponse",
                 "DeleteCassetteRequest", "DeleteCassetteResponse", "ListCassettesRequest",
                 "ListCassettesResponse"):
        setattr(ns, name, message_factory.GetMessageClass(pool.FindMessageTypeByName("matgto.v1." + name)))

    def call(server, method, response, streaming=None):
        channel = grpc.insecure_channel(server.control)
        kind = {None: channel.unary_unary, "out": channel.unary_stream, "in": channel.stream_unary}
        return kind[streaming](f"/matgto.v1.ProxyControl/{method}",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response.FromString)

    ns.call = call
    return ns


def get(upstream, proxy_url, path, **kw):
    return requests.get(upstream.url(path), proxies={"http": proxy_url}, timeout=20, **kw)


def post(upstream, proxy_url, path, data):
    return requests.post(upstream.url(path), data=data, proxies={"http": proxy_url}, timeout=20)


def record_sample(server, upstream, name, with_ws=False):
    """Records text, gzip, two Set-Cookie and a POST (and a WebSocket session);
    returns the raw response bodies, in order."""
    server.cli("record", name)
    bodies = [
        get(upstream, server.proxy_url, "/counter").content,
        get(upstream, server.proxy_url, "/binary", stream=True).raw.read(decode_content=False),
        get(upstream, server.proxy_url, "/cookies").content,
        post(upstream, server.proxy_url, "/echo", b"payload \xff\x00").content,
    ]
    if with_ws:
        ws = WsUpstream()
        try:
            run(conversation(f"ws://127.0.0.1:{ws.port}/chat", server.proxy_url))
        finally:
            ws.close()
    server.cli("stop")
    return bodies


def test_ls_show_export_and_har_round_trip_replays(server, upstream, v1, tmp_path):
    live = record_sample(server, upstream, "suite/rec", with_ws=True)

    ls = server.cli("cassette", "ls").stdout
    assert "suite/rec" in ls and " 5 " in ls and "binary" in ls
    assert "suite/rec" in server.cli("cassette", "ls", "suite/").stdout
    assert "no cassettes" in server.cli("cassette", "ls", "nothing").stdout

    show = server.cli("cassette", "show", "suite/rec").stdout
    assert "interactions 5" in show
    lines = show.splitlines()
    binary = next(l for l in lines if "/binary" in l)
    assert binary.split()[1:3] == ["http", "GET"] and " 200 " in binary
    assert str(len(live[1])) in binary.split()  # response body bytes
    echo = next(l for l in lines if "/echo" in l)
    assert echo.split()[1:3] == ["http", "POST"] and "10" in echo.split()
    ws_line = next(l for l in lines if " ws " in l)
    assert "/chat" in ws_line and " 101 " in ws_line
    assert "messages" in ws_line and "close 1000 by client" in ws_line

    # JSON export: the protobuf JSON mapping, text bodies as text.
    exported = server.cli("cassette", "export", "suite/rec", "--format", "json").stdout
    c = json_format.Parse(exported, v1.Cassette())
    assert c.schema_version == 1 and c.complete and len(c.interactions) == 5
    doc = json.loads(exported)
    counter = doc["interactions"][0]["http"]["response"]
    assert counter["body_text"] == live[0].decode()
    gz = doc["interactions"][1]["http"]["response"]
    assert base64.b64decode(gz["body"]) == live[1] and "body_text" not in gz
    cookies = [h["value"] for h in doc["interactions"][2]["http"]["response"]["headers"]
               if h["name"] == "Set-Cookie"]
    assert cookies == ["session=[REDACTED]; Path=/; HttpOnly", "theme=[REDACTED]"]

    # HAR export: WebSocket left out with a note.
    har_file = tmp_path / "rec.har"
    r = server.cli("cassette", "export", "suite/rec", "--format", "har", "-o", str(har_file))
    assert "WebSocket" in r.stderr
    har = json.loads(har_file.read_text())
    log = har["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "matgto"
    assert len(log["entries"]) == 4
    e = log["entries"][1]
    for key in ("startedDateTime", "time", "request", "response", "cache", "timings"):
        assert key in e
    assert e["request"]["method"] == "GET" and e["request"]["url"] == upstream.url("/binary")
    assert e["response"]["content"]["encoding"] == "base64"
    assert base64.b64decode(e["response"]["content"]["text"]) == live[1]
    assert log["entries"][3]["request"]["postData"]["encoding"] == "base64"
    assert log["entries"][0]["response"]["content"]["text"] == live[0].decode()

    # Import under another name, then replay it with the upstream gone.
    out = server.cli("cassette", "import", str(har_file), "--name", "fromhar").stdout
    assert "imported HAR" in out and "'fromhar' (4 interactions)" in out
    upstream.close()
    server.cli("replay", "fromhar")
    assert get(upstream, server.proxy_url, "/counter").content == live[0]
    assert get(upstream, server.proxy_url, "/binary", stream=True).raw.read(decode_content=False) == live[1]
    r = get(upstream, server.proxy_url, "/cookies")
    assert r.content == live[2] and r.raw.headers.getlist("Set-Cookie") == [
        "session=[REDACTED]; Path=/; HttpOnly", "theme=[REDACTED]"]
    assert post(upstream, server.proxy_url, "/echo", b"payload \xff\x00").content == live[3]
    assert "replayed 4" in server.cli("stop").stdout

    # The same cassette, exported as JSON and imported, is identical to the original.
    json_file = tmp_path / "rec.json"
    json_file.write_text(exported)
    assert "JSON cassette" in server.cli("cassette", "import", str(json_file), "--name", "copy").stdout
    assert server.cli("cassette", "diff", "suite/rec", "copy").returncode == 0


def test_diff_of_two_recordings(server, upstream):
    server.cli("record", "a")
    get(upstream, server.proxy_url, "/counter")
    post(upstream, server.proxy_url, "/echo", b"same")
    server.cli("stop")
    server.cli("record", "b")
    get(upstream, server.proxy_url, "/counter")
    post(upstream, server.proxy_url, "/echo", b"same")
    get(upstream, server.proxy_url, "/cookies")
    server.cli("stop")

    r = server.cli("cassette", "diff", "a", "b", check=False)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "--- a (2 interactions)" and lines[1] == "+++ b (3 interactions)"
    at = lines.index("~ #0 -> #0 GET " + upstream.url("/counter"))
    assert lines[at + 1].strip().startswith("response headers") or "response body" in lines[at + 1]
    assert any("response body" in l for l in lines[at + 1:at + 4])
    assert f"+ #2 GET {upstream.url('/cookies')}" in lines
    assert "2 changed, 0 removed, 1 added, 0 unchanged" in r.stdout  # /echo's "n" differs too

    same = server.cli("cassette", "diff", "a", "a")
    assert same.returncode == 0 and "same 2 interactions" in same.stdout
    missing = server.cli("cassette", "diff", "a", "nope", check=False)
    assert missing.returncode == 2 and "NOT_FOUND" in missing.stderr


def test_rm_and_the_cassette_in_use(server, upstream, v1):
    record_sample(server, upstream, "x")
    server.cli("replay", "x")
    r = server.cli("cassette", "rm", "x", check=False)
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "in use" in r.stderr
    with pytest.raises(grpc.RpcError) as e:
        v1.call(server, "DeleteCassette", v1.DeleteCassetteResponse)(
            v1.DeleteCassetteRequest(name="x"), timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert server.cassette_path("x").exists()

    server.cli("stop")
    assert "removed cassette 'x'" in server.cli("cassette", "rm", "x").stdout
    assert not server.cassette_path("x").exists()
    r = server.cli("cassette", "rm", "x", check=False)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
    r = server.cli("cassette", "rm", "../x", check=False)
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr


def test_put_and_get_over_grpc(server, upstream, v1):
    put = v1.call(server, "PutCassette", v1.PutCassetteResponse, streaming="in")
    get_cassette = v1.call(server, "GetCassette", v1.CassetteChunk, streaming="out")

    with pytest.raises(grpc.RpcError) as e:
        put(iter([v1.CassetteChunk(name="g", data=b"garbage \xff\xff")]), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid matgto cassette" in e.value.details()
    unfinished = v1.Cassette(schema_version=1, name="u")
    with pytest.raises(grpc.RpcError) as e:
        put(iter([v1.CassetteChunk(name="u", data=unfinished.SerializeToString())]), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "truncated" in e.value.details()
    assert not server.cassette_path("g").exists() and not server.cassette_path("u").exists()

    live = record_sample(server, upstream, "orig")
    chunks = list(get_cassette(v1.GetCassetteRequest(name="orig"), timeout=10))
    assert chunks[0].name == "orig"
    data = b"".join(c.data for c in chunks)
    c = v1.Cassette.FromString(data)
    assert c.complete and len(c.interactions) == 4

    # Put it back in small chunks under another name; it replays.
    pieces = [data[i:i + 100] for i in range(0, len(data), 100)]
    res = put(iter([v1.CassetteChunk(name="suite/put", data=pieces[0])] +
                   [v1.CassetteChunk(data=p) for p in pieces[1:]]), timeout=10)
    assert res.cassette.name == "suite/put" and res.cassette.interactions == 4
    assert res.cassette.format == "binary"
    listed = v1.call(server, "ListCassettes", v1.ListCassettesResponse)(
        v1.ListCassettesRequest(prefix="suite/"), timeout=10)
    assert [x.name for x in listed.cassettes] == ["suite/put"]
    upstream.close()
    server.cli("replay", "suite/put")
    assert get(upstream, server.proxy_url, "/counter").content == live[0]

    with pytest.raises(grpc.RpcError) as e:
        list(get_cassette(v1.GetCassetteRequest(name="missing"), timeout=10))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_json_format_server_writes_reviewable_files_and_replays(matgto, upstream):
    server = matgto("--cassette-format", "json")
    live = record_sample(server, upstream, "j")
    path = server.cassette_dir / "j.json"
    assert path.exists() and not server.cassette_path("j").exists()
    text = path.read_text()
    doc = json.loads(text)
    assert doc["schema_version"] == 1 and doc["complete"] is True
    responses = [i["http"]["response"] for i in doc["interactions"]]
    assert responses[0]["body_text"] == live[0].decode()      # text stays text
    assert base64.b64decode(responses[1]["body"]) == live[1]  # gzip stays bytes
    assert "body_text" not in responses[1]
    request = doc["interactions"][3]["http"]["request"]
    assert base64.b64decode(request["body"]) == b"payload \xff\x00"
    assert "\n  " in text  # indented for reviews

    ls = server.cli("cassette", "ls").stdout
    assert "j" in ls and "json" in ls

    upstream.close()
    server.cli("replay", "j")
    assert get(upstream, server.proxy_url, "/counter").content == live[0]
    assert get(upstream, server.proxy_url, "/binary", stream=True).raw.read(decode_content=False) == live[1]
    assert post(upstream, server.proxy_url, "/echo", b"payload \xff\x00").content == live[3]
    assert "replayed 3" in server.cli("status").stdout


def test_local_directory_commands(server, upstream, tmp_path):
    live = record_sample(server, upstream, "local")

    def local(*args, check=True):
        r = subprocess.run([MATGTO_BIN, "--server", f"127.0.0.1:{free_port()}", "--timeout", "5",
                            "cassette", *args],
                           capture_output=True, text=True, timeout=60)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    d = str(server.cassette_dir)
    assert "local" in local("--dir", d, "ls").stdout
    assert "interactions 4" in local("show", "local", "--dir", d).stdout
    har_file = tmp_path / "local.har"
    local("--dir", d, "export", "local", "--format", "har", "-o", str(har_file))

    other = tmp_path / "other"
    out = local("--dir", str(other), "--cassette-format", "json", "import", str(har_file)).stdout
    assert "as cassette 'local'" in out
    stored = json.loads((other / "local.json").read_text())
    assert stored["interactions"][0]["http"]["response"]["body_text"] == live[0].decode()
    assert local("--dir", str(other), "diff", "local", "local").returncode == 0
    local("--dir", str(other), "rm", "local")
    assert not (other / "local.json").exists()

    missing = local("--dir", str(tmp_path / "nope"), "ls", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    # Without --dir the command talks to the (here unreachable) server.
    unreachable = local("ls", check=False)
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
