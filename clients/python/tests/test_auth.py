"""A secured control API: TLS, mTLS and scoped bearer tokens, against real servers.

One TLS server and one mTLS server serve the whole module (both with the same
token file); the shutdown test starts its own. Certificates are made at test
time with the ``openssl`` CLI: a CA, a server certificate for 127.0.0.1 and
localhost, and a client certificate.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import matgto

from conftest import RunningServer, start_server, stop_server

TOKENS = {"read": "read-token-0123456789", "write": "write-token-0123456789", "admin": "admin-token-0123456789", "team": "team-a-token-0123456789"}


@dataclass
class ControlPki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    tokens: Path


def make_control_pki(d: Path) -> ControlPki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS/mTLS tests need it to make certificates")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=matgto control test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=matgto test {name}")
        (d / f"{name}.ext").write_text(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    tokens = d / "tokens"
    tokens.write_text(
        "# token scope [name-prefix]\n"
        f"{TOKENS['read']} read\n{TOKENS['write']} write\n{TOKENS['admin']} admin\n{TOKENS['team']} write team-a/\n"
    )
    return ControlPki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key", tokens)


def secured_server(workdir: Path, pki: ControlPki, *, mtls: bool) -> RunningServer:
    args = ["--control-tls-cert", str(pki.server_cert), "--control-tls-key", str(pki.server_key),
            "--auth-tokens", str(pki.tokens)]
    if mtls:
        args += ["--control-client-ca", str(pki.ca)]
    return start_server(workdir, *args)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ControlPki:
    return make_control_pki(tmp_path_factory.mktemp("control-pki"))


@pytest.fixture(scope="module")
def tls_server(pki: ControlPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = secured_server(tmp_path_factory.mktemp("tls"), pki, mtls=False)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def mtls_server(pki: ControlPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = secured_server(tmp_path_factory.mktemp("mtls"), pki, mtls=True)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MATGTO_TOKEN", "MATGTO_TLS_CA", "MATGTO_TLS_CERT", "MATGTO_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)


def connect(server: RunningServer, pki: ControlPki, scope: str, **kwargs: Any) -> matgto.Client:
    kwargs.setdefault("timeout", 10)
    return matgto.Client(server.control, token=TOKENS.get(scope, scope), tls_ca=pki.ca, **kwargs)


def test_read_token_lists_but_cannot_record(tls_server: RunningServer, pki: ControlPki) -> None:
    with connect(tls_server, pki, "read") as client:
        assert client.status().api_version == 1
        client.list_cassettes()
        with pytest.raises(matgto.PermissionDeniedError) as caught:
            client.start_recording("auth/read-may-not", new_session=True)
        assert caught.value.code.name == "PERMISSION_DENIED"
        with pytest.raises(matgto.PermissionDeniedError):
            client.delete_cassette("auth/read-may-not")


def test_write_token_records_but_cannot_shut_down(tls_server: RunningServer, pki: ControlPki) -> None:
    with connect(tls_server, pki, "write") as client:
        with client.session("auth/written", mode="record", lease=None) as session:
            assert session.id.startswith("s-")
        with pytest.raises(matgto.PermissionDeniedError):
            client.shutdown()
    assert tls_server.proc.poll() is None
    # What write recorded, read replays (and may stop: the session only replays).
    with connect(tls_server, pki, "read") as client:
        with client.session("auth/written", mode="replay", lease=None) as session:
            assert session.info.mode == matgto.Mode.REPLAY


def test_name_prefix_limits_a_token(tls_server: RunningServer, pki: ControlPki) -> None:
    with connect(tls_server, pki, "team") as client:
        with client.session("team-a/ok", mode="record", lease=None):
            pass
        with pytest.raises(matgto.PermissionDeniedError):
            client.start_recording("team-b/not-mine", new_session=True)


def test_wrong_or_missing_token_is_unauthenticated(tls_server: RunningServer, pki: ControlPki) -> None:
    with connect(tls_server, pki, "not-a-token") as client:
        with pytest.raises(matgto.UnauthenticatedError) as caught:
            client.status()
        assert caught.value.code.name == "UNAUTHENTICATED"
    with matgto.Client(tls_server.control, tls_ca=pki.ca, token="") as client:
        with pytest.raises(matgto.UnauthenticatedError):
            client.list_cassettes()


def test_settings_from_the_environment(
    tls_server: RunningServer, pki: ControlPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATGTO_TOKEN", TOKENS["read"])
    monkeypatch.setenv("MATGTO_TLS_CA", str(pki.ca))
    with matgto.Client(tls_server.control) as client:
        assert client.connection is not None and client.connection.tls
        client.list_cassettes()


def test_plaintext_client_cannot_talk_to_a_tls_server(tls_server: RunningServer) -> None:
    with matgto.Client(tls_server.control, token=TOKENS["read"], timeout=5) as client:
        with pytest.raises(matgto.ServerUnavailableError):
            client.status()


def test_mtls_refuses_a_client_without_certificate(mtls_server: RunningServer, pki: ControlPki) -> None:
    with connect(mtls_server, pki, "admin", timeout=5) as client:
        with pytest.raises(matgto.ServerUnavailableError):
            client.status()


def test_mtls_accepts_a_client_certificate(mtls_server: RunningServer, pki: ControlPki) -> None:
    with connect(mtls_server, pki, "read", tls_cert=pki.client_cert, tls_key=pki.client_key) as client:
        client.list_cassettes()
        with pytest.raises(matgto.PermissionDeniedError):
            client.start_recording("auth/mtls-read", new_session=True)
    with connect(mtls_server, pki, "write", tls_cert=pki.client_cert, tls_key=pki.client_key) as client:
        with client.session("auth/mtls-written", mode="record", lease=None):
            pass
    with connect(mtls_server, pki, "wrong", tls_cert=pki.client_cert, tls_key=pki.client_key) as client:
        with pytest.raises(matgto.UnauthenticatedError):
            client.status()


def test_admin_token_shuts_the_server_down(pki: ControlPki, tmp_path: Path) -> None:
    running = secured_server(tmp_path / "admin", pki, mtls=True)
    try:
        with connect(running, pki, "admin", tls_cert=pki.client_cert, tls_key=pki.client_key) as client:
            client.shutdown()
        assert running.proc.wait(timeout=15) == 0
    finally:
        stop_server(running)


PLUGIN_INNER = '''
import pytest


@pytest.mark.matgto(name="team-a/plugin", mode="record")
def test_secured(matgto_cassette):
    assert matgto_cassette.id.startswith("s-")
'''


def test_pytest_plugin_takes_the_settings_from_the_environment(
    pytester: pytest.Pytester, tls_server: RunningServer, pki: ControlPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATGTO_SERVER", tls_server.control)
    monkeypatch.setenv("MATGTO_TLS_CA", str(pki.ca))
    monkeypatch.setenv("MATGTO_TOKEN", TOKENS["team"])
    pytester.makepyfile(test_inner=PLUGIN_INNER)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

    monkeypatch.setenv("MATGTO_TOKEN", TOKENS["read"])
    refused = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    refused.assert_outcomes(errors=1)
    refused.stdout.fnmatch_lines(["*PERMISSION_DENIED*"])


def test_watching_events_needs_a_token(tls_server: RunningServer, pki: ControlPki) -> None:
    with connect(tls_server, pki, "", check_version=False) as client:
        with pytest.raises(matgto.UnauthenticatedError):
            with client.watch_events() as events:  # raises here, or at the latest on next()
                next(events)
    with connect(tls_server, pki, "read") as client:
        with client.watch_events() as events:  # a read token may watch
            assert not events.closed
    with connect(tls_server, pki, "team") as client:  # a prefix token: only its cassettes
        with pytest.raises(matgto.PermissionDeniedError):
            with client.watch_events(cassette="team-b/x") as events:
                next(events)


def test_aio_client_tokens_over_tls_mtls_and_plaintext(
    tls_server: RunningServer, mtls_server: RunningServer, pki: ControlPki, tmp_path: Path
) -> None:
    """matgto.aio sends the token as call credentials over TLS and as metadata over plaintext."""
    import asyncio

    import matgto.aio

    plain = start_server(tmp_path / "plain", "--auth-tokens", str(pki.tokens))

    async def main() -> None:
        async with matgto.aio.Client(tls_server.control, token=TOKENS["write"], tls_ca=pki.ca) as client:
            async with client.session("aio-auth/tls"):
                pass
            with pytest.raises(matgto.PermissionDeniedError):
                await client.shutdown()
        async with matgto.aio.Client(tls_server.control, token="wrong", tls_ca=pki.ca) as client:
            with pytest.raises(matgto.UnauthenticatedError):
                await client.status()
        async with matgto.aio.Client(
            mtls_server.control, token=TOKENS["read"], tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key
        ) as client:
            assert await client.list_cassettes("aio-auth/") == []  # the module-scoped server: other tests write too
        async with matgto.aio.Client(plain.control, token=TOKENS["read"]) as client:  # loopback: plaintext allowed
            assert (await client.status()).api_version == matgto.API_VERSION
            with pytest.raises(matgto.PermissionDeniedError):
                await client.use_cassette("aio-auth/plain")
            events = await client.watch_events()  # a streaming call carries the token too
            events.close()
        async with matgto.aio.Client(plain.control) as client:
            with pytest.raises(matgto.UnauthenticatedError):
                await client.status()

    try:
        asyncio.run(main())
    finally:
        stop_server(plain)
