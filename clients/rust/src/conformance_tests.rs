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
use crate::options::{CassetteOptions, Latency};
use crate::{pb, Error};

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
    let desc = pool.get_message_by_name("matgto.v1.CassetteOptions").unwrap();
    for case in s["cases"].as_array().unwrap() {
        let m = DynamicMessage::deserialize(desc.clone(), &case["expect"]).unwrap();
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
        "no conformance case in clients/conformance/options.json covers {} (add a case, map it in every client, or list it in unmapped.json with a reason)",
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

#[test]
fn conformance_status() {
    let s = suite("status.json");
    for case in s["status"].as_array().unwrap() {
        if skipped(case, case["name"].as_str().unwrap()) {
            continue;
        }
        let st: pb::GetStatusResponse = from_json("matgto.v1.GetStatusResponse", &case["response"]);
        let mode = |m: i32| pb::Mode::try_from(m).unwrap().as_str_name();
        let got = serde_json::json!({
            "version": st.version, "api_version": st.api_version, "default_mode": mode(st.default_mode),
            "proxy_address": st.proxy_address, "max_sessions": st.max_sessions,
            "session_ids": st.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            "session_modes": st.sessions.iter().map(|s| mode(s.mode)).collect::<Vec<_>>(),
            "ended_reasons": st.ended_sessions.iter().map(|e| e.end_reason.clone()).collect::<Vec<_>>(),
        });
        assert_eq!(got, case["expect"], "{}", case["name"]);
    }
    for case in s["summary"].as_array().unwrap() {
        if skipped(case, case["name"].as_str().unwrap()) {
            continue;
        }
        let sum: pb::SessionSummary = from_json("matgto.v1.SessionSummary", &case["response"]);
        let got = serde_json::json!({
            "end_reason": sum.end_reason, "saved_path": sum.saved_path, "save_error": sum.save_error,
            "warnings": sum.warnings,
            "failing_misses": crate::misses::failed_misses(sum.session.as_ref().unwrap()).len(),
        });
        assert_eq!(got, case["expect"], "{}", case["name"]);
    }
}
