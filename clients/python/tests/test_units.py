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
from matgto.modes import (
    BodyMatch,
    ExhaustedPolicy,
    MatchField,
    MissPolicy,
    Mode,
    RepeatPolicy,
    WsTiming,
    parse_exhausted_policy,
    parse_miss_policy,
    parse_mode,
    parse_repeat_policy,
    parse_ws_timing,
)
from matgto.options import OPTION_NAMES, MatchRules, RedactRules, cassette_options
from matgto.naming import (
    ALLOWED_NAME_RE,
    cassette_name_for_nodeid,
    sanitize_cassette_component,
    sanitize_cassette_name,
    truncate_utf8,
)
from matgto.pytest_plugin import cassette_name_for, owner_for
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
        (grpc.StatusCode.RESOURCE_EXHAUSTED, matgto.ResourceExhaustedError),
        (grpc.StatusCode.INTERNAL, matgto.MatgtoError),
        (grpc.StatusCode.UNAUTHENTICATED, matgto.UnauthenticatedError),
        (grpc.StatusCode.PERMISSION_DENIED, matgto.PermissionDeniedError),
        (grpc.StatusCode.ABORTED, matgto.MatgtoError),
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


@pytest.mark.parametrize(
    "cls, proto_enum",
    [
        (RepeatPolicy, cassette_pb2.RepeatPolicy),
        (MissPolicy, cassette_pb2.MissPolicy),
        (BodyMatch, cassette_pb2.BodyMatch),
        (MatchField, cassette_pb2.MatchField),
        (WsTiming, cassette_pb2.WsTiming),
    ],
)
def test_new_enums_mirror_the_proto_enums(cls: type, proto_enum: object) -> None:
    assert {m.proto_name: int(m) for m in cls} == dict(proto_enum.items())  # type: ignore[attr-defined]


def test_parse_policies() -> None:
    assert parse_repeat_policy("reuse") is RepeatPolicy.REUSE
    assert parse_repeat_policy(None) is None
    assert parse_miss_policy("Record") is MissPolicy.RECORD
    assert parse_miss_policy(2) is MissPolicy.PASSTHROUGH
    assert parse_ws_timing("as-recorded") is WsTiming.AS_RECORDED
    assert parse_ws_timing("fast") is WsTiming.FAST
    for parse, bad in ((parse_repeat_policy, "twice"), (parse_miss_policy, "ignore"), (parse_ws_timing, 7)):
        with pytest.raises(ValueError):
            parse(bad)


# -- cassette options --------------------------------------------------------------

def test_no_option_means_no_message() -> None:
    assert cassette_options() is None
    assert OPTION_NAMES == tuple(cassette_options.__kwdefaults__)  # type: ignore[arg-type]


def test_every_option_reaches_the_message() -> None:
    options = cassette_options(
        on_exhausted="error",
        repeat="reuse",
        on_miss="passthrough",
        match=MatchRules(
            fields=["method", "path", "headers"],
            headers=["X-Tenant"],
            ignore_query_params=["nonce"],
            query_order_insensitive=True,
            body="form",
            ignore_form_fields=["csrf"],
            url_rewrites=[(r"/users/[0-9]+", "/users/N")],
        ),
        redact=RedactRules(headers=["X-Key"], query_params=["token"], json_pointers=["/password"],
                           form_fields=["pin"], body_patterns=["sk_[a-z0-9]+"], disable_defaults=True),
        store_decoded=True,
        ws_timing="as-recorded",
        ws_speed=2.5,
        stream_timing="fast",
        stream_speed=4,
    )
    expected = cassette_pb2.CassetteOptions(
        on_exhausted=cassette_pb2.EXHAUSTED_ERROR,
        repeat=cassette_pb2.REUSE,
        on_miss=cassette_pb2.MISS_PASSTHROUGH,
        match_rules=cassette_pb2.MatchRules(
            fields=[cassette_pb2.METHOD, cassette_pb2.PATH, cassette_pb2.HEADERS],
            headers=["X-Tenant"],
            ignore_query_params=["nonce"],
            query_order_insensitive=True,
            body=cassette_pb2.BODY_FORM,
            ignore_form_fields=["csrf"],
            url_rewrites=[cassette_pb2.UrlRewrite(pattern=r"/users/[0-9]+", replacement="/users/N")],
        ),
        redact=cassette_pb2.RedactRules(headers=["X-Key"], query_params=["token"], json_pointers=["/password"],
                                        form_fields=["pin"], body_patterns=["sk_[a-z0-9]+"], disable_defaults=True),
        body_storage=cassette_pb2.DECODED,
        ws_timing=cassette_pb2.AS_RECORDED,
        ws_speed=2.5,
        stream_timing=cassette_pb2.AS_FAST_AS_POSSIBLE,
        stream_speed=4.0,
    )
    assert options == expected
    assert cassette_options(store_decoded=False).body_storage == cassette_pb2.AS_SENT  # type: ignore[union-attr]


def test_match_rules_accept_messages_dicts_and_imply_the_body_mode() -> None:
    assert MatchRules(ignore_json_pointers=["/ts"]).body is BodyMatch.JSON
    assert MatchRules(ignore_form_fields=["csrf"]).body is BodyMatch.FORM
    assert MatchRules(body="exact", ignore_json_pointers=["/ts"]).body is BodyMatch.EXACT
    assert MatchRules(headers="X-One").headers == ("X-One",), "a lone str is one name"
    dict_form = cassette_options(match={"body": "json", "url_rewrites": [{"pattern": "a", "replacement": "b"}]})
    message = cassette_pb2.MatchRules(body=cassette_pb2.BODY_JSON, url_rewrites=[cassette_pb2.UrlRewrite(pattern="a", replacement="b")])
    assert dict_form is not None and dict_form.match_rules == message
    assert cassette_options(match=message).match_rules == message  # type: ignore[union-attr]
    rules = MatchRules(fields=["query"], body="ignore", url_rewrites=[("x", "y")])
    assert MatchRules.from_proto(rules.to_proto()) == rules
    redact = RedactRules(query_params=["token"])
    assert RedactRules.from_proto(redact.to_proto()) == redact
    assert cassette_options(redact={"query_params": ["token"]}).redact == redact.to_proto()  # type: ignore[union-attr]


def test_proto_options_is_the_base_the_keywords_apply_on_top() -> None:
    base = cassette_pb2.CassetteOptions(on_miss=cassette_pb2.MISS_RECORD, repeat=cassette_pb2.REUSE)
    options = cassette_options(proto_options=base, repeat="sequential")
    assert options is not None
    assert options.on_miss == cassette_pb2.MISS_RECORD and options.repeat == cassette_pb2.SEQUENTIAL
    assert base.repeat == cassette_pb2.REUSE, "the caller's message is not modified"
    assert cassette_options(proto_options=cassette_pb2.CassetteOptions()) == cassette_pb2.CassetteOptions()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"on_miss": "sometimes"}, ValueError),
        ({"repeat": True}, ValueError),
        ({"ws_speed": 0}, ValueError),
        ({"ws_speed": float("nan")}, ValueError),
        ({"stream_speed": -1}, ValueError),
        ({"stream_timing": "slow"}, ValueError),
        ({"match": MatchRules}, TypeError),
        ({"match": {"bogus": 1}}, TypeError),
        ({"redact": "token"}, TypeError),
        ({"proto_options": {"on_miss": 3}}, TypeError),
    ],
)
def test_bad_options_are_refused_before_any_call(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        cassette_options(**kwargs)


def test_bad_rule_values_are_refused() -> None:
    with pytest.raises(ValueError, match="body match"):
        MatchRules(body="yaml")
    with pytest.raises(ValueError, match="match field"):
        MatchRules(fields=["cookie"])
    with pytest.raises(TypeError):
        MatchRules(url_rewrites=[("only-a-pattern",)])
    with pytest.raises(TypeError):
        RedactRules(headers=[1])


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
    assert name == "dir/sub_dir/._/t_[_],hb50ce5ab", "changed names get a hash suffix"
    assert ALLOWED_NAME_RE.fullmatch(name) and ".." not in name and not name.startswith("/")


def test_cassette_names_follow_node_ids() -> None:
    def item(nodeid: str) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, path=Path("/x") / nodeid.split("::")[0])

    assert cassette_name_for(item("tests/test_api.py::test_get")) == "tests/test_api/test_get"
    assert cassette_name_for(item("test_api.py::TestUsers::test_get")) == "test_api/TestUsers/test_get"
    assert cassette_name_for(item("test_api.py::test_get[a b/c-1]")) == "test_api/test_get[a_b_c-1],hc67619e5"


@pytest.mark.parametrize(
    "nodeid, expected",
    [
        ("a/test_x.py::t", "a/test_x/t"),
        ("b/test_x.py::t", "b/test_x/t"),
        ("test_x.py::t", "test_x/t"),
        ("a/b/test_deep.py::TestK::test_m", "a/b/test_deep/TestK/test_m"),
        # a parameter id may hold "::", "/", "..", spaces and non-ASCII
        ("a/test_x.py::t[x::y/z]", "a/test_x/t[x__y_z],h3f59c73f"),
        ("a/test_x.py::TestK::t[1..2 é]", "a/test_x/TestK/t[1._2__],he3fe50a1"),
        ("../outside/test_o.py::t", "._/outside/test_o/t,hbf7867cb"),
        ("dir with space/test_s.py::t[]", "dir_with_space/test_s/t[]"),
        ("test_doc.txt::test_doc.txt", "test_doc.txt/test_doc.txt"),
    ],
)
def test_default_cassette_names_are_module_path_and_test_name(nodeid: str, expected: str) -> None:
    name = cassette_name_for_nodeid(nodeid)
    assert name == expected
    assert ALLOWED_NAME_RE.fullmatch(name) and ".." not in name.split("/") and not name.startswith("/")


def test_same_basename_in_two_directories_gives_two_names() -> None:
    names = {cassette_name_for_nodeid(f"{d}/test_x.py::test_same[p1]") for d in ("a", "b", "a/b")}
    assert names == {"a/test_x/test_same[p1]", "b/test_x/test_same[p1]", "a/b/test_x/test_same[p1]"}


def test_owner_names_worker_pid_and_test() -> None:
    assert owner_for("a/test_x.py::t", worker="gw3", pid=4242) == "pytest gw3 pid 4242 a/test_x.py::t"
    assert owner_for("a/test_x.py::t", worker="", pid=7) == "pytest pid 7 a/test_x.py::t"
    long = owner_for("t[" + "é" * 300 + "]", worker="gw0", pid=1)
    assert len(long.encode()) <= 256 and long.startswith("pytest gw0 pid 1 t[é")
    assert truncate_utf8("aé", 2) == "a", "never half a character"


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


# -- cassette uploads ----------------------------------------------------------------

class RecordingStub:
    """Stands in for the gRPC stub: keeps the chunks PutCassette would send."""

    def __init__(self) -> None:
        self.chunks: list = []

    def PutCassette(self, chunks, timeout=None):  # noqa: N802 - gRPC method name
        self.chunks = list(chunks)
        return control_pb2.PutCassetteResponse(cassette=control_pb2.CassetteInfo(name=self.chunks[0].name))


def test_put_cassette_uploads_1_mib_chunks_named_by_the_first() -> None:
    cassette = cassette_pb2.Cassette(schema_version=1, name="own/name", complete=True)
    cassette.interactions.add().http.response.body = b"z" * (2 * matgto.CHUNK_BYTES + 10)
    with matgto.Client("127.0.0.1:1", check_version=False) as client:
        stub = RecordingStub()
        client._stub = stub
        assert client.put_cassette(cassette).name == "own/name"
        data = cassette.SerializeToString()
        assert [len(c.data) for c in stub.chunks] == [matgto.CHUNK_BYTES, matgto.CHUNK_BYTES, len(data) - 2 * matgto.CHUNK_BYTES]
        assert [c.name for c in stub.chunks] == ["own/name", "", ""]
        assert b"".join(c.data for c in stub.chunks) == data

        client.put_cassette(data, name="other")
        assert [c.name for c in stub.chunks] == ["other", "", ""]
        client.put_cassette(data)  # the name is read from the bytes
        assert stub.chunks[0].name == "own/name"
        client.put_cassette(cassette_pb2.Cassette(name="empty"))
        assert [(c.name, c.data) for c in stub.chunks] == [("empty", b"\x12\x05empty")]
        with pytest.raises(TypeError):
            client.put_cassette("not bytes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not a matgto.v1.Cassette"):
            client.put_cassette(b"\xff\xff")
