"""Pieces of the client that need no server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

import matgto
from matgto import errors
from matgto.client import check_api_version, usable_proxy_address
from matgto.modes import ExhaustedPolicy, Mode, parse_exhausted_policy, parse_mode
from matgto.naming import ALLOWED_NAME_RE, sanitize_cassette_component, sanitize_cassette_name
from matgto.pytest_plugin import cassette_name_for
from matgto.v1 import cassette_pb2, control_pb2

HERE = Path(__file__).resolve().parent


# -- API version check ---------------------------------------------------------

def test_api_version_1_is_accepted() -> None:
    check_api_version(SimpleNamespace(api_version=1, version="0.1.0"))
    check_api_version(control_pb2.GetStatusResponse(api_version=1, version="0.1.0"))


@pytest.mark.parametrize("api_version", [2, 7])
def test_other_api_versions_are_refused_clearly(api_version: int) -> None:
    status = SimpleNamespace(api_version=api_version, version="9.0.0")
    with pytest.raises(matgto.IncompatibleServerError) as caught:
        check_api_version(status, address="127.0.0.1:1234")
    text = str(caught.value)
    assert f"control API version {api_version}" in text
    assert "version 1" in text
    assert "9.0.0" in text and "127.0.0.1:1234" in text
    assert isinstance(caught.value, matgto.MatgtoError)
    assert caught.value.code is None


def test_missing_api_version_is_refused() -> None:
    with pytest.raises(matgto.IncompatibleServerError, match="no control API version"):
        check_api_version(control_pb2.GetStatusResponse(version="0.0.1"))


# -- errors ------------------------------------------------------------------------

class FakeCall:
    """A failed call as grpc hands it over: code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    "code, cls",
    [
        (grpc.StatusCode.NOT_FOUND, matgto.CassetteNotFoundError),
        (grpc.StatusCode.INVALID_ARGUMENT, matgto.InvalidArgumentError),
        (grpc.StatusCode.FAILED_PRECONDITION, matgto.FailedPreconditionError),
        (grpc.StatusCode.DATA_LOSS, matgto.CorruptCassetteError),
        (grpc.StatusCode.UNAVAILABLE, matgto.ServerUnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, matgto.DeadlineExceededError),
        (grpc.StatusCode.UNIMPLEMENTED, matgto.UnimplementedError),
        (grpc.StatusCode.INTERNAL, matgto.MatgtoError),
        (grpc.StatusCode.PERMISSION_DENIED, matgto.MatgtoError),
    ],
)
def test_status_codes_map_to_exceptions(code: grpc.StatusCode, cls: type) -> None:
    call = FakeCall(code, "the server says why")
    error = errors.error_from_rpc(call, method="Replay")
    assert type(error) is cls
    assert error.code is code
    assert "the server says why" in error.message
    assert code.name in str(error)
    assert "Replay" in str(error)
    assert error.rpc_error is call


# -- enums -------------------------------------------------------------------------

def test_mode_mirrors_the_proto_enum() -> None:
    proto = dict(control_pb2.Mode.items())
    assert {m.proto_name: int(m) for m in Mode} == proto


def test_exhausted_policy_mirrors_the_proto_enum() -> None:
    proto = dict(cassette_pb2.ExhaustedPolicy.items())
    assert {p.proto_name: int(p) for p in ExhaustedPolicy} == proto


def test_parse_mode() -> None:
    assert parse_mode("auto") is Mode.AUTO
    assert parse_mode(" Record ") is Mode.RECORD
    assert parse_mode(3) is Mode.REPLAY
    assert parse_mode(Mode.PASSTHROUGH) is Mode.PASSTHROUGH
    for bad in ("bogus", 99, True, 1.5):
        with pytest.raises(ValueError):
            parse_mode(bad)  # type: ignore[arg-type]


def test_parse_exhausted_policy() -> None:
    assert parse_exhausted_policy(None) is None
    assert parse_exhausted_policy("error") is ExhaustedPolicy.ERROR
    assert parse_exhausted_policy("repeat_last") is ExhaustedPolicy.REPEAT_LAST
    assert parse_exhausted_policy(2) is ExhaustedPolicy.ERROR
    with pytest.raises(ValueError):
        parse_exhausted_policy("sometimes")


# -- cassette names ----------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("test_x", "test_x"),
        ("test_x[a b]", "test_x[a_b]"),
        ("test_x[1..2]", "test_x[1._2]"),
        ("..", "._"),
        ("test_x[a/b]", "test_x[a_b]"),
        ("é:ü", "___"),
        ("", "_"),
        (".", "_"),
        ("ok-+=@,.[]", "ok-+=@,.[]"),
    ],
)
def test_component_sanitizing(raw: str, expected: str) -> None:
    assert sanitize_cassette_component(raw) == expected


def test_long_components_are_shortened_with_a_hash() -> None:
    a, b = sanitize_cassette_component("x" * 300 + "a"), sanitize_cassette_component("x" * 300 + "b")
    assert len(a) <= 120 and len(b) <= 120 and a != b


def test_sanitized_names_keep_slashes_and_pass_the_server_rules() -> None:
    name = sanitize_cassette_name("/dir//sub dir/../t\x00[é]/")
    assert name == "dir/sub_dir/._/t_[_]"
    assert ALLOWED_NAME_RE.fullmatch(name) and ".." not in name and not name.startswith("/")


def test_cassette_names_follow_node_ids() -> None:
    def item(nodeid: str) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, path=Path("/x") / nodeid.split("::")[0])

    assert cassette_name_for(item("tests/test_api.py::test_get")) == "test_api/test_get"
    assert cassette_name_for(item("test_api.py::TestUsers::test_get")) == "test_api/TestUsers/test_get"
    assert cassette_name_for(item("test_api.py::test_get[a b/c-1]")) == "test_api/test_get[a_b_c-1]"


# -- proxies and CA bundle ---------------------------------------------------------

@pytest.mark.parametrize(
    "proxy, control, expected",
    [
        ("127.0.0.1:8888", "127.0.0.1:8889", "127.0.0.1:8888"),
        ("0.0.0.0:8888", "10.1.2.3:8889", "10.1.2.3:8888"),
        ("[::]:8888", "dns:///proxyhost:8889", "proxyhost:8888"),
        ("[::1]:8888", "whatever:1", "[::1]:8888"),
        ("0.0.0.0:8888", "unix:/tmp/sock", "127.0.0.1:8888"),
    ],
)
def test_usable_proxy_address(proxy: str, control: str, expected: str) -> None:
    assert usable_proxy_address(proxy, control) == expected


def test_default_server_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATGTO_SERVER", raising=False)
    with matgto.Client() as client:
        assert client.address == "127.0.0.1:8889"
    monkeypatch.setenv("MATGTO_SERVER", "127.0.0.1:7000")
    with matgto.Client() as client:
        assert client.address == "127.0.0.1:7000"
    with matgto.Client("127.0.0.1:1") as client:
        assert client.address == "127.0.0.1:1"


PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


class PemClient(matgto.Client):
    def ca_certificate(self) -> str:
        return PEM


def test_ca_bundle_writes_the_pem(tmp_path: Path) -> None:
    client = PemClient("127.0.0.1:1")
    default = Path(client.ca_bundle())
    assert default.read_text() == PEM
    explicit = tmp_path / "ca.pem"
    assert client.ca_bundle(explicit) == str(explicit)
    assert explicit.read_text() == PEM
    assert [p.name for p in tmp_path.iterdir()] == ["ca.pem"]
    client.close()
    assert not default.exists(), "close() removes the temporary bundle"
    assert explicit.exists(), "close() keeps bundles written where the caller asked"


# -- packaging ---------------------------------------------------------------------

def test_package_is_typed_and_ships_generated_code() -> None:
    package = Path(matgto.__file__).parent
    assert (package / "py.typed").is_file()
    for name in ("control_pb2.py", "control_pb2.pyi", "control_pb2_grpc.py", "cassette_pb2.py"):
        assert (package / "v1" / name).is_file(), name


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_generated_code_is_ignored_by_git() -> None:
    root = HERE.parent
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True)
    if inside.returncode != 0:
        pytest.skip("not a git checkout")
    generated = ["src/matgto/v1/control_pb2.py", "src/matgto/v1/control_pb2.pyi", "src/matgto/v1/control_pb2_grpc.py"]
    ignored = subprocess.run(["git", "check-ignore", *generated], cwd=root, capture_output=True, text=True)
    assert ignored.stdout.split() == generated
    tracked = subprocess.run(["git", "ls-files", "src/matgto/v1"], cwd=root, capture_output=True, text=True)
    assert "_pb2" not in tracked.stdout
