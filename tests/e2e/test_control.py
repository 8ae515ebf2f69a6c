"""The control API and the CLI: modes, error codes, health, reflection."""
import grpc
import pytest
import requests


def test_modes_auto_record_replay_passthrough(server, upstream):
    p = {"http": server.proxy_url}
    out = server.cli("use", "auto1").stdout  # server default: auto
    assert "mode record" in out
    first = requests.get(upstream.url("/counter"), proxies=p).content
    server.cli("stop")
    out = server.cli("use", "auto1", "--mode", "auto").stdout
    assert "mode replay" in out
    assert requests.get(upstream.url("/counter"), proxies=p).content == first
    server.cli("stop")
    server.cli("use", "pt", "--mode", "passthrough")
    a = requests.get(upstream.url("/counter"), proxies=p).content
    b = requests.get(upstream.url("/counter"), proxies=p).content
    assert a != b
    out = server.cli("stop").stdout
    assert "passed through 2" in out
    assert not server.cassette_path("pt").exists()
    # Record overwrites.
    server.cli("use", "auto1", "--mode", "record")
    requests.get(upstream.url("/echo"), proxies=p)
    server.cli("stop")
    server.cli("replay", "auto1")
    assert requests.get(upstream.url("/counter"), proxies=p).status_code == 599


def test_passthrough_default_forwards_while_idle(matgto, upstream):
    server = matgto("--mode", "passthrough")
    r = requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url})
    assert r.status_code == 200
    assert "forwards requests without recording" in server.cli("status").stdout


def test_no_cassette_answers_503(server, upstream):
    r = requests.get(upstream.url("/counter"), proxies={"http": server.proxy_url})
    assert r.status_code == 503 and r.headers["X-Matgto-Error"] == "no-cassette"


@pytest.mark.parametrize("args,code", [
    (["replay", "missing"], "NOT_FOUND"),
    (["replay", "../x"], "INVALID_ARGUMENT"),
    (["record", "/etc/passwd"], "INVALID_ARGUMENT"),
    (["record", "a/../../b"], "INVALID_ARGUMENT"),
    (["record", "bad\x01name"], "INVALID_ARGUMENT"),
    (["stop"], "FAILED_PRECONDITION"),
])
def test_cli_errors_carry_codes(server, args, code):
    r = server.cli(*args, check=False)
    assert r.returncode == 1
    assert code in r.stderr
    assert server.cli("status").returncode == 0


def test_cli_reports_unreachable_server():
    from conftest import MATGTO_BIN, free_port
    import subprocess
    r = subprocess.run([MATGTO_BIN, "--server", f"127.0.0.1:{free_port()}", "--timeout", "2", "status"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "is `matgto serve` running" in r.stderr


def test_grpc_status_health_and_reflection(server, proto_modules):
    _, control_pb2, control_pb2_grpc = proto_modules
    channel = grpc.insecure_channel(server.control)
    stub = control_pb2_grpc.ProxyControlStub(channel)
    st = stub.GetStatus(control_pb2.GetStatusRequest(), timeout=10)
    assert st.api_version == 1 and st.version == "0.1.0"
    assert st.proxy_address == server.proxy and st.control_address == server.control
    with pytest.raises(grpc.RpcError) as e:
        stub.Replay(control_pb2.ReplayRequest(name="nope"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in e.value.details()

    from grpc_health.v1 import health_pb2, health_pb2_grpc
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING

    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert "matgto.v1.ProxyControl" in names
    channel.close()


def test_status_json_and_version(server):
    import json
    st = json.loads(server.cli("status", "--json").stdout)
    assert st["api_version"] == 1 and st["default_mode"] == "AUTO"
    from conftest import MATGTO_BIN
    import subprocess
    assert "matgto 0.1.0" in subprocess.run([MATGTO_BIN, "--version"], capture_output=True, text=True).stdout
