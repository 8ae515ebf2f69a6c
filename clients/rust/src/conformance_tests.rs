//! The shared conformance suite (`clients/conformance/*.json`), run without a
//! server: each neutral case becomes the idiomatic Rust call and the message
//! the client would send is compared with the case's proto JSON (read with
//! prost-reflect against the crate's own descriptor set). A case that lists
//! "rust" under `skip` is skipped, and says why on stderr. See
//! clients/conformance/README.md.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value as PValue};
use serde_json::Value;
use tonic::Code;

use crate::error::NotFound;
use crate::faults::{FaultAction, ResetPoint, Selector};
use crate::options::{CassetteOptions, Latency, SessionOptions};
use crate::{pb, Error, Fault};

const LANG: &str = "rust";

fn suite(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("conformance suite {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("conformance suite {file}: {e}"))
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect("the crate's descriptor set")
}

/// A message of type `name` from its proto JSON.
fn from_json<M: Message + Default>(name: &str, json: &Value) -> M {
    let desc = pool().get_message_by_name(name).unwrap_or_else(|| panic!("{name} in the descriptors"));
    let dynamic = DynamicMessage::deserialize(desc, json).unwrap_or_else(|e| panic!("{name} from {json}: {e}"));
    M::decode(dynamic.encode_to_vec().as_slice()).unwrap()
}

/// The skip reason for this client, printed (cargo shows stderr of failing
/// tests only; run-tests.sh greps `--nocapture` output for these lines).
fn skipped(case: &Value, what: &str) -> bool {
    match case["skip"][LANG].as_str() {
        Some(reason) => {
            eprintln!("conformance: SKIP {what}: {reason}");
            true
        }
        None => false,
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn ms(v: &Value) -> Duration {
    Duration::from_micros((v.as_f64().unwrap() * 1000.0).round() as u64)
}

fn pick<T: Copy>(table: &[(&str, T)], key: &Value, what: &str) -> T {
    let k = key.as_str().unwrap();
    table.iter().find(|(n, _)| *n == k).unwrap_or_else(|| panic!("conformance: {what} {k:?} is not mapped")).1
}

/// The neutral option set as the CassetteOptions builder.
fn builder(options: &Value) -> CassetteOptions {
    let mut b = CassetteOptions::new();
    for (key, v) in options.as_object().unwrap() {
        b = match key.as_str() {
            "on_exhausted" => b.on_exhausted(pick(
                &[("error", pb::ExhaustedPolicy::ExhaustedError), ("repeat_last", pb::ExhaustedPolicy::RepeatLast)],
                v,
                key,
            )),
            "repeat" => b.repeat(pick(
                &[("sequential", pb::RepeatPolicy::Sequential), ("reuse", pb::RepeatPolicy::Reuse)],
                v,
                key,
            )),
            "on_miss" => b.on_miss(pick(
                &[
                    ("error", pb::MissPolicy::MissError),
                    ("passthrough", pb::MissPolicy::MissPassthrough),
                    ("record", pb::MissPolicy::MissRecord),
                ],
                v,
                key,
            )),
            "store_decoded" if v.as_bool() == Some(true) => b.store_decoded(),
            "store_decoded" if v.as_bool() == Some(false) => b.store_as_sent(),
            "ws_timing" => b.ws_timing(pick(
                &[("fast", pb::WsTiming::AsFastAsPossible), ("as_recorded", pb::WsTiming::AsRecorded)],
                v,
                key,
            )),
            "ws_speed" => b.ws_speed(v.as_f64().unwrap()),
            "stream_timing" => b.stream_timing(pick(
                &[("fast", pb::WsTiming::AsFastAsPossible), ("as_recorded", pb::WsTiming::AsRecorded)],
                v,
                key,
            )),
            "stream_speed" => b.stream_speed(v.as_f64().unwrap()),
            "match" => b.match_rules(match_rules(v)),
            "redact" => b.redact(redact_rules(v)),
            "latency" => b.latency(latency(v)),
            _ => panic!("conformance: option {key} = {v} is not mapped to the Rust CassetteOptions builder"),
        };
    }
    b
}

fn match_rules(v: &Value) -> pb::MatchRules {
    let mut r = pb::MatchRules::default();
    for (k, v) in v.as_object().unwrap() {
        match k.as_str() {
            "fields" => {
                let table = [
                    ("method", pb::MatchField::Method),
                    ("scheme", pb::MatchField::Scheme),
                    ("host", pb::MatchField::Host),
                    ("port", pb::MatchField::Port),
                    ("path", pb::MatchField::Path),
                    ("query", pb::MatchField::Query),
                    ("headers", pb::MatchField::Headers),
                    ("body", pb::MatchField::Body),
                ];
                for f in v.as_array().unwrap() {
                    r.push_fields(pick(&table, f, "match field"));
                }
            }
            "headers" => r.headers = strs(v),
            "ignore_query_params" => r.ignore_query_params = strs(v),
            "query_order_insensitive" => r.query_order_insensitive = v.as_bool().unwrap(),
            "body" => r.set_body(pick(
                &[
                    ("exact", pb::BodyMatch::BodyExact),
                    ("json", pb::BodyMatch::BodyJson),
                    ("form", pb::BodyMatch::BodyForm),
                    ("ignore", pb::BodyMatch::BodyIgnore),
                ],
                v,
                "body match",
            )),
            "ignore_json_pointers" => r.ignore_json_pointers = strs(v),
            "ignore_form_fields" => r.ignore_form_fields = strs(v),
            "url_rewrites" => {
                for rw in v.as_array().unwrap() {
                    r.url_rewrites.push(pb::UrlRewrite {
                        pattern: rw["pattern"].as_str().unwrap().into(),
                        replacement: rw["replacement"].as_str().unwrap().into(),
                    });
                }
            }
            _ => panic!("conformance: match.{k} is not mapped to pb::MatchRules"),
        }
    }
    r
}

fn redact_rules(v: &Value) -> pb::RedactRules {
    let mut r = pb::RedactRules::default();
    for (k, v) in v.as_object().unwrap() {
        match k.as_str() {
            "headers" => r.headers = strs(v),
            "query_params" => r.query_params = strs(v),
            "json_pointers" => r.json_pointers = strs(v),
            "form_fields" => r.form_fields = strs(v),
            "body_patterns" => r.body_patterns = strs(v),
            "disable_defaults" => r.disable_defaults = v.as_bool().unwrap(),
            "json_keys" => r.json_keys = strs(v),
            "on_unredactable" => r.set_on_unredactable(pick(
                &[
                    ("warn", pb::UnredactablePolicy::UnredactableWarn),
                    ("refuse", pb::UnredactablePolicy::UnredactableRefuse),
                ],
                v,
                "on_unredactable",
            )),
            _ => panic!("conformance: redact.{k} is not mapped to pb::RedactRules"),
        }
    }
    r
}

fn latency(v: &Value) -> Latency {
    let (kind, args) = v.as_object().unwrap().iter().next().unwrap();
    match kind.as_str() {
        "fast" => Latency::Fast,
        "as_recorded" => Latency::AsRecorded { scale: args["scale"].as_f64().unwrap_or(0.0) },
        "fixed" => Latency::Fixed {
            delay: ms(&args["delay_ms"]),
            jitter: if args["jitter_ms"].is_null() { Duration::ZERO } else { ms(&args["jitter_ms"]) },
        },
        _ => panic!("conformance: latency form {kind} is not mapped"),
    }
}

#[test]
fn conformance_options() {
    let s = suite("options.json");
    let mut failures = vec![];
    for case in s["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if skipped(case, name) {
            continue;
        }
        // What start_recording / replay / use_cassette put in the request.
        let sent = builder(&case["options"]).to_proto();
        let want: pb::CassetteOptions = from_json("matgto.v1.CassetteOptions", &case["expect"]);
        if sent != want {
            failures.push(format!("{name}: sent {sent:?}\n  want {want:?}"));
        }
    }
    for case in s["modes"].as_array().unwrap() {
        let mode = case["mode"].as_str().unwrap();
        let table = [
            ("auto", pb::Mode::Auto),
            ("record", pb::Mode::Record),
            ("replay", pb::Mode::Replay),
            ("passthrough", pb::Mode::Passthrough),
        ];
        let got = pick(&table, &case["mode"], "mode");
        if got.as_str_name() != case["expect"].as_str().unwrap() {
            failures.push(format!("mode {mode}: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn covered(m: &DynamicMessage, fields: &mut BTreeSet<String>, values: &mut BTreeSet<String>) {
    for (fd, v) in m.fields() {
        fields.insert(fd.full_name().to_string());
        let items: Vec<&PValue> = match v {
            PValue::List(l) => l.iter().collect(),
            v => vec![v],
        };
        for item in items {
            match (fd.kind(), item) {
                (Kind::Enum(e), PValue::EnumNumber(n)) => {
                    if let Some(ev) = e.get_value(*n) {
                        values.insert(format!("{}.{}", e.full_name(), ev.name()));
                    }
                }
                (Kind::Message(_), PValue::Message(sub)) => covered(sub, fields, values),
                _ => {}
            }
        }
    }
}

fn walk(md: &MessageDescriptor, fields: &mut Vec<String>, enums: &mut BTreeMap<String, prost_reflect::EnumDescriptor>) {
    if md.full_name().starts_with("google.protobuf.") {
        return;
    }
    for fd in md.fields() {
        if fields.contains(&fd.full_name().to_string()) {
            continue;
        }
        fields.push(fd.full_name().to_string());
        match fd.kind() {
            Kind::Enum(e) => {
                enums.insert(e.full_name().to_string(), e);
            }
            Kind::Message(m) => walk(&m, fields, enums),
            _ => {}
        }
    }
}

/// A field or enum value added to the protos fails here until a case (or
/// unmapped.json) covers it.
#[test]
fn conformance_every_proto_field_and_enum_value_has_a_case() {
    let s = suite("options.json");
    let unmapped = suite("unmapped.json");
    let pool = pool();
    let (mut fields, mut enums) = (vec![], BTreeMap::new());
    for name in unmapped["roots"]["messages"].as_array().unwrap() {
        walk(&pool.get_message_by_name(name.as_str().unwrap()).unwrap(), &mut fields, &mut enums);
    }
    for name in unmapped["roots"]["enums"].as_array().unwrap() {
        let e = pool.get_enum_by_name(name.as_str().unwrap()).unwrap();
        enums.insert(e.full_name().to_string(), e);
    }
    let (mut got_fields, mut got_values) = (BTreeSet::new(), BTreeSet::new());
    let (status, faults, sessions) = (suite("status.json"), suite("faults.json"), suite("sessions.json"));
    for (cases, key, name) in [
        (&s["cases"], "expect", "matgto.v1.CassetteOptions"),
        (&status["status"], "response", "matgto.v1.GetStatusResponse"),
        (&status["summary"], "response", "matgto.v1.SessionSummary"),
        (&faults["cases"], "expect", "matgto.v1.Fault"),
    ] {
        let desc = pool.get_message_by_name(name).unwrap();
        for case in cases.as_array().unwrap() {
            let m = DynamicMessage::deserialize(desc.clone(), &case[key]).unwrap();
            covered(&m, &mut got_fields, &mut got_values);
        }
    }
    for case in sessions["cases"].as_array().unwrap() {
        let name = format!("matgto.v1.{}Request", case["rpc"].as_str().unwrap());
        let desc = pool.get_message_by_name(&name).unwrap();
        let m = DynamicMessage::deserialize(desc, &case["expect"]).unwrap();
        covered(&m, &mut got_fields, &mut got_values);
    }
    for case in s["modes"].as_array().unwrap() {
        got_values.insert(format!("matgto.v1.Mode.{}", case["expect"].as_str().unwrap()));
    }
    let mut missing: Vec<String> =
        fields.into_iter().filter(|f| !got_fields.contains(f) && unmapped["fields"].get(f).is_none()).collect();
    for (name, e) in enums {
        for v in e.values() {
            let full = format!("{name}.{}", v.name());
            if v.number() != 0 && !got_values.contains(&full) && unmapped["enum_values"].get(&full).is_none() {
                missing.push(full);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no conformance case in clients/conformance/ (options, sessions, status, faults) covers {} (add a case, map it in every client, or list it in unmapped.json with a reason)",
        missing.join(", ")
    );
}

#[test]
fn conformance_errors() {
    let s = suite("errors.json");
    let message = s["message"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    let mut failures = vec![];
    for case in s["cases"].as_array().unwrap() {
        let code_name = case["code"].as_str().unwrap();
        let code = (1..=16)
            .map(Code::from_i32)
            .find(|c| format!("{c:?}").to_uppercase() == code_name.replace('_', ""))
            .unwrap_or_else(|| panic!("unknown gRPC code {code_name}"));
        seen.insert(code as i32);
        let kind = case["kind"].as_str().unwrap();
        let want = &s["kinds"][LANG][kind];
        if let Some(reason) = want["skip"].as_str() {
            eprintln!("conformance: SKIP error {code_name}: {reason}");
            continue;
        }
        let want = want.as_str().unwrap_or_else(|| panic!("errors.json kinds.rust does not name kind {kind}"));
        let nf = match case["about"].as_str() {
            Some("session") => NotFound::Session,
            Some("fault") => NotFound::Fault,
            _ => NotFound::Cassette,
        };
        let e = Error::from_status("Replay", tonic::Status::new(code, message), nf);
        let got = format!("Error::{}", format!("{e:?}").split([' ', '{', '(']).next().unwrap());
        if got != want || e.code() != Some(code) || !e.to_string().contains(message) {
            failures.push(format!("{code_name} ({kind}): got {got} {e}, want {want}"));
        }
    }
    let missing: Vec<_> = (1..=16).filter(|c| !seen.contains(c)).map(Code::from_i32).collect();
    assert!(missing.is_empty(), "errors.json has no case for {missing:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn conformance_names() {
    let s = suite("names.json");
    let max = s["max_bytes"].as_u64().unwrap() as usize;
    // The segment grammar of names.json, as a character test (no regex crate).
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-+=@,[]".contains(c);
    assert_eq!(s["segment"], "^[A-Za-z0-9._\\-+=@,\\[\\]]+$", "names.json changed its grammar: update this loader");
    let accepted = |n: &str| {
        n.len() <= max && n.split('/').all(|seg| !seg.trim_matches('.').is_empty() && seg.chars().all(allowed))
    };
    for v in s["valid"].as_array().unwrap() {
        let n = v.as_str().unwrap();
        assert!(accepted(n), "names.json lists {n:?} as valid");
        assert_eq!(crate::cassette_name(n), n);
    }
    let mut outs = BTreeMap::new();
    for case in s["invalid"].as_array().unwrap() {
        let n = case["name"].as_str().unwrap();
        if skipped(case, n) {
            continue;
        }
        assert!(!accepted(n), "names.json lists {n:?} as invalid");
        let got = crate::cassette_name(n);
        assert!(accepted(&got) && got != n, "cassette_name({n:?}) = {got:?}");
        if let Some(other) = outs.insert(got.clone(), n) {
            assert!(s["distinct_skip"][LANG].is_string(), "{n:?} and {other:?} both give {got:?}");
        }
    }
}

#[test]
fn conformance_proxy_addresses() {
    let s = suite("proxy_addresses.json");
    let mut failures = vec![];
    for case in s["cases"].as_array().unwrap() {
        let (proxy, control) = (case["proxy"].as_str().unwrap(), case["control"].as_str().unwrap());
        if skipped(case, &format!("{proxy} via {control}")) {
            continue;
        }
        // What Client::proxy_url_for (and so Session::proxy_url) hands to HTTP clients.
        let got = crate::proxy_url(&crate::connect::host_of(control), proxy).unwrap();
        if got != case["url"].as_str().unwrap() {
            failures.push(format!("{proxy} via {control}: got {got}, want {}", case["url"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The sessions cases: what `Client::open_session` sends (it opens and names
/// sessions with UseCassette only; the other calls are skipped with why).
#[test]
fn conformance_sessions() {
    let s = suite("sessions.json");
    let mut failures = vec![];
    for case in s["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if skipped(case, name) {
            continue;
        }
        assert_eq!(case["rpc"], "UseCassette", "{name}: only UseCassette is mapped for Rust");
        let modes = [
            ("auto", pb::Mode::Auto),
            ("record", pb::Mode::Record),
            ("replay", pb::Mode::Replay),
            ("passthrough", pb::Mode::Passthrough),
        ];
        let mut opts = SessionOptions::new().mode(pick(&modes, &case["mode"], "mode"));
        if let Some(o) = case.get("options") {
            opts = opts.options(builder(o));
        }
        for (key, v) in case["session"].as_object().unwrap() {
            opts = match key.as_str() {
                "new_session" => opts, // what open_session does without .session(id)
                "lease_ms" => opts.lease(ms(v)),
                "owner" => opts.owner(v.as_str().unwrap()),
                "id" => opts.session(v.as_str().unwrap()),
                k => panic!("conformance: session key {k:?} is not mapped to SessionOptions"),
            };
        }
        let sent = crate::client::use_cassette_request(case["cassette"].as_str().unwrap(), &opts);
        let want: pb::UseCassetteRequest = from_json("matgto.v1.UseCassetteRequest", &case["expect"]);
        if sent != want {
            failures.push(format!("{name}: sent {sent:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const RESETS: [(&str, ResetPoint); 3] = [
    ("before_headers", ResetPoint::BeforeHeaders),
    ("after_headers", ResetPoint::AfterHeaders),
    ("mid_body", ResetPoint::MidBody),
];

/// The neutral fault as the Rust builder: `Fault::status(503).header(..).first_n(2)`.
fn fault_builder(neutral: &Value) -> Fault {
    let n = neutral.as_object().unwrap();
    let u32_of = |k: &str| n[k].as_u64().unwrap() as u32;
    let mut f = if let Some(code) = n.get("status") {
        Fault::status(code.as_u64().unwrap() as u16)
    } else if let Some(d) = n.get("delay_ms") {
        Fault::delay(ms(d))
    } else if n.contains_key("hang") {
        Fault::hang()
    } else if let Some(w) = n.get("reset") {
        Fault::reset(pick(&RESETS, w, "reset"))
    } else if let Some(b) = n.get("bandwidth") {
        Fault::bandwidth(b.as_u64().unwrap())
    } else if n.contains_key("ws_drop_after") || n.contains_key("ws_delay_ms") {
        let drop = if n.contains_key("ws_drop_after") { u32_of("ws_drop_after") } else { 0 };
        Fault::websocket(drop, n.get("ws_delay_ms").map(ms).unwrap_or_default())
    } else {
        panic!("conformance: no fault action in {neutral}")
    };
    for (key, v) in n {
        f = match key.as_str() {
            "headers" => v.as_array().unwrap().iter().fold(f, |f, pair| {
                let p = strs(pair);
                f.header(p[0].clone(), p[1].clone())
            }),
            "body" => f.body(v.as_str().unwrap()),
            "method" => f.method(v.as_str().unwrap()),
            "url" => f.url(v.as_str().unwrap()),
            "probability" => f.probability(v.as_f64().unwrap()),
            "every_nth" => f.every_nth(u32_of(key)),
            "first_n" => f.first_n(u32_of(key)),
            "status" | "delay_ms" | "hang" | "reset" | "bandwidth" | "ws_drop_after" | "ws_delay_ms" => f,
            "id" | "applied" => f, // assigned by the server
            k => panic!("conformance: fault key {k:?} is not mapped to the Rust Fault builder"),
        };
    }
    f
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// What a decoded Fault exposes, in the neutral form (defaults left out).
fn fault_neutral(f: &Fault) -> Value {
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    if !f.id.is_empty() {
        put("id", f.id.clone().into());
    }
    if !f.method.is_empty() {
        put("method", f.method.clone().into());
    }
    if !f.url_pattern.is_empty() {
        put("url", f.url_pattern.clone().into());
    }
    if f.applied != 0 {
        put("applied", f.applied.into());
    }
    match f.selector {
        Selector::Every => {}
        Selector::Probability(p) => put("probability", p.into()),
        Selector::EveryNth(n) => put("every_nth", n.into()),
        Selector::FirstN(n) => put("first_n", n.into()),
    }
    match &f.action {
        FaultAction::Status { code, headers, body } => {
            put("status", (*code).into());
            if !headers.is_empty() {
                put("headers", headers.iter().map(|(n, v)| serde_json::json!([n, v])).collect());
            }
            if !body.is_empty() {
                put("body", String::from_utf8(body.clone()).unwrap().into());
            }
        }
        FaultAction::Delay(d) => put("delay_ms", millis(*d).into()),
        FaultAction::Hang => put("hang", true.into()),
        FaultAction::Reset(w) => put("reset", RESETS.iter().find(|(_, p)| p == w).unwrap().0.into()),
        FaultAction::Bandwidth(b) => put("bandwidth", (*b).into()),
        FaultAction::WebSocket { drop_after_messages, message_delay } => {
            if *drop_after_messages != 0 {
                put("ws_drop_after", (*drop_after_messages).into());
            }
            if !message_delay.is_zero() {
                put("ws_delay_ms", millis(*message_delay).into());
            }
        }
    }
    Value::Object(out)
}

#[test]
fn conformance_faults() {
    let s = suite("faults.json");
    let mut failures = vec![];
    for case in s["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if skipped(case, name) {
            continue;
        }
        let mut want: pb::Fault = from_json("matgto.v1.Fault", &case["expect"]);
        // Decoded as the server returns it (set_faults, SessionInfo.faults).
        let decoded = Fault::from_proto(&want).map(|f| fault_neutral(&f));
        if decoded.as_ref() != Some(&case["fault"]) {
            failures.push(format!("{name}: decoded {decoded:?}, want {}", case["fault"]));
        }
        // Built and sent (set_faults sends Fault::to_proto).
        want.id.clear();
        want.applied = 0;
        let sent = fault_builder(&case["fault"]).to_proto();
        if sent != want {
            failures.push(format!("{name}: sent {sent:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn mode_name(m: i32) -> &'static str {
    pb::Mode::try_from(m).map(|m| m.as_str_name()).unwrap_or("?")
}

fn ts_ms(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000).unwrap_or(0)
}

fn dur_ms(d: &Option<prost_types::Duration>) -> i64 {
    d.as_ref().map(|d| d.seconds * 1000 + i64::from(d.nanos) / 1_000_000).unwrap_or(0)
}

/// status() / stop_recording() return the generated messages; the session
/// helpers decode faults (Fault::from_proto) and misses (failed_misses).
fn session_neutral(s: &pb::SessionInfo) -> Value {
    let opts = s.options.clone().unwrap_or_default();
    let desc = pool().get_message_by_name("matgto.v1.CassetteOptions").unwrap();
    let options = serde_json::to_value(DynamicMessage::decode(desc, opts.encode_to_vec().as_slice()).unwrap()).unwrap();
    serde_json::json!({
        "cassette": s.cassette, "mode": mode_name(s.mode), "requested_mode": mode_name(s.requested_mode),
        "recorded": s.recorded, "replayed": s.replayed, "missed": s.missed, "passed_through": s.passed_through,
        "interactions": s.interactions, "options": options,
        "misses": s.misses.iter().map(|m| serde_json::json!({
            "method": m.method, "url": m.url, "reason": m.reason,
            "closest": m.closest.iter().map(|c| serde_json::json!({
                "interaction_index": c.interaction_index, "method": c.method, "url": c.url,
                "differences": c.differences.iter().map(|d| serde_json::json!({
                    "field": d.field, "recorded": d.recorded, "live": d.live})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "id": s.id, "proxy_address": s.proxy_address, "proxy_url": s.proxy_url, "owner": s.owner,
        "opened_at": ts_ms(&s.opened_at), "age": dur_ms(&s.age), "lease": dur_ms(&s.lease),
        "lease_expires_at": ts_ms(&s.lease_expires_at),
        "faults": s.faults.iter().filter_map(Fault::from_proto).map(|f| fault_neutral(&f)).collect::<Vec<_>>(),
        "fault_seed": s.fault_seed,
    })
}

fn summary_neutral(s: &pb::SessionSummary) -> Value {
    let session = s.session.clone().unwrap_or_default();
    serde_json::json!({
        "session": session_neutral(&session), "saved_path": s.saved_path, "unused_interactions": s.unused_interactions,
        "end_reason": s.end_reason, "ended_at": ts_ms(&s.ended_at), "save_error": s.save_error, "warnings": s.warnings,
        "failing_misses": crate::misses::failed_misses(&session).len(),
    })
}

fn status_neutral(st: &pb::GetStatusResponse) -> Value {
    let tls = st.tls.clone().unwrap_or_default();
    serde_json::json!({
        "version": st.version, "proxy_address": st.proxy_address, "control_address": st.control_address,
        "cassette_dir": st.cassette_dir, "default_mode": mode_name(st.default_mode),
        "session": session_neutral(&st.session.clone().unwrap_or_default()), "uptime": dur_ms(&st.uptime),
        "api_version": st.api_version,
        "tls": {"ca_certificate_path": tls.ca_certificate_path, "no_intercept": tls.no_intercept,
                "insecure_upstream": tls.insecure_upstream, "upstream_ca_file": tls.upstream_ca_file},
        "reverse_upstream": st.reverse_upstream,
        "sessions": st.sessions.iter().map(session_neutral).collect::<Vec<_>>(),
        "ended_sessions": st.ended_sessions.iter().map(summary_neutral).collect::<Vec<_>>(),
        "max_sessions": st.max_sessions,
    })
}

/// Every value `want` names equals the client's (objects: the keys named;
/// lists: every item).
fn expect_subset(want: &Value, got: &Value, path: &str, failures: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => expect_subset(v, gv, &format!("{path}.{k}"), failures),
                    None => failures
                        .push(format!("conformance: {path}.{k} is not mapped (the client exposes no such value)")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                expect_subset(wv, gv, &format!("{path}[{i}]"), failures);
            }
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        _ if want == got => {}
        _ => failures.push(format!("{path}: got {got}, want {want}")),
    }
}

#[test]
fn conformance_status() {
    let s = suite("status.json");
    let mut failures = vec![];
    for case in s["status"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if skipped(case, name) {
            continue;
        }
        let st: pb::GetStatusResponse = from_json("matgto.v1.GetStatusResponse", &case["response"]);
        expect_subset(&case["expect"], &status_neutral(&st), &format!("{name}: status"), &mut failures);
    }
    for case in s["summary"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if skipped(case, name) {
            continue;
        }
        let sum: pb::SessionSummary = from_json("matgto.v1.SessionSummary", &case["response"]);
        expect_subset(&case["expect"], &summary_neutral(&sum), &format!("{name}: summary"), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
