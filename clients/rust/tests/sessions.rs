//! The client against a real `matgto serve` (LocalServer from $MATGTO_BIN)
//! and a real upstream on 127.0.0.1, with reqwest through the proxy.
mod common;

use common::{get, http, server, Upstream};
use matgto_client::{misses, Fault, Mode, SessionOptions};

#[tokio::test]
async fn record_then_replay_offline() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();

    let s = c.open_session("orders/list", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    assert!(s.id().starts_with("s-"), "{}", s.id());
    assert!(s.proxy_url().starts_with("http://127.0.0.1:"), "{}", s.proxy_url());
    let (status, _, live) = get(&http(s.proxy_url()), &up.url("/orders?page=1")).await;
    assert_eq!((status, live.as_str()), (200, "hello /orders?page=1 #1"));
    let sum = s.stop().await.unwrap();
    assert_eq!(sum.session.as_ref().unwrap().recorded, 1);
    assert!(sum.saved_path.contains("orders"), "{}", sum.saved_path);
    assert_eq!(sum.end_reason, "stopped");

    up.stop(); // offline from here on
    let s = c.open_session("orders/list", SessionOptions::new().mode(Mode::Replay)).await.unwrap();
    assert_eq!(s.mode(), Mode::Replay);
    let h = http(s.proxy_url());
    let (status, _, again) = get(&h, &up.url("/orders?page=1")).await;
    assert_eq!((status, again.as_str()), (200, "hello /orders?page=1 #1"));
    // A request never recorded: the proxy answers 599 and explains.
    let (status, err, body) = get(&h, &up.url("/orders?page=2")).await;
    assert_eq!((status, err.as_str()), (599, "no-match"), "{body}");
    let pe = matgto_client::ProxyError::parse(body.as_bytes()).expect("ProxyError JSON");
    assert_eq!(pe.cassette, "orders/list");
    let sum = s.stop().await.unwrap();
    let info = sum.session.unwrap();
    assert_eq!((info.replayed, info.missed), (1, 1));
    let msg = misses::explain_misses(&info).expect("a failed miss");
    assert!(msg.contains("GET http://127.0.0.1") && msg.contains("page=2") && msg.contains("(no-match)"), "{msg}");
    assert!(msg.contains("closest recorded #0") && msg.contains("page=1"), "{msg}");
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn two_sessions_in_parallel() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let run = |name: &'static str, path: &'static str| {
        let (c, url) = (c.clone(), up.url(path));
        async move {
            let s = c.open_session(name, SessionOptions::new().mode(Mode::Record)).await.unwrap();
            let h = http(s.proxy_url());
            for _ in 0..3 {
                assert_eq!(get(&h, &url).await.0, 200);
            }
            (s.id().to_string(), s.stop().await.unwrap())
        }
    };
    let ((id_a, a), (id_b, b)) = tokio::join!(run("par/a", "/a"), run("par/b", "/b"));
    assert_ne!(id_a, id_b);
    let (a, b) = (a.session.unwrap(), b.session.unwrap());
    assert_eq!((a.cassette.as_str(), a.recorded), ("par/a", 3));
    assert_eq!((b.cassette.as_str(), b.recorded), ("par/b", 3));
    let names: Vec<String> = c.list_cassettes("par/").await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["par/a", "par/b"]);
    // Each recorded only its own traffic.
    let cas = c.get_cassette("par/a").await.unwrap();
    assert_eq!(cas.interactions.len(), 3);
    use matgto_client::pb::interaction::Kind;
    for i in &cas.interactions {
        let Some(Kind::Http(x)) = &i.kind else { panic!("not HTTP: {i:?}") };
        assert!(x.request.as_ref().unwrap().url.ends_with("/a"), "{x:?}");
    }
    // Copy it under another name, replay the copy, delete it.
    let info = c.put_cassette("par/copy", &cas).await.unwrap();
    assert_eq!((info.name.as_str(), info.interactions), ("par/copy", 3));
    let s = c.open_session("par/copy", SessionOptions::new().mode(Mode::Replay)).await.unwrap();
    let hits = up.hits();
    let (status, _, body) = get(&http(s.proxy_url()), &up.url("/a")).await;
    // The upstream counts both sessions' requests: "/a" got any of #1..#6.
    assert!(status == 200 && body.starts_with("hello /a #"), "{status} {body}");
    s.stop().await.unwrap();
    assert_eq!(up.hits(), hits, "replayed, not forwarded");
    c.delete_cassette("par/copy").await.unwrap();
    assert!(matches!(c.get_cassette("par/copy").await, Err(matgto_client::Error::CassetteNotFound { .. })));
    let bad = matgto_client::pb::Cassette { schema_version: 1, complete: false, ..Default::default() };
    assert!(matches!(c.put_cassette("par/bad", &bad).await, Err(matgto_client::Error::InvalidArgument { .. })));

    // The shared proxy port with the session as proxy user (Basic credential).
    let s = c.open_session("par/shared-port", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    let shared = s.shared_proxy_url().expect("the server gives a shared proxy URL").to_string();
    assert!(shared.starts_with(&format!("http://{}:matgto@", s.id())), "{shared}");
    assert_eq!(get(&http(&shared), &up.url("/via-shared")).await.0, 200);
    assert_eq!(s.stop().await.unwrap().session.unwrap().recorded, 1);
}

#[tokio::test]
async fn faults_answer_instead_then_the_real_answer() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let s = c.open_session("faults/first-two", SessionOptions::new().mode(Mode::Passthrough)).await.unwrap();
    let f = s
        .add_fault(Fault::status(503).header("Retry-After", "1").body("try later").first_n(2).url("/flaky"))
        .await
        .unwrap();
    assert_eq!(f.id, "f1");
    let h = http(s.proxy_url());
    assert_eq!(get(&h, &up.url("/flaky")).await.2, "try later");
    assert_eq!(get(&h, &up.url("/flaky")).await.0, 503);
    assert_eq!(get(&h, &up.url("/flaky")).await.0, 200);
    assert_eq!(up.hits(), 1);
    let info = s.status().await.unwrap();
    assert_eq!(info.faults[0].applied, 2);
    assert!(s.clear_faults(&[]).await.unwrap().is_empty());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn lease_is_renewed_and_drop_stops_the_session() {
    let srv = server().await;
    let c = srv.client().await.unwrap();
    let s = c
        .open_session(
            "lease/renewed",
            SessionOptions::new().mode(Mode::Record).lease(std::time::Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let id = s.id().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(s.renewals() >= 2, "renewals: {}", s.renewals());
    assert!(s.lost().is_none());
    assert!(c.status().await.unwrap().sessions.iter().any(|x| x.id == id), "alive past its 1 s lease");
    drop(s); // stops it on a helper thread
    let st = c.status().await.unwrap();
    assert!(!st.sessions.iter().any(|x| x.id == id));
    let ended = st.ended_sessions.iter().find(|e| e.session.as_ref().unwrap().id == id).expect("ended");
    assert_eq!(ended.end_reason, "stopped");
}

#[tokio::test]
async fn a_lost_session_is_reported_by_stop() {
    let srv = server().await;
    let c = srv.client().await.unwrap();
    let s = c.open_session("lease/lost", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    c.stop_recording(Some(s.id())).await.unwrap(); // someone else stops it
    match s.stop().await {
        Err(matgto_client::Error::SessionLost { message, summary }) => {
            assert!(message.contains("had ended on the server"), "{message}");
            assert_eq!(summary.unwrap().end_reason, "stopped");
        }
        other => panic!("want SessionLost, got {other:?}"),
    }
}

#[tokio::test]
async fn reset_is_a_connection_error_and_hang_a_client_timeout() {
    use matgto_client::ResetPoint;
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let s = c.open_session("faults/reset-hang", SessionOptions::new().mode(Mode::Passthrough)).await.unwrap();
    s.add_fault(Fault::reset(ResetPoint::BeforeHeaders).url("/reset")).await.unwrap();
    s.add_fault(Fault::hang().url("/hang")).await.unwrap();
    let h = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(s.proxy_url()).unwrap())
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let e = h.get(up.url("/reset")).send().await.expect_err("a reset is a connection error");
    assert!(!e.is_timeout(), "{e:?}");
    let e = h.get(up.url("/hang")).send().await.expect_err("a hang is never answered");
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    let info = s.status().await.unwrap();
    assert_eq!(info.faults.iter().map(|f| f.applied).collect::<Vec<_>>(), [1, 1]);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn options_and_latency_reach_the_session() {
    use matgto_client::{CassetteOptions, Latency, RepeatPolicy};
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let rec = c.open_session("opts/latency", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    get(&http(rec.proxy_url()), &up.url("/o")).await;
    rec.stop().await.unwrap();
    let opts = CassetteOptions::new().repeat(RepeatPolicy::Reuse).latency(Latency::parse("20ms±5ms").unwrap());
    let s = c.open_session("opts/latency", SessionOptions::new().mode(Mode::Replay).options(opts)).await.unwrap();
    let o = s.info().options.clone().unwrap();
    assert_eq!(o.repeat, RepeatPolicy::Reuse as i32);
    let l = o.latency.unwrap();
    assert_eq!(l.mode, matgto_client::pb::LatencyMode::LatencyFixed as i32);
    assert_eq!(l.fixed.unwrap().nanos, 20_000_000);
    let h = http(s.proxy_url());
    for _ in 0..3 {
        assert_eq!(get(&h, &up.url("/o")).await.2, "hello /o #1", "REUSE answers the one recording again");
    }
    let sum = s.stop().await.unwrap();
    assert_eq!(sum.session.unwrap().replayed, 3);
}

#[tokio::test]
async fn the_default_session_is_reachable_by_name() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let s = c
        .open_session("default/one", SessionOptions::new().mode(Mode::Record).session(matgto_client::DEFAULT_SESSION))
        .await
        .unwrap();
    assert_eq!(s.id(), "default");
    assert_eq!(s.proxy_url(), format!("http://{}", srv.proxy_address()), "the shared proxy port");
    assert_eq!(s.lease(), None, "the default session has no lease");
    s.add_fault(Fault::status(418).first_n(1)).await.unwrap();
    let h = http(s.proxy_url());
    assert_eq!(get(&h, &up.url("/d")).await.0, 418);
    assert_eq!(get(&h, &up.url("/d")).await.0, 200);
    let sum = s.stop().await.unwrap();
    assert_eq!(sum.session.unwrap().recorded, 1);
    assert_eq!(c.proxy_url().await.unwrap(), format!("http://{}", srv.proxy_address()));
}
