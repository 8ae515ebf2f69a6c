//! Mappings that need no server: options → CassetteOptions, latency, faults,
//! cassette names, proxy address forms, API version check.
use std::time::Duration;

use matgto_client::pb;
use matgto_client::{
    cassette_name, check_api_version, proxy_url, CassetteOptions, Error, Fault, FaultAction, Latency, MissPolicy,
    RepeatPolicy, ResetPoint, Selector,
};

#[test]
fn cassette_options_map_to_the_message() {
    assert_eq!(CassetteOptions::new().to_proto(), pb::CassetteOptions::default());
    let o = CassetteOptions::new()
        .repeat(RepeatPolicy::Reuse)
        .on_miss(MissPolicy::MissRecord)
        .on_exhausted(pb::ExhaustedPolicy::ExhaustedError)
        .store_decoded()
        .ws_timing(pb::WsTiming::AsRecorded)
        .ws_speed(2.0)
        .stream_timing(pb::WsTiming::AsRecorded)
        .stream_speed(3.0)
        .match_rules(pb::MatchRules { ignore_query_params: vec!["ts".into()], ..Default::default() })
        .redact(pb::RedactRules { json_keys: vec!["secret".into()], ..Default::default() })
        .latency(Latency::AsRecorded { scale: 0.5 })
        .to_proto();
    assert_eq!(o.repeat, pb::RepeatPolicy::Reuse as i32);
    assert_eq!(o.on_miss, pb::MissPolicy::MissRecord as i32);
    assert_eq!(o.on_exhausted, pb::ExhaustedPolicy::ExhaustedError as i32);
    assert_eq!(o.body_storage, pb::BodyStorage::Decoded as i32);
    assert_eq!((o.ws_timing, o.ws_speed), (pb::WsTiming::AsRecorded as i32, 2.0));
    assert_eq!((o.stream_timing, o.stream_speed), (pb::WsTiming::AsRecorded as i32, 3.0));
    assert_eq!(o.match_rules.unwrap().ignore_query_params, ["ts"]);
    assert_eq!(o.redact.unwrap().json_keys, ["secret"]);
    let l = o.latency.unwrap();
    assert_eq!((l.mode, l.scale), (pb::LatencyMode::LatencyAsRecorded as i32, 0.5));
}

#[test]
fn latency_parses_as_the_cli_does() {
    assert_eq!(Latency::parse("fast").unwrap(), Latency::Fast);
    assert_eq!(Latency::parse("as-recorded").unwrap(), Latency::AsRecorded { scale: 0.0 });
    assert_eq!(
        Latency::parse("100ms±50ms").unwrap(),
        Latency::Fixed { delay: Duration::from_millis(100), jitter: Duration::from_millis(50) }
    );
    assert_eq!(
        Latency::parse("1.5s+-250us").unwrap(),
        Latency::Fixed { delay: Duration::from_millis(1500), jitter: Duration::from_micros(250) }
    );
    assert!(Latency::parse("soon").is_err());
    assert!(Latency::parse("10parsecs").is_err());
    let p = CassetteOptions::new().latency(Latency::parse("200ms").unwrap()).to_proto().latency.unwrap();
    assert_eq!(p.mode, pb::LatencyMode::LatencyFixed as i32);
    assert_eq!(p.fixed, Some(prost_types::Duration { seconds: 0, nanos: 200_000_000 }));
    assert_eq!(p.jitter, None);
}

#[test]
fn faults_map_both_ways() {
    let cases = [
        Fault::status(503).header("Retry-After", "1").body("busy").first_n(2).url("/orders/.*").method("GET"),
        Fault::delay(Duration::from_millis(250)).every_nth(3),
        Fault::hang().probability(0.25),
        Fault::reset(ResetPoint::MidBody),
        Fault::bandwidth(1024),
        Fault::websocket(5, Duration::from_millis(10)),
    ];
    for f in cases {
        let p = f.to_proto();
        assert_eq!(Fault::from_proto(&p).unwrap(), f, "{p:?}");
    }
    let p = Fault::status(418).first_n(2).to_proto();
    assert_eq!(p.selector, Some(pb::fault::Selector::FirstN(2)));
    match p.action {
        Some(pb::fault::Action::Status(s)) => assert_eq!(s.code, 418),
        other => panic!("{other:?}"),
    }
    assert_eq!(Fault::hang().selector, Selector::Every);
    assert_eq!(Fault::hang().to_proto().selector, None);
    assert!(Fault::from_proto(&pb::Fault::default()).is_none());
    assert!(matches!(Fault::reset(ResetPoint::AfterHeaders).action, FaultAction::Reset(ResetPoint::AfterHeaders)));
}

#[test]
fn cassette_names_from_test_paths() {
    assert_eq!(cassette_name("orders::tests::create"), "orders/tests/create");
    assert_eq!(cassette_name("a/b_c.d"), "a/b_c.d");
    let x = cassette_name("a::b c");
    assert!(x.starts_with("a/b_c,h") && x.len() == "a/b_c,h".len() + 8, "{x}");
    assert_ne!(cassette_name("a:b"), cassette_name("a;b"));
    assert!(cassette_name("..").starts_with("__,h"));
    let long = "x".repeat(300);
    assert!(cassette_name(&long).len() <= 200);
    // The macro names the enclosing test: "<test binary>/<fn>".
    assert_eq!(matgto_client::cassette_name!(), "units/cassette_names_from_test_paths");
}

#[test]
fn proxy_address_forms() {
    assert_eq!(proxy_url("127.0.0.1", "127.0.0.1:8888").unwrap(), "http://127.0.0.1:8888");
    assert_eq!(proxy_url("10.0.0.5", "0.0.0.0:8888").unwrap(), "http://10.0.0.5:8888");
    assert_eq!(proxy_url("127.0.0.1", "[::]:8888").unwrap(), "http://127.0.0.1:8888");
    assert_eq!(proxy_url("::1", "[::]:8888").unwrap(), "http://[::1]:8888");
    assert_eq!(proxy_url("127.0.0.1", "[::1]:8888").unwrap(), "http://[::1]:8888");
    assert_eq!(proxy_url("127.0.0.1", "[fe80::1]:9").unwrap(), "http://[fe80::1]:9");
    assert!(proxy_url("127.0.0.1", "nonsense").is_err());
}

#[test]
fn api_version_is_checked() {
    check_api_version("h:1", 1).unwrap();
    match check_api_version("h:1", 2) {
        Err(e @ Error::IncompatibleServer { .. }) => assert!(e.to_string().contains("version 2"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(check_api_version("h:1", 0).unwrap_err().to_string().contains("predates"));
}
