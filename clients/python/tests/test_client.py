"""The client against a real matgto server and a real upstream."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import grpc
import pytest
import requests

import matgto
from matgto import (
    CassetteNotFoundError,
    ExhaustedPolicy,
    FailedPreconditionError,
    InvalidArgumentError,
    Mode,
    ServerUnavailableError,
    UnimplementedError,
)

from conftest import RunningServer, Upstream, start_server, stop_server


def _saved_file(server: RunningServer, saved_path: str) -> Path:
    path = Path(saved_path)
    return path if path.is_absolute() else server.cassette_dir / path


def test_record_then_replay_is_byte_identical(
    server: RunningServer, client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    paths = ["/a?x=1", "/b", "/created"]
    info = client.start_recording("roundtrip/basic")
    assert info.cassette == "roundtrip/basic"
    assert info.mode == Mode.RECORD

    live = [http.get(upstream.url + p, proxies=client.proxies(), timeout=10) for p in paths]
    assert [r.status_code for r in live] == [200, 200, 201]
    assert upstream.calls == 3
    assert len({r.content for r in live}) == 3, "upstream bodies must differ per call"

    summary = client.stop_recording()
    assert summary.session.cassette == "roundtrip/basic"
    assert summary.session.recorded == 3
    assert summary.saved_path, summary
    assert _saved_file(server, summary.saved_path).is_file()

    upstream.stop()
    info = client.replay("roundtrip/basic")
    assert info.mode == Mode.REPLAY
    assert info.interactions == 3

    replayed = [http.get(upstream.url + p, proxies=client.proxies(), timeout=10) for p in paths]
    for before, after in zip(live, replayed):
        assert after.status_code == before.status_code
        assert after.content == before.content
        assert after.headers["X-Upstream-Call"] == before.headers["X-Upstream-Call"]
    summary = client.stop_recording()
    assert summary.session.replayed == 3
    assert summary.session.missed == 0
    assert upstream.calls == 3, "replay must not reach the upstream"


def test_context_managers_stop_the_session_even_on_exception(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with client.recording("cm/boom") as session:
            assert session.mode == Mode.RECORD
            assert session.name == "cm/boom"
            recorded = http.get(upstream.url + "/cm", proxies=session.proxies(), timeout=10)
            raise RuntimeError("boom")
    assert not client.status().HasField("session")
    assert session.summary is not None
    assert session.summary.session.recorded == 1
    with pytest.raises(FailedPreconditionError):
        client.stop_recording()

    with client.replaying("cm/boom") as replaying:
        assert replaying.mode == Mode.REPLAY
        again = http.get(upstream.url + "/cm", proxies=replaying.proxies(), timeout=10)
        assert again.content == recorded.content
    assert replaying.summary is not None and replaying.summary.session.replayed == 1
    assert not client.status().HasField("session")
    assert upstream.calls == 1


def test_cassette_auto_records_then_replays(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.cassette("auto/one") as first:
        assert first.mode == Mode.RECORD
        assert first.requested_mode == Mode.AUTO
        body = http.post(upstream.url + "/post", data=b"payload", proxies=first.proxies(), timeout=10).content
    assert b"got=payload" in body
    with client.cassette("auto/one", mode="auto") as second:
        assert second.mode == Mode.REPLAY
        again = http.post(upstream.url + "/post", data=b"payload", proxies=second.proxies(), timeout=10)
    assert again.content == body
    assert upstream.calls == 1


def test_passthrough_records_nothing(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.cassette("pass/through", mode="passthrough") as session:
        assert session.mode == Mode.PASSTHROUGH
        first = http.get(upstream.url + "/p", proxies=session.proxies(), timeout=10)
        second = http.get(upstream.url + "/p", proxies=session.proxies(), timeout=10)
    assert first.content != second.content
    assert upstream.calls == 2
    assert session.summary is not None
    assert session.summary.session.passed_through == 2
    assert session.summary.session.recorded == 0


def test_replay_miss_is_reported(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("miss/base"):
        http.get(upstream.url + "/known", proxies=client.proxies(), timeout=10)
    with client.replaying("miss/base"):
        miss = http.get(upstream.url + "/unknown", proxies=client.proxies(), timeout=10)
        assert miss.status_code == 599
        assert miss.headers.get("X-Matgto-Error") == "no-match"
        session = client.status().session
        assert session.missed == 1
        assert "/unknown" in session.misses[0].url
        assert session.misses[0].reason == "no-match"
    assert upstream.calls == 1


def test_on_exhausted_override_is_sent(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("exhausted/once"):
        recorded = http.get(upstream.url + "/once", proxies=client.proxies(), timeout=10)
    upstream.stop()

    with client.replaying("exhausted/once") as default:
        assert default.info.options.on_exhausted != ExhaustedPolicy.ERROR
        for _ in range(2):  # REPEAT_LAST keeps answering
            assert http.get(upstream.url + "/once", proxies=client.proxies(), timeout=10).content == recorded.content

    with client.replaying("exhausted/once", on_exhausted="error") as strict:
        assert strict.info.options.on_exhausted == ExhaustedPolicy.ERROR
        assert http.get(upstream.url + "/once", proxies=client.proxies(), timeout=10).content == recorded.content
        exhausted = http.get(upstream.url + "/once", proxies=client.proxies(), timeout=10)
        assert exhausted.status_code == 599
        assert client.status().session.misses[-1].reason == "exhausted"


def test_replay_of_unknown_cassette_raises_not_found(client: matgto.Client) -> None:
    with pytest.raises(CassetteNotFoundError) as caught:
        client.replay("nope")
    error = caught.value
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.message
    assert error.method == "Replay"
    assert isinstance(error, LookupError)
    assert not client.status().HasField("session")


@pytest.mark.parametrize("name", ["../x", "/abs", "", "a/../b", "bad name"])
def test_bad_cassette_names_raise_invalid_argument(client: matgto.Client, name: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.start_recording(name)
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message
    assert isinstance(caught.value, ValueError)


def test_sanitized_names_are_accepted(client: matgto.Client) -> None:
    name = matgto.sanitize_cassette_name("test_mod/test_x[a b..c/d é]")
    with client.recording(name) as session:
        assert session.name == name


def test_corrupt_cassette_raises_corrupt_cassette_error(
    server: RunningServer, client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("corrupt/me") as session:
        http.get(upstream.url + "/c", proxies=client.proxies(), timeout=10)
    assert session.summary is not None
    saved = _saved_file(server, session.summary.saved_path)
    saved.write_bytes(saved.read_bytes()[:-7] + b"\xff" * 3)
    with pytest.raises(matgto.CorruptCassetteError) as caught:
        client.replay("corrupt/me")
    assert caught.value.code is grpc.StatusCode.DATA_LOSS
    assert caught.value.message


def test_stop_when_idle_raises_failed_precondition(client: matgto.Client) -> None:
    with pytest.raises(FailedPreconditionError) as caught:
        client.stop_recording()
    assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.message


def test_status_and_proxies(server: RunningServer, client: matgto.Client) -> None:
    status = client.status()
    assert status.api_version == matgto.API_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", status.version), status.version
    assert status.proxy_address == server.proxy
    assert status.control_address == server.control
    assert Path(status.cassette_dir).resolve() == server.cassette_dir.resolve()
    assert not status.HasField("session")
    url = "http://" + server.proxy
    assert client.proxies() == {"http": url, "https": url}
    assert client.proxy_url() == url

    client.start_recording("status/check")
    session = client.status().session
    assert session.cassette == "status/check"
    assert session.mode == Mode.RECORD
    client.stop_recording()


def test_ca_certificate(client: matgto.Client) -> None:
    try:
        pem = client.ca_certificate()
    except UnimplementedError:
        pytest.skip("server has no HTTPS interception yet (UNIMPLEMENTED)")
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    path = Path(client.ca_bundle())
    assert path.read_text() == pem


def test_shutdown_saves_the_recording_and_exits(
    server: RunningServer, upstream: Upstream, http: requests.Session, tmp_path: Path
) -> None:
    with server.client() as client:
        client.start_recording("shutdown/saved")
        recorded = http.get(upstream.url + "/s", proxies=client.proxies(), timeout=10)
        client.shutdown(grace=2)
        assert server.proc.wait(timeout=20) == 0, server.log_tail()
        with pytest.raises(ServerUnavailableError):
            client.status()

    restarted = start_server(server.cassette_dir.parent)
    try:
        with restarted.client() as client:
            with client.replaying("shutdown/saved"):
                again = http.get(upstream.url + "/s", proxies=client.proxies(), timeout=10)
            assert again.content == recorded.content
    finally:
        stop_server(restarted)
    assert upstream.calls == 1


def test_unreachable_server_raises_server_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with matgto.Client(f"127.0.0.1:{port}", timeout=5) as client:
        with pytest.raises(ServerUnavailableError) as caught:
            client.status()
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_closed_client_refuses_calls(client: matgto.Client) -> None:
    client.status()
    client.close()
    with pytest.raises(matgto.MatgtoError, match="closed"):
        client.status()
