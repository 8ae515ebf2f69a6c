"""The shared conformance suite (clients/conformance/*.json), run without a server.

Each neutral case becomes the idiomatic Python call; the request message the
client would send is compared with the case's proto JSON. A case that lists
"python" under ``skip`` is reported as skipped with its reason. See
clients/conformance/README.md.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Set

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from matgto import errors
from matgto.client import Client
from matgto.client import usable_proxy_address
from matgto.faults import Fault, fault_proto
from matgto.misses import failing_misses
from matgto.modes import parse_mode
from matgto.naming import sanitize_cassette_name
from matgto.options import Latency, MatchRules, RedactRules, cassette_options
from matgto.v1 import cassette_pb2, control_pb2

LANG = "python"
SUITE = Path(__file__).resolve().parents[2] / "conformance"


def _load(name: str) -> Dict[str, Any]:
    return json.loads((SUITE / name).read_text(encoding="utf-8"))


OPTIONS = _load("options.json")
ERRORS = _load("errors.json")
NAMES = _load("names.json")
ADDRESSES = _load("proxy_addresses.json")
STATUS = _load("status.json")
FAULTS = _load("faults.json")
SESSIONS = _load("sessions.json")
UNMAPPED = _load("unmapped.json")


def _skip_for_lang(case: Dict[str, Any]) -> None:
    reason = (case.get("skip") or {}).get(LANG)
    if reason:
        pytest.skip(f"conformance: {case.get('name', case)}: {reason}")


# --- options -----------------------------------------------------------------


def _latency(neutral: Dict[str, Any]) -> Latency:
    ((kind, args),) = neutral.items()
    if kind == "fast":
        return Latency.fast()
    if kind == "as_recorded":
        return Latency.as_recorded(args.get("scale"))
    if kind == "fixed":
        jitter = args.get("jitter_ms")
        return Latency.fixed(
            datetime.timedelta(milliseconds=args["delay_ms"]),
            None if jitter is None else datetime.timedelta(milliseconds=jitter),
        )
    raise AssertionError(f"conformance: unknown latency form {kind!r}: map it in {__file__}")


def _kwargs(neutral: Dict[str, Any]) -> Dict[str, Any]:
    """The neutral option set as the keyword arguments of start_recording/replay/use_cassette."""
    out: Dict[str, Any] = {}
    for key, value in neutral.items():
        if key in ("on_exhausted", "repeat", "on_miss", "store_decoded", "ws_speed", "stream_speed"):
            out[key] = value
        elif key in ("ws_timing", "stream_timing"):
            out[key] = value.replace("_", "-")
        elif key == "match":
            rules = dict(value)
            if "url_rewrites" in rules:
                rules["url_rewrites"] = [(r["pattern"], r["replacement"]) for r in rules["url_rewrites"]]
            out["match"] = MatchRules(**rules)
        elif key == "redact":
            out["redact"] = RedactRules(**value)
        elif key == "latency":
            out["latency"] = _latency(value)
        else:
            raise AssertionError(f"conformance: option {key!r} is not mapped to a Python keyword argument")
    return out


@pytest.mark.parametrize("case", OPTIONS["cases"], ids=[c["name"] for c in OPTIONS["cases"]])
def test_options(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    sent = cassette_options(**_kwargs(case["options"])) or cassette_pb2.CassetteOptions()
    want = json_format.ParseDict(case["expect"], cassette_pb2.CassetteOptions())
    assert sent == want, (
        f"sent {json_format.MessageToDict(sent)} want {case['expect']}"
    )


@pytest.mark.parametrize("case", OPTIONS["modes"], ids=[c["mode"] for c in OPTIONS["modes"]])
def test_modes(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    assert int(parse_mode(case["mode"])) == control_pb2.Mode.Value(case["expect"])


def _covered(message: Any, descriptor: Descriptor, fields: Set[str], values: Set[str]) -> None:
    for fd, value in message.ListFields():
        fields.add(fd.full_name)
        repeated = getattr(fd, "is_repeated", None)
        if repeated is None:  # protobuf < 5.28
            repeated = fd.label == FieldDescriptor.LABEL_REPEATED
        items = value if repeated else [value]
        for item in items:
            if fd.type == FieldDescriptor.TYPE_ENUM:
                values.add(f"{fd.enum_type.full_name}.{fd.enum_type.values_by_number[item].name}")
            elif fd.type == FieldDescriptor.TYPE_MESSAGE:
                _covered(item, fd.message_type, fields, values)


def _walk(descriptor: Descriptor, fields: List[str], enums: Set[Any], seen: Set[str]) -> None:
    if descriptor.full_name in seen or descriptor.full_name.startswith("google.protobuf."):
        return
    seen.add(descriptor.full_name)
    for fd in descriptor.fields:
        fields.append(fd.full_name)
        if fd.type == FieldDescriptor.TYPE_ENUM:
            enums.add(fd.enum_type)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            _walk(fd.message_type, fields, enums, seen)


def test_every_proto_field_and_enum_value_has_a_case() -> None:
    """A field or enum value added to the protos fails here until a case (or unmapped.json) covers it."""
    pool = cassette_pb2.DESCRIPTOR.pool
    fields: List[str] = []
    enums: Set[Any] = set()
    seen: Set[str] = set()  # shared: a message reachable from two roots is listed once
    for name in UNMAPPED["roots"]["messages"]:
        _walk(pool.FindMessageTypeByName(name), fields, enums, seen)
    for name in UNMAPPED["roots"]["enums"]:
        enums.add(pool.FindEnumTypeByName(name))
    covered_fields: Set[str] = set()
    covered_values: Set[str] = set()
    for cases, key, message_type in (
        (OPTIONS["cases"], "expect", cassette_pb2.CassetteOptions),
        (STATUS["status"], "response", control_pb2.GetStatusResponse),
        (STATUS["summary"], "response", control_pb2.SessionSummary),
        (FAULTS["cases"], "expect", control_pb2.Fault),
    ):
        for case in cases:
            _covered(json_format.ParseDict(case[key], message_type()),
                     message_type.DESCRIPTOR, covered_fields, covered_values)
    for case in SESSIONS["cases"]:
        message_type = _SESSION_RPCS[case["rpc"]][1]
        _covered(json_format.ParseDict(case["expect"], message_type()),
                 message_type.DESCRIPTOR, covered_fields, covered_values)
    covered_values.update(f"matgto.v1.Mode.{c['expect']}" for c in OPTIONS["modes"])
    missing = [f for f in fields if f not in covered_fields and f not in UNMAPPED["fields"]]
    missing += [
        f"{e.full_name}.{v.name}"
        for e in sorted(enums, key=lambda e: e.full_name)
        for v in e.values
        if v.number != 0
        and f"{e.full_name}.{v.name}" not in covered_values
        and f"{e.full_name}.{v.name}" not in UNMAPPED["enum_values"]
    ]
    assert not missing, (
        "no conformance case in clients/conformance/ (options, sessions, status, faults) covers "
        + ", ".join(missing)
        + " (add a case, map it in every client, or list it in unmapped.json with a reason)"
    )


# --- sessions ------------------------------------------------------------------

#: rpc -> (Client method, request message)
_SESSION_RPCS = {
    "StartRecording": ("start_recording", control_pb2.StartRecordingRequest),
    "Replay": ("replay", control_pb2.ReplayRequest),
    "UseCassette": ("use_cassette", control_pb2.UseCassetteRequest),
}


class _CapturingStub:
    """Stands in for the generated stub: keeps the request, answers an empty response."""

    def __init__(self) -> None:
        self.sent: List[Any] = []

    def __getattr__(self, method: str) -> Any:
        def call(request: Any, timeout: Any = None) -> Any:
            self.sent.append(request)
            return getattr(control_pb2, method + "Response")()

        return call


def _session_kwargs(neutral: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in neutral.items():
        if key == "new_session":
            out["new_session"] = value
        elif key == "lease_ms":
            out["lease"] = datetime.timedelta(milliseconds=value)
        elif key == "owner":
            out["owner"] = value
        elif key == "id":
            out["session"] = value
        else:
            raise AssertionError(f"conformance: session key {key!r} is not mapped to a Python keyword argument")
    return out


@pytest.mark.parametrize("case", SESSIONS["cases"], ids=[c["name"] for c in SESSIONS["cases"]])
def test_sessions(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    method, message_type = _SESSION_RPCS[case["rpc"]]
    client = Client("127.0.0.1:1", check_version=False)  # nothing is dialled: the stub is replaced
    stub = client._stub = _CapturingStub()
    args = [case["cassette"]] + ([case["mode"]] if "mode" in case else [])
    getattr(client, method)(*args, **_kwargs(case.get("options", {})), **_session_kwargs(case["session"]))
    client.close()
    want = json_format.ParseDict(case["expect"], message_type())
    assert stub.sent == [want], f"sent {[json_format.MessageToDict(m) for m in stub.sent]} want {case['expect']}"


# --- errors ------------------------------------------------------------------


class _RpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed call as grpcio raises it (code and details only)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_errors_cover_every_grpc_code() -> None:
    codes = {c["code"] for c in ERRORS["cases"]}
    missing = sorted(c.name for c in grpc.StatusCode if c is not grpc.StatusCode.OK and c.name not in codes)
    assert not missing, f"errors.json has no case for {missing}"


@pytest.mark.parametrize("case", ERRORS["cases"], ids=[f"{c['code']}-{c.get('about', '')}" for c in ERRORS["cases"]])
def test_errors(case: Dict[str, Any]) -> None:
    kind = ERRORS["kinds"][LANG].get(case["kind"])
    assert kind is not None, f"errors.json kinds.{LANG} does not name the type of kind {case['kind']}"
    if isinstance(kind, dict):
        pytest.skip(f"conformance: {case['kind']}: {kind['skip']}")
    error = errors.error_from_rpc(
        _RpcError(grpc.StatusCode[case["code"]], ERRORS["message"]), method="Replay", about=case.get("about")
    )
    assert type(error).__name__ == kind
    assert isinstance(error, errors.MatgtoError)
    assert ERRORS["message"] in str(error)


# --- names -------------------------------------------------------------------


def _accepted(name: str) -> bool:
    segment = re.compile(NAMES["segment"])
    return len(name.encode()) <= NAMES["max_bytes"] and all(
        segment.match(s) and s.strip(".") for s in name.split("/")
    )


@pytest.mark.parametrize("name", NAMES["valid"])
def test_valid_names_are_kept(name: str) -> None:
    assert _accepted(name)
    assert sanitize_cassette_name(name) == name


@pytest.mark.parametrize("case", NAMES["invalid"], ids=[c["name"][:40] for c in NAMES["invalid"]])
def test_invalid_names_are_made_valid(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    assert not _accepted(case["name"])
    out = sanitize_cassette_name(case["name"])
    assert _accepted(out), out
    assert out != case["name"]


def test_invalid_names_stay_distinct() -> None:
    reason = NAMES.get("distinct_skip", {}).get(LANG)
    if reason:
        pytest.skip(f"conformance: distinct names: {reason}")
    outs = [sanitize_cassette_name(c["name"]) for c in NAMES["invalid"] if LANG not in (c.get("skip") or {})]
    assert len(set(outs)) == len(outs), outs


# --- proxy addresses ---------------------------------------------------------


@pytest.mark.parametrize("case", ADDRESSES["cases"], ids=[f"{c['proxy']} via {c['control']}" for c in ADDRESSES["cases"]])
def test_proxy_addresses(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    # Session.proxy_url / Client.proxy_url are "http://" + this.
    assert "http://" + usable_proxy_address(case["proxy"], case["control"]) == case["url"]


# --- faults ------------------------------------------------------------------

_RESET = {"before_headers": "before-headers", "after_headers": "after-headers", "mid_body": "mid-body"}


def _fault_kwargs(neutral: Dict[str, Any]) -> Dict[str, Any]:
    """The neutral fault as the keyword arguments of matgto.Fault / Session.add_fault."""
    out: Dict[str, Any] = {}
    for key, value in neutral.items():
        if key in ("status", "body", "hang", "bandwidth", "ws_drop_after", "method", "url",
                   "probability", "every_nth", "first_n"):
            out[key] = value
        elif key == "headers":
            out["headers"] = [tuple(pair) for pair in value]
        elif key in ("delay_ms", "ws_delay_ms"):
            out[key[: -len("_ms")]] = datetime.timedelta(milliseconds=value)
        elif key == "reset":
            out["reset"] = _RESET[value]
        elif key in ("id", "applied"):
            pass  # assigned by the server
        else:
            raise AssertionError(f"conformance: fault key {key!r} is not mapped to a matgto.Fault argument")
    return out


def _ms(value: datetime.timedelta) -> int:
    return round(value / datetime.timedelta(milliseconds=1))


def _fault_neutral(rule: Fault) -> Dict[str, Any]:
    """What the client exposes about a decoded rule, in the neutral form (defaults left out)."""
    out: Dict[str, Any] = {}
    for key in ("id", "method", "url", "probability", "every_nth", "first_n", "status", "bandwidth", "ws_drop_after"):
        value = getattr(rule, key)
        if value not in (None, "", 0):
            out[key] = value
    if rule.headers:
        out["headers"] = [list(pair) for pair in rule.headers]
    if rule.body:
        out["body"] = rule.body.decode("utf-8")
    if rule.delay is not None:
        out["delay_ms"] = _ms(rule.delay)
    if rule.hang:
        out["hang"] = True
    if rule.reset is not None:
        out["reset"] = rule.reset.label.replace("-", "_")
    if rule.ws_delay is not None:
        out["ws_delay_ms"] = _ms(rule.ws_delay)
    if rule.applied:
        out["applied"] = rule.applied
    return out


@pytest.mark.parametrize("case", FAULTS["cases"], ids=[c["name"] for c in FAULTS["cases"]])
def test_fault_sent(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    sent = fault_proto(Fault(**_fault_kwargs(case["fault"])))
    want = json_format.ParseDict(case["expect"], control_pb2.Fault())
    want.id, want.applied = "", 0
    assert sent == want, f"sent {json_format.MessageToDict(sent)} want {json_format.MessageToDict(want)}"


@pytest.mark.parametrize("case", FAULTS["cases"], ids=[c["name"] for c in FAULTS["cases"]])
def test_fault_decoded(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    rule = Fault.from_proto(json_format.ParseDict(case["expect"], control_pb2.Fault()))
    assert _fault_neutral(rule) == case["fault"]


# --- status and summary ------------------------------------------------------
# status() and stop() return the generated messages; the session helpers
# decode misses (failing_misses) and faults (Fault.from_proto).


def _mode(value: int) -> str:
    return control_pb2.Mode.Name(value)


def _millis(message: Any) -> int:
    return message.seconds * 1000 + message.nanos // 1_000_000


def _session(s: control_pb2.SessionInfo) -> Dict[str, Any]:
    return {
        "cassette": s.cassette, "mode": _mode(s.mode), "requested_mode": _mode(s.requested_mode),
        "recorded": s.recorded, "replayed": s.replayed, "missed": s.missed, "passed_through": s.passed_through,
        "interactions": s.interactions, "options": json_format.MessageToDict(s.options),
        "misses": [
            {"method": m.method, "url": m.url, "reason": m.reason,
             "closest": [
                 {"interaction_index": c.interaction_index, "method": c.method, "url": c.url,
                  "differences": [{"field": d.field, "recorded": d.recorded, "live": d.live} for d in c.differences]}
                 for c in m.closest]}
            for m in s.misses],
        "id": s.id, "proxy_address": s.proxy_address, "proxy_url": s.proxy_url, "owner": s.owner,
        "opened_at": _millis(s.opened_at), "age": _millis(s.age), "lease": _millis(s.lease),
        "lease_expires_at": _millis(s.lease_expires_at),
        "faults": [_fault_neutral(Fault.from_proto(f)) for f in s.faults], "fault_seed": s.fault_seed,
    }


def _summary(s: control_pb2.SessionSummary) -> Dict[str, Any]:
    return {
        "session": _session(s.session), "saved_path": s.saved_path, "unused_interactions": list(s.unused_interactions),
        "end_reason": s.end_reason, "ended_at": _millis(s.ended_at), "save_error": s.save_error,
        "warnings": list(s.warnings), "failing_misses": len(failing_misses(s.session.misses)),
    }


def _status(st: control_pb2.GetStatusResponse) -> Dict[str, Any]:
    return {
        "version": st.version, "proxy_address": st.proxy_address, "control_address": st.control_address,
        "cassette_dir": st.cassette_dir, "default_mode": _mode(st.default_mode), "session": _session(st.session),
        "uptime": _millis(st.uptime), "api_version": st.api_version,
        "tls": {"ca_certificate_path": st.tls.ca_certificate_path, "no_intercept": list(st.tls.no_intercept),
                "insecure_upstream": st.tls.insecure_upstream, "upstream_ca_file": st.tls.upstream_ca_file},
        "reverse_upstream": st.reverse_upstream, "sessions": [_session(s) for s in st.sessions],
        "ended_sessions": [_summary(s) for s in st.ended_sessions], "max_sessions": st.max_sessions,
    }


def _expect_subset(want: Any, got: Any, path: str) -> None:
    """Every value `want` names equals the client's (objects: the keys named; lists: every item)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: the client exposes {got!r}, want an object"
        for key, value in want.items():
            assert key in got, f"conformance: {path}.{key} is not mapped (the client exposes no such value)"
            _expect_subset(value, got[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: got {got!r} want {want!r}"
        for i, (w, g) in enumerate(zip(want, got)):
            _expect_subset(w, g, f"{path}[{i}]")
    else:
        assert got == want, f"{path}: got {got!r} want {want!r}"


@pytest.mark.parametrize("case", STATUS["status"], ids=[c["name"] for c in STATUS["status"]])
def test_status(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    _expect_subset(case["expect"], _status(json_format.ParseDict(case["response"], control_pb2.GetStatusResponse())), "status")


@pytest.mark.parametrize("case", STATUS["summary"], ids=[c["name"] for c in STATUS["summary"]])
def test_summary(case: Dict[str, Any]) -> None:
    _skip_for_lang(case)
    _expect_subset(case["expect"], _summary(json_format.ParseDict(case["response"], control_pb2.SessionSummary())), "summary")
