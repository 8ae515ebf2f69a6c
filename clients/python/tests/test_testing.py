"""matgto.testing: the public launcher, the matgto_server fixture, proxy_env, and
a control channel that ignores the proxy variables of the environment."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest
import requests

import matgto
from matgto.testing import LocalServer, ServerLaunchError, find_binary, proxy_env, start_server

from conftest import Pki, Upstream, matgto_bin

#: Nothing listens on the discard port: a proxy there refuses every connection.
DEAD_PROXY = "http://127.0.0.1:9"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "grpc_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def binary() -> Path:
    path = matgto_bin()
    if path is None:
        pytest.fail("no matgto binary: set MATGTO_BIN or build the server", pytrace=False)
    return path


def test_start_server_picks_ports_and_cleans_up(binary: Path) -> None:
    with start_server(binary) as server:
        assert isinstance(server, LocalServer)
        assert server.pid == server.proc.pid
        assert server.control.startswith("127.0.0.1:") and not server.control.endswith(":8889")
        assert server.proxy_url == "http://" + server.proxy
        with server.client() as client:
            status = client.status()
        assert status.control_address == server.control
        assert status.proxy_address == server.proxy
        workdir = server.workdir
        assert (workdir / "ca").is_dir(), "a throw-away CA, never ~/.matgto/ca"
    assert not server.running
    assert server.proc.returncode in (0, -signal.SIGTERM)
    assert not workdir.exists(), "the temporary folder goes with the server"
    assert server.stop() == server.proc.returncode, "stop() is idempotent"


def test_start_server_keeps_a_given_cassette_dir_and_takes_flags(binary: Path, tmp_path: Path) -> None:
    cassettes = tmp_path / "mine"
    with start_server(binary, "--max-sessions", "1", cassette_dir=cassettes) as server, server.client() as client:
        assert client.status().max_sessions == 1
        with client.session("kept"):
            pass
        with proxy_env(server) as values:  # the shared proxy, and the server's CA
            assert values["HTTP_PROXY"] == server.proxy_url
            assert Path(os.environ["SSL_CERT_FILE"]).read_text() == client.ca_certificate()
    assert list(cassettes.rglob("kept.*")), "cassettes outlive the server when the folder was given"


def test_binary_from_env_then_path(binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATGTO_BIN", str(binary))
    assert find_binary() == binary
    monkeypatch.delenv("MATGTO_BIN")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "matgto").symlink_to(binary)
    monkeypatch.setenv("PATH", str(bindir))
    assert find_binary() == bindir / "matgto"
    with start_server() as server:  # from PATH
        assert server.client().status().api_version == matgto.API_VERSION

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ServerLaunchError, match="set \\$MATGTO_BIN, or put matgto on PATH"):
        find_binary()
    monkeypatch.setenv("MATGTO_BIN", str(tmp_path / "nope"))
    with pytest.raises(ServerLaunchError, match=r"nope \(from \$MATGTO_BIN\) is not an executable"):
        start_server()


def test_a_server_that_cannot_start_says_why(binary: Path) -> None:
    with pytest.raises(ServerLaunchError, match=r"exited with status .* before writing its ready file[\s\S]*--bogus"):
        start_server(binary, "--bogus")


def test_matgto_server_fixture_and_local_address(
    pytester: pytest.Pytester, binary: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATGTO_BIN", str(binary))
    monkeypatch.setenv("UPSTREAM_URL", upstream.url)
    monkeypatch.delenv("MATGTO_SERVER", raising=False)
    pytester.makeini("[pytest]\nmatgto_serve_args = --max-sessions 7\n")
    pytester.makepyfile(
        test_local='''
import os
import requests
import pytest

PIDS = []

def test_server(matgto_server, matgto_client):
    assert matgto_client.address == matgto_server.control
    assert matgto_client.status().max_sessions == 7
    PIDS.append(matgto_server.pid)

@pytest.mark.matgto
def test_cassette(matgto_cassette, matgto_server):
    http = requests.Session()
    http.trust_env = False
    assert http.get(os.environ["UPSTREAM_URL"] + "/x", proxies=matgto_cassette.proxies()).ok
    PIDS.append(matgto_server.pid)

def test_proxy_env(matgto_proxy_env, matgto_cassette):
    assert os.environ["HTTPS_PROXY"] == matgto_cassette.proxy_url
    assert requests.get(os.environ["UPSTREAM_URL"] + "/env").ok  # no proxies=: from the environment
    assert matgto_cassette.refresh().recorded == 1

def test_env_restored():
    assert os.environ.get("HTTPS_PROXY") == "http://unrelated:1"

def test_one_server_per_session(matgto_server):
    assert PIDS == [matgto_server.pid] * 2
'''
    )
    monkeypatch.setenv("HTTPS_PROXY", "http://unrelated:1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--matgto-server", "local")
    result.assert_outcomes(passed=5)
    assert upstream.calls == 2


@pytest.fixture
def dead_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every proxy variable gRPC or an HTTP library reads points at a port nobody listens on."""
    for name in PROXY_VARS:
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_control_channel_ignores_proxy_variables(dead_proxy_env: None, server: LocalServer) -> None:
    with matgto.Client(server.control, timeout=5) as client:
        assert client.status().control_address == server.control
        with client.session("through/no/proxy") as s:
            assert s.id.startswith("s-")
    # The check can fail: with gRPC's proxy support on, the variables lead to the dead proxy.
    with matgto.Client(server.control, timeout=3, channel_options=[("grpc.enable_http_proxy", 1)]) as proxied:
        with pytest.raises(matgto.ServerUnavailableError):
            proxied.status()


def test_proxy_env_points_http_clients_at_the_session_and_restores(
    binary: Path, upstream: Upstream, tls_upstream: Upstream, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://before:1")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("ALL_PROXY", "http://all:1")
    before = dict(os.environ)
    with start_server(binary, "--upstream-ca-file", str(pki.ca)) as tls_server:
        with tls_server.client() as c, c.session("env/roundtrip") as s:
            with proxy_env(s) as values:
                assert values["HTTPS_PROXY"] == s.proxy_url == os.environ["https_proxy"]
                assert "ALL_PROXY" not in os.environ and "NO_PROXY" not in os.environ
                bundle = os.environ["SSL_CERT_FILE"]
                assert os.environ["REQUESTS_CA_BUNDLE"] == bundle
                assert "BEGIN CERTIFICATE" in Path(bundle).read_text()
                # requests (trust_env) and urllib read the variables: both go through the session.
                assert requests.get(upstream.url + "/plain", timeout=10).ok
                assert requests.get(tls_upstream.url + "/tls", timeout=10).ok  # trusts the matgto CA
                with urllib.request.urlopen(upstream.url + "/urllib", timeout=10) as r:
                    assert r.status == 200
        summary = s.summary
        assert summary is not None and summary.session.recorded == 3, summary
    assert upstream.paths == ["/plain", "/urllib"] and tls_upstream.paths == ["/tls"]
    assert dict(os.environ) == before, "every variable is back, unset ones unset"


def test_proxy_env_takes_urls_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with proxy_env("127.0.0.1:1234", proxy_localhost=False) as values:
        assert os.environ["HTTP_PROXY"] == values["HTTP_PROXY"] == "http://127.0.0.1:1234"
        assert os.environ["no_proxy"] == "localhost,127.0.0.1,::1"
        assert "REQUESTS_CA_BUNDLE" not in os.environ, "a URL has no CA to fetch: CA variables untouched"
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    with proxy_env("http://127.0.0.1:1", ca=pem):
        assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["SSL_CERT_FILE"] == str(pem)
    with pytest.raises(FileNotFoundError):
        with proxy_env("http://127.0.0.1:1", ca=tmp_path / "missing.pem"):
            pass
    with pytest.raises(TypeError, match="ca=True needs"):
        with proxy_env("http://127.0.0.1:1", ca=True):
            pass
    assert "HTTP_PROXY" not in os.environ and "REQUESTS_CA_BUNDLE" not in os.environ
