"""The client against a real matgto server and a real upstream."""

from __future__ import annotations

import json
import re
import socket
import ssl
from pathlib import Path

import grpc
import pytest
import requests

import matgto
from matgto import (
    BodyMatch,
    CassetteNotFoundError,
    ExhaustedPolicy,
    FailedPreconditionError,
    InvalidArgumentError,
    MatchRules,
    MissPolicy,
    Mode,
    RedactRules,
    ServerUnavailableError,
)
from matgto.v1 import cassette_pb2

from conftest import Pki, RunningServer, Upstream, start_server, stop_server


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
    pem = client.ca_certificate()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem.rstrip().endswith("-----END CERTIFICATE-----")
    assert len(ssl.PEM_cert_to_DER_cert(pem)) > 100, "the PEM holds a DER certificate"
    assert client.status().tls.ca_certificate_path
    path = Path(client.ca_bundle())
    assert path.read_text() == pem
    context = ssl.create_default_context(cafile=str(path))  # loads as a trust anchor
    assert context.cert_store_stats()["x509_ca"] >= 1


def test_https_through_connect_with_the_ca_bundle(
    tmp_path: Path, pki: Pki, tls_upstream: Upstream, http: requests.Session
) -> None:
    server = start_server(tmp_path / "tls", "--upstream-ca-file", str(pki.ca))
    try:
        with server.client() as client:
            bundle = client.ca_bundle()
            with client.recording("tls/get"):
                live = http.get(tls_upstream.url + "/secure", proxies=client.proxies(), verify=bundle, timeout=10)
            assert live.status_code == 200
            assert tls_upstream.calls == 1
            with client.replaying("tls/get"):
                again = http.get(tls_upstream.url + "/secure", proxies=client.proxies(), verify=bundle, timeout=10)
                with pytest.raises(requests.exceptions.SSLError):  # not trusted without the bundle
                    http.get(tls_upstream.url + "/secure", proxies=client.proxies(), verify=True, timeout=10)
            assert again.content == live.content
            assert tls_upstream.calls == 1
            recorded = client.get_cassette("tls/get").interactions[0].http.request
            assert recorded.url == tls_upstream.url + "/secure"
    finally:
        stop_server(server)


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


# -- matching rules, policies, redaction -------------------------------------------


def _post_json(http: requests.Session, client: matgto.Client, url: str, body: object) -> requests.Response:
    return http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"},
                     proxies=client.proxies(), timeout=10)


def test_json_body_rule_ignores_a_pointer(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    url = upstream.url + "/orders"
    with client.recording("rules/json"):
        recorded = _post_json(http, client, url, {"item": "pen", "meta": {"ts": 1, "n": 2}})
    upstream.stop()
    changed = {"meta": {"n": 2, "ts": 999}, "item": "pen"}  # other key order, other /meta/ts

    with client.replaying("rules/json"):  # default rules: bodies compared byte for byte
        assert _post_json(http, client, url, changed).status_code == 599

    rules = MatchRules(body="json", ignore_json_pointers=["/meta/ts"])
    with client.replaying("rules/json", match=rules) as session:
        assert session.info.options.match_rules.body == BodyMatch.JSON
        assert MatchRules.from_proto(session.info.options.match_rules) == rules
        replayed = _post_json(http, client, url, changed)
        assert replayed.status_code == recorded.status_code
        assert replayed.content == recorded.content
        other = _post_json(http, client, url, {"item": "ink", "meta": {"ts": 1, "n": 2}})
        assert other.status_code == 599, "only /meta/ts is ignored"
    assert upstream.calls == 1


def test_on_miss_record_appends_a_new_episode(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("rules/episodes"):
        first = http.get(upstream.url + "/first", proxies=client.proxies(), timeout=10)
    with client.replaying("rules/episodes", on_miss="record") as session:
        assert session.info.options.on_miss == MissPolicy.RECORD
        assert http.get(upstream.url + "/first", proxies=client.proxies(), timeout=10).content == first.content
        assert upstream.calls == 1, "a recorded request is replayed"
        second = http.get(upstream.url + "/second", proxies=client.proxies(), timeout=10)
        assert second.status_code == 200
        assert upstream.calls == 2, "a miss is forwarded"
    cassette = client.get_cassette("rules/episodes")
    assert isinstance(cassette, cassette_pb2.Cassette)
    assert len(cassette.interactions) == 2
    assert [i.http.request.url for i in cassette.interactions] == [upstream.url + "/first", upstream.url + "/second"]

    upstream.stop()
    with client.replaying("rules/episodes", on_miss="error"):
        again = http.get(upstream.url + "/second", proxies=client.proxies(), timeout=10)
    assert again.content == second.content


def test_redacted_query_param_stays_out_of_the_cassette(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    url = upstream.url + "/search?q=pens&token=SECRET-42"
    with client.recording("rules/redact", redact=RedactRules(query_params=["token"])) as session:
        recorded = http.get(url, proxies=client.proxies(), timeout=10)
    assert list(session.info.options.redact.query_params) == ["token"]
    cassette = client.get_cassette("rules/redact")
    request = cassette.interactions[0].http.request
    assert "SECRET-42" not in request.url
    assert "q=pens" in request.url and "REDACTED" in request.url
    assert b"SECRET-42" not in request.SerializeToString()
    assert list(cassette.options.redact.query_params) == ["token"]

    upstream.stop()
    with client.replaying("rules/redact"):  # the live request is redacted the same way
        again = http.get(url, proxies=client.proxies(), timeout=10)
    # The upstream echoed the URL in its body: the server scrubs a redacted value
    # wherever else it appears, so the replayed body has the placeholder.
    assert b"SECRET-42" in recorded.content
    assert again.status_code == 200
    assert again.content == recorded.content.replace(b"SECRET-42", b"[REDACTED]")


def test_repeat_reuse_and_other_options_reach_the_server(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("rules/reuse", store_decoded=True, ws_timing="as-recorded", ws_speed=2.0):
        recorded = http.get(upstream.url + "/r", proxies=client.proxies(), timeout=10)
    stored = client.get_cassette("rules/reuse").options
    assert stored.body_storage == cassette_pb2.DECODED
    assert stored.ws_timing == cassette_pb2.AS_RECORDED and stored.ws_speed == 2.0
    upstream.stop()
    extra = cassette_pb2.CassetteOptions(on_exhausted=cassette_pb2.EXHAUSTED_ERROR)
    with client.replaying("rules/reuse", repeat="reuse", proto_options=extra) as session:
        assert session.info.options.on_exhausted == ExhaustedPolicy.ERROR
        for _ in range(3):  # reuse: the one answer serves every time, never "exhausted"
            r = http.get(upstream.url + "/r", proxies=client.proxies(), timeout=10)
            assert r.status_code == 200 and r.content == recorded.content


@pytest.mark.parametrize(
    "options",
    [
        {"match": MatchRules(url_rewrites=[("/users/([0-9]+", "/users/N")])},
        {"match": MatchRules(body="json", ignore_json_pointers=["meta/ts"])},
        {"redact": RedactRules(body_patterns=["[unclosed"])},
    ],
    ids=["url-rewrite", "json-pointer", "redact-pattern"],
)
def test_bad_rules_raise_invalid_argument(client: matgto.Client, options: dict) -> None:
    for call in (client.start_recording, client.use_cassette):
        with pytest.raises(InvalidArgumentError) as caught:
            call("rules/bad", **options)
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.message
    assert not client.status().HasField("session")


def test_bad_url_rewrite_on_replay_raises_invalid_argument(
    client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    with client.recording("rules/rewrite"):
        http.get(upstream.url + "/users/1", proxies=client.proxies(), timeout=10)
    with pytest.raises(InvalidArgumentError, match=r"\("):
        client.replay("rules/rewrite", match=MatchRules(url_rewrites=[("(", "x")]))
    with client.replaying("rules/rewrite", match=MatchRules(url_rewrites=[(r"/users/[0-9]+", "/users/N")])):
        assert http.get(upstream.url + "/users/7", proxies=client.proxies(), timeout=10).status_code == 200


# -- cassette management -------------------------------------------------------------


def test_cassette_management_round_trip(
    server: RunningServer, client: matgto.Client, upstream: Upstream, http: requests.Session
) -> None:
    big = b"x" * (1536 * 1024)  # echoed back by the upstream: a cassette of ~3 MiB, several chunks
    with client.recording("manage/orig"):
        small = http.get(upstream.url + "/small", proxies=client.proxies(), timeout=10)
        large = http.post(upstream.url + "/large", data=big, proxies=client.proxies(), timeout=30)
    with client.recording("other/x"):
        http.get(upstream.url + "/other", proxies=client.proxies(), timeout=10)

    assert {c.name for c in client.list_cassettes()} == {"manage/orig", "other/x"}
    (info,) = client.list_cassettes(prefix="manage/")
    assert info.name == "manage/orig" and info.interactions == 2
    assert info.size_bytes > 2 * matgto.CHUNK_BYTES and info.format == "binary"
    assert client.list_cassettes(prefix="nothing/") == []

    cassette = client.get_cassette("manage/orig")
    assert cassette.name == "manage/orig" and cassette.complete and cassette.schema_version == 1
    assert len(cassette.interactions) == 2
    raw = client.get_cassette_bytes("manage/orig")
    assert len(raw) == cassette.ByteSize() and len(raw) > 2 * matgto.CHUNK_BYTES

    copied = client.put_cassette(cassette, name="manage/copy")
    assert copied.name == "manage/copy" and copied.interactions == 2
    assert client.put_cassette(raw, name="manage/copy-from-bytes").interactions == 2
    assert client.get_cassette("manage/copy").name == "manage/copy"

    upstream.stop()
    with client.replaying("manage/copy"):
        assert http.get(upstream.url + "/small", proxies=client.proxies(), timeout=10).content == small.content
        assert http.post(upstream.url + "/large", data=big, proxies=client.proxies(), timeout=30).content == large.content
        with pytest.raises(FailedPreconditionError) as in_use:
            client.delete_cassette("manage/copy")
        assert in_use.value.code is grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(FailedPreconditionError):
            client.put_cassette(cassette, name="manage/copy")

    client.delete_cassette("manage/copy")
    assert "manage/copy" not in [c.name for c in client.list_cassettes()]
    with pytest.raises(CassetteNotFoundError) as gone:
        client.delete_cassette("manage/copy")
    assert gone.value.code is grpc.StatusCode.NOT_FOUND
    with pytest.raises(CassetteNotFoundError):
        client.get_cassette("manage/copy")
    with pytest.raises(CassetteNotFoundError):
        client.replay("manage/copy")


def test_cassette_management_errors(client: matgto.Client) -> None:
    with pytest.raises(CassetteNotFoundError):
        client.get_cassette("never/there")
    with pytest.raises(InvalidArgumentError):
        client.get_cassette("../escape")
    with pytest.raises(InvalidArgumentError):
        client.delete_cassette("../escape")
    with pytest.raises(InvalidArgumentError, match="not a valid matgto cassette"):
        client.put_cassette(b"\x0a\xff\xff\xff", name="garbage")
    incomplete = cassette_pb2.Cassette(schema_version=1, name="half")  # complete unset: truncated
    with pytest.raises(InvalidArgumentError):
        client.put_cassette(incomplete)
    with pytest.raises(InvalidArgumentError):
        client.put_cassette(cassette_pb2.Cassette(schema_version=1, complete=True), name="../x")
    with pytest.raises(ValueError, match="no name"):
        client.put_cassette(cassette_pb2.Cassette(schema_version=1, complete=True))
    assert client.list_cassettes() == []
