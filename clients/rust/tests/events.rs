//! WatchEvents against a real server and upstream: a session's exchange and
//! miss arrive with their details, dropping the stream ends the call, the
//! server's shutdown ends the stream, and a server that wants tokens refuses
//! a watcher without one.
mod common;

use std::time::Duration;

use common::{get, http, server, Upstream};
use matgto_client::pb::{event::Kind, ExchangeResult};
use matgto_client::{pb, Client, Error, EventFilter, EventStream, LocalServer, Mode, SessionOptions};
use tonic::codegen::tokio_stream::StreamExt;

/// The next event, through the `Stream` impl; fails after 20s.
async fn next(events: &mut EventStream) -> pb::Event {
    match tokio::time::timeout(Duration::from_secs(20), events.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(other) => panic!("want an event, got {other:?}"),
        Err(_) => panic!("no event within 20s"),
    }
}

#[tokio::test]
async fn a_session_s_exchange_and_miss_arrive() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();
    let rec = c.open_session("watch/one", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    assert_eq!(get(&http(rec.proxy_url()), &up.url("/known")).await.0, 200);
    rec.stop().await.unwrap();

    let s = c.open_session("watch/one", SessionOptions::new().mode(Mode::Replay)).await.unwrap();
    let mut events = s.watch_events().await.expect("WatchEvents");
    let h = http(s.proxy_url());

    assert_eq!(get(&h, &up.url("/known")).await.0, 200);
    let e = next(&mut events).await;
    assert!(e.time.is_some(), "{e:?}");
    let Some(Kind::Exchange(x)) = e.kind else { panic!("want an exchange, got {e:?}") };
    assert_eq!(
        (x.session.as_str(), x.cassette.as_str(), x.method.as_str(), x.url.as_str(), x.status),
        (s.id(), "watch/one", "GET", up.url("/known").as_str(), 200)
    );
    assert_eq!((x.result(), x.mode()), (ExchangeResult::ResultReplayed, pb::Mode::Replay));

    let (status, err, _) = get(&h, &up.url("/unknown")).await;
    assert_eq!((status, err.as_str()), (599, "no-match"));
    let (mut miss, mut missed) = (None, None);
    while miss.is_none() || missed.is_none() {
        match next(&mut events).await.kind {
            Some(Kind::Miss(m)) => miss = Some(m),
            Some(Kind::Exchange(x)) => missed = Some(x),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let (miss, missed) = (miss.unwrap(), missed.unwrap());
    assert_eq!(
        (missed.status, missed.result(), missed.url.as_str()),
        (599, ExchangeResult::ResultMissed, up.url("/unknown").as_str())
    );
    assert_eq!(miss.session, s.id());
    let m = miss.miss.as_ref().expect("the miss");
    assert_eq!(
        (m.method.as_str(), m.url.as_str(), m.reason.as_str()),
        ("GET", up.url("/unknown").as_str(), "no-match")
    );
    assert_eq!(m.closest.first().map(|c| c.url.clone()), Some(up.url("/known")));
    assert!(miss.explanation.contains("/unknown") && miss.explanation.contains("/known"), "{}", miss.explanation);

    // Dropping the stream ends the call; the client keeps working and can
    // watch again.
    drop(events);
    let mut again = c.watch_events(&EventFilter::session(s.id())).await.expect("watching again");
    get(&h, &up.url("/known")).await;
    assert!(matches!(next(&mut again).await.kind, Some(Kind::Exchange(_)) | Some(Kind::Miss(_))));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn the_server_s_shutdown_ends_the_stream() {
    let srv = server().await;
    let c = srv.client().await.unwrap();
    let mut events = c.watch_events(&EventFilter::default()).await.unwrap();
    c.shutdown(Some(Duration::from_secs(1))).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), events.next_event()).await {
            Ok(Ok(Some(_))) => continue, // a session event of the shutdown
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("want the stream to end cleanly, got {e:?}"),
            Err(_) => panic!("the stream did not end within 20s of the shutdown"),
        }
    }
}

#[tokio::test]
async fn watching_needs_a_read_token() {
    let dir = std::env::temp_dir().join(format!("matgto-rs-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "read-token-for-watching read\nteam-token-for-watching write team-a/\n").unwrap();
    let srv = LocalServer::builder().arg("--auth-tokens").arg(tokens.to_str().unwrap()).start().await.unwrap();
    let none = Client::builder(srv.control_address()).token("").connect().await.unwrap();
    match none.watch_events(&EventFilter::default()).await {
        Err(Error::Unauthenticated { message, .. }) => assert!(!message.is_empty()),
        other => panic!("want Unauthenticated, got {other:?}"),
    }
    // Refused by WatchEvents itself (GetStatus is allowed): a prefix token
    // asking for a cassette outside its prefix.
    let team = Client::builder(srv.control_address()).token("team-token-for-watching").connect().await.unwrap();
    match team.watch_events(&EventFilter::cassette("elsewhere/x")).await {
        Err(Error::PermissionDenied { op, .. }) => assert_eq!(op, "WatchEvents"),
        other => panic!("want PermissionDenied, got {other:?}"),
    }
    let read = Client::builder(srv.control_address()).token("read-token-for-watching").connect().await.unwrap();
    read.watch_events(&EventFilter::session("default")).await.expect("a read token may watch");
    let _ = std::fs::remove_dir_all(&dir);
}
