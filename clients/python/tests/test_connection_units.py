"""Connection options (token, TLS, mTLS) on the client side, without a matgto server.

The mapping of arguments and environment to settings is checked as data; the
bearer header of a plaintext channel is checked against an in-process gRPC
server on 127.0.0.1 that records the metadata it receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import grpc
import pytest

import matgto
from matgto.connection import is_loopback_target, resolve_connection
from matgto.errors import error_class_for
from matgto.v1 import control_pb2, control_pb2_grpc

from conftest import fake_control


def test_nothing_configured_is_plaintext_without_token() -> None:
    settings = resolve_connection("127.0.0.1:8889", environ={})
    assert not settings.tls and settings.token is None and not settings.explicit_plaintext


def test_token_from_argument_wins_over_environment() -> None:
    env = {"MATGTO_TOKEN": "from-env"}
    assert resolve_connection("127.0.0.1:1", environ=env).token == "from-env"
    assert resolve_connection("127.0.0.1:1", token="arg", environ=env).token == "arg"
    assert resolve_connection("127.0.0.1:1", token="", environ=env).token is None


def test_ca_from_environment_turns_tls_on(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"CA PEM")
    settings = resolve_connection("central:8889", environ={"MATGTO_TLS_CA": str(ca), "MATGTO_TOKEN": "t"})
    assert settings.tls and settings.ca == b"CA PEM" and settings.cert is None and settings.token == "t"


def test_client_certificate_from_arguments(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_bytes(b"CERT")
    (tmp_path / "c.key").write_bytes(b"KEY")
    settings = resolve_connection(
        "central:8889", tls_cert=tmp_path / "c.pem", tls_key=str(tmp_path / "c.key"), tls_ca=b"ROOTS", environ={}
    )
    assert settings.tls and (settings.ca, settings.cert, settings.key) == (b"ROOTS", b"CERT", b"KEY")


def test_tls_true_alone_uses_the_system_roots() -> None:
    settings = resolve_connection("central:443", tls=True, environ={})
    assert settings.tls and settings.ca is None


def test_explicit_plaintext_ignores_tls_environment_and_allows_a_remote_token() -> None:
    env = {"MATGTO_TLS_CA": "/nonexistent/ca.pem", "MATGTO_TOKEN": "t"}
    settings = resolve_connection("central:8889", tls=False, environ=env)
    assert not settings.tls and settings.explicit_plaintext and settings.token == "t"
    with pytest.raises(ValueError, match="cannot be combined"):
        resolve_connection("central:8889", tls=False, tls_ca=b"x", environ={})


def test_a_token_is_not_sent_in_plaintext_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="refusing to send the token in plaintext to central:8889"):
        resolve_connection("central:8889", token="t", environ={})
    for target in ("127.0.0.1:1", "localhost:1", "[::1]:1", "ipv4:127.0.0.2:1", "unix:/tmp/s"):
        assert resolve_connection(target, token="t", environ={}).token == "t"


def test_certificate_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs its key"):
        resolve_connection("h:1", tls_cert=b"CERT", environ={})
    with pytest.raises(ValueError, match="needs its key"):
        resolve_connection("h:1", environ={"MATGTO_TLS_KEY": str(tmp_path / "k")})


def test_unreadable_file_names_it_and_its_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(matgto.MatgtoError, match=r"TLS CA file '.*nope.pem' \(from \$MATGTO_TLS_CA\)"):
        resolve_connection("h:1", environ={"MATGTO_TLS_CA": str(missing)})


def test_settings_never_show_the_token() -> None:
    assert "s3cret" not in repr(resolve_connection("127.0.0.1:1", token="s3cret", environ={}))


def test_https_address_means_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MATGTO_TOKEN", "MATGTO_TLS_CA", "MATGTO_TLS_CERT", "MATGTO_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with matgto.Client("https://central.example:8889/") as client:
        assert client.address == "central.example:8889"
        assert client.connection is not None and client.connection.tls
    with matgto.Client("http://127.0.0.1:1") as client:
        assert client.address == "127.0.0.1:1" and client.connection is not None and not client.connection.tls
    with pytest.raises(ValueError, match="contradicts"):
        matgto.Client("https://central.example:8889", tls=False)


def test_loopback_targets() -> None:
    assert is_loopback_target("127.0.0.1:8889") and is_loopback_target("dns:///localhost:1")
    assert not is_loopback_target("10.0.0.1:8889") and not is_loopback_target("matgto.internal:8889")


def test_auth_codes_map_to_their_own_errors() -> None:
    assert error_class_for(grpc.StatusCode.UNAUTHENTICATED) is matgto.UnauthenticatedError
    assert error_class_for(grpc.StatusCode.PERMISSION_DENIED) is matgto.PermissionDeniedError
    assert issubclass(matgto.PermissionDeniedError, PermissionError)
    assert issubclass(matgto.UnauthenticatedError, matgto.MatgtoError)


# -- the header on the wire (plaintext: interceptor) ---------------------------------


class _Recorder(control_pb2_grpc.ProxyControlServicer):
    def __init__(self) -> None:
        self.metadata: List[Any] = []

    def GetStatus(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.metadata.append(dict(context.invocation_metadata()))
        return control_pb2.GetStatusResponse(api_version=1, version="0.1.0")

    def ListCassettes(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.metadata.append(dict(context.invocation_metadata()))
        return control_pb2.ListCassettesResponse()


@pytest.fixture
def recorder() -> Iterator[tuple]:
    servicer = _Recorder()
    with fake_control(servicer, workers=2) as address:
        yield servicer, address


def test_plaintext_token_reaches_every_call_as_bearer(recorder: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    servicer, address = recorder
    monkeypatch.setenv("MATGTO_TOKEN", "tok-123")
    with matgto.Client(address) as client:
        client.list_cassettes()
    assert [m.get("authorization") for m in servicer.metadata] == ["Bearer tok-123", "Bearer tok-123"]


def test_no_token_sends_no_authorization(recorder: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    servicer, address = recorder
    monkeypatch.delenv("MATGTO_TOKEN", raising=False)
    with matgto.Client(address) as client:
        client.status()
    assert "authorization" not in servicer.metadata[0]


def test_a_ready_channel_excludes_connection_options() -> None:
    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        with pytest.raises(ValueError, match="carries its own credentials"):
            matgto.Client("127.0.0.1:1", channel=channel, token="t")
        with matgto.Client("127.0.0.1:1", channel=channel) as client:
            assert client.connection is None
    finally:
        channel.close()
