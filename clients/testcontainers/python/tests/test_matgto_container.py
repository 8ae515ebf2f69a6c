"""MatgtoContainer against a real container engine (DOCKER_HOST; `make testcontainers-test`
points it at `podman system service`) and a real upstream on the host's loopback."""

from __future__ import annotations

import http.server
import os
import threading
import urllib.request

import pytest
import requests

import matgto
from matgto_testcontainers import LABEL, MatgtoContainer

if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
    pytest.skip(
        "no container engine: set DOCKER_HOST (make testcontainers-test starts podman's)",
        allow_module_level=True,
    )

BODY = os.urandom(50_000)


class Upstream:
    """An HTTP server on 127.0.0.1 answering GET /blob with BODY; counts requests."""

    def __init__(self) -> None:
        outer = self
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/blob"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    up = Upstream()
    yield up
    up.stop()


def no_env_proxy() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # only the proxies given per request
    return s


def test_record_then_replay_in_a_new_container_with_the_upstream_gone(tmp_path, upstream):
    cassettes = tmp_path / "cassettes"
    http = no_env_proxy()
    with MatgtoContainer().with_cassette_dir(cassettes) as m:
        client = m.client()
        assert isinstance(client, matgto.Client)
        with client.session("tc/python", mode="record") as s:
            live = http.get(upstream.url, proxies=s.proxies(), timeout=10)
        assert live.status_code == 200
        assert live.content == BODY
        assert s.summary.session.recorded == 1
    assert upstream.hits == 1
    recorded = list(cassettes.rglob("*.pb"))
    assert [p.relative_to(cassettes).as_posix() for p in recorded] == ["tc/python.pb"]
    assert recorded[0].stat().st_uid == os.getuid(), "the cassette should belong to the host user"

    upstream.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(upstream.url, timeout=2)

    # A new container, the same host directory: replayed on the shared proxy port.
    with MatgtoContainer().with_cassette_dir(cassettes, read_only=True) as m:
        with m.client().replaying("tc/python") as s:
            again = http.get(upstream.url, proxies=m.proxies(), timeout=10)
        assert again.status_code == 200
        assert again.content == BODY
        assert s.summary.session.replayed == 1
    assert upstream.hits == 1


def test_ports_addresses_and_admin_endpoints(upstream):
    with MatgtoContainer() as m:
        proxy, control, admin = m.server_ports()
        assert m.proxy_url == f"http://127.0.0.1:{proxy}"
        assert m.control_address == f"127.0.0.1:{control}"
        assert len({proxy, control, admin}) == 3
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(m.admin_url + "/readyz", timeout=5) as r:
            assert r.status == 200
        with opener.open(m.admin_url + "/metrics", timeout=5) as r:
            assert b"matgto_" in r.read()
        # Without a cassette in use the proxy answers 503 and says why.
        r = no_env_proxy().get(upstream.url, proxies=m.proxies(), timeout=10)
        assert r.status_code == 503
        assert r.headers.get("X-Matgto-Error")
        info = m.get_docker_client().client.api.inspect_container(m.get_container_id())
        assert info["HostConfig"]["NetworkMode"] == "host"
        assert info["Config"]["Labels"][LABEL] == "true"
        assert m.client().ca_certificate().startswith("-----BEGIN CERTIFICATE-----")


def test_server_flags_from_the_test(tmp_path, upstream):
    """Cassette in use from the start, replay mode: no control call needed."""
    cassettes = tmp_path / "c"
    with MatgtoContainer().with_cassette_dir(cassettes) as m:
        with m.client().recording("boot") as _:
            no_env_proxy().get(upstream.url, proxies=m.proxies(), timeout=10)
    with MatgtoContainer().with_cassette_dir(cassettes).with_server_args(
        "--mode", "replay", "--cassette", "boot"
    ) as m:
        upstream.stop()
        r = no_env_proxy().get(upstream.url, proxies=m.proxies(), timeout=10)
        assert r.status_code == 200 and r.content == BODY


def test_a_server_that_cannot_start_fails_start_with_its_log():
    c = MatgtoContainer(startup_timeout=30).with_server_args("--no-such-flag")
    with pytest.raises(RuntimeError, match="no-such-flag"):
        c.start()
    c.stop()
