//! The test helper (`test_cassette!`), typed errors, the proxy environment
//! guard and the launcher, against a real server and upstream.
mod common;

use std::panic::AssertUnwindSafe;

use common::{get, http, server, Upstream};
use matgto_client::{testing::ProxyEnv, Client, Error, LocalServer, Mode, SessionOptions};

#[tokio::test]
async fn test_cassette_records_then_fails_on_a_replay_miss() {
    let srv = server().await;
    let up = Upstream::start().await;
    // Named after this test: "helpers/<test fn>".
    let name = matgto_client::cassette_name!();
    assert_eq!(name, "helpers/test_cassette_records_then_fails_on_a_replay_miss");

    let cas = matgto_client::test_cassette!().server(srv.control_address()).start().await;
    assert_eq!(cas.name(), name);
    assert_eq!(cas.session().mode(), Mode::Record, "AUTO records a missing cassette");
    assert_eq!(get(&http(cas.proxy_url()), &up.url("/users/1")).await.0, 200);
    let sum = cas.finish().await;
    assert_eq!(sum.session.unwrap().recorded, 1);

    // Second run: AUTO replays; a request that was not recorded is a miss,
    // and the helper's verdict explains it.
    let cas = matgto_client::test_cassette!().server(srv.control_address()).start().await;
    assert_eq!(cas.session().mode(), Mode::Replay);
    let h = http(cas.proxy_url());
    assert_eq!(get(&h, &up.url("/users/1")).await.2, "hello /users/1 #1");
    assert_eq!(get(&h, &up.url("/users/2")).await.0, 599);
    let err = cas.try_finish().await.expect_err("a replay miss fails the test");
    eprintln!("{err}");
    assert!(err.contains(&format!("cassette {name:?}")), "{err}");
    assert!(err.contains("1 request(s) found no recorded answer"), "{err}");
    assert!(err.contains("/users/2 (no-match)") && err.contains("closest recorded #0"), "{err}");
    assert!(err.contains(r#"recorded "/users/1", live "/users/2""#), "{err}");

    // With misses_as_warnings the same miss does not fail.
    let cas = matgto_client::test_cassette!().server(srv.control_address()).misses_as_warnings().start().await;
    assert_eq!(get(&http(cas.proxy_url()), &up.url("/users/3")).await.0, 599);
    cas.try_finish().await.expect("only a warning");
}

#[tokio::test]
async fn test_cassette_dropped_without_finish_still_fails_on_a_miss() {
    let srv = server().await;
    let up = Upstream::start().await;
    let client = srv.client().await.unwrap();
    let rec = client.open_session("drop/miss", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    get(&http(rec.proxy_url()), &up.url("/x")).await;
    rec.stop().await.unwrap();

    let cas = matgto_client::test_cassette!("drop/miss").client(&client).mode(Mode::Replay).start().await;
    let id = cas.session().id().to_string();
    assert_eq!(get(&http(cas.proxy_url()), &up.url("/y")).await.0, 599);
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| drop(cas)));
    let msg = r.expect_err("drop panics on a miss");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("/y (no-match)"), "{msg}");
    let st = client.status().await.unwrap();
    assert!(!st.sessions.iter().any(|s| s.id == id), "drop stopped the session");
}

#[tokio::test]
async fn typed_errors_carry_the_server_message() {
    let srv = server().await;
    let c = srv.client().await.unwrap();
    let opts = matgto_client::CassetteOptions::new();
    match c.replay("no/such", &opts).await {
        Err(Error::CassetteNotFound { op, message }) => {
            assert_eq!(op, "Replay");
            assert!(message.contains("no/such"), "{message}");
        }
        other => panic!("want CassetteNotFound, got {other:?}"),
    }
    let e = c.start_recording("../x", &opts).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert_eq!(e.code(), Some(tonic::Code::InvalidArgument));
    assert!(e.to_string().contains("INVALID_ARGUMENT") && !e.message().is_empty(), "{e}");
    let e = c.stop_recording(None).await.unwrap_err();
    assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
    let e = c.renew_session("s-0000000000000000").await.unwrap_err();
    assert!(matches!(e, Error::SessionNotFound { .. }), "{e}");
    let e = c.open_session("x", SessionOptions::new().session("s-0000000000000000")).await.unwrap_err();
    assert!(e.code() == Some(tonic::Code::NotFound), "{e}");
    let s = c.open_session("errs/held", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    let e = c.open_session("errs/held", SessionOptions::new().mode(Mode::Record)).await.unwrap_err();
    match &e {
        Error::FailedPrecondition { message, .. } => assert!(message.contains(s.id()), "names the holder: {message}"),
        other => panic!("want FailedPrecondition, got {other:?}"),
    }
    let e = s.clear_faults(&["f9"]).await.unwrap_err();
    assert!(matches!(e, Error::FaultNotFound { .. }), "{e}");
    let e = s.add_fault(matgto_client::Fault::status(503).url("(")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    s.stop().await.unwrap();
    let e = c.delete_cassette("no/such").await.unwrap_err();
    assert!(matches!(e, Error::CassetteNotFound { .. }), "{e}");

    // A server that is not there: UNAVAILABLE.
    let port = srv.control_address().rsplit_once(':').unwrap().1.to_string();
    drop(srv);
    let e = c.status().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "port {port}: {e}");
}

// Every test that touches the process environment is in this one function:
// the variables are process-wide, and libtest runs tests in parallel.
#[tokio::test]
async fn proxy_env_guard_sets_and_restores_and_control_is_never_proxied() {
    let srv = server().await;
    let up = Upstream::start().await;
    let c = srv.client().await.unwrap();

    std::env::set_var("HTTPS_PROXY", "http://before.invalid:1");
    std::env::remove_var("HTTP_PROXY");
    std::env::set_var("NO_PROXY", "example.invalid");
    std::env::remove_var("SSL_CERT_FILE");
    {
        let s = c.open_session("env/guard", SessionOptions::new().mode(Mode::Record)).await.unwrap();
        let g = ProxyEnv::for_session(&s).await.unwrap();
        assert_eq!(std::env::var("HTTP_PROXY").unwrap(), s.proxy_url());
        assert_eq!(std::env::var("https_proxy").unwrap(), s.proxy_url());
        assert!(std::env::var_os("NO_PROXY").is_none());
        let ca = std::env::var("SSL_CERT_FILE").unwrap();
        assert!(std::fs::read_to_string(&ca).unwrap().contains("BEGIN CERTIFICATE"));
        // reqwest reads the variables when built: through the session.
        let plain = reqwest::Client::new();
        assert_eq!(get(&plain, &up.url("/via-env")).await.0, 200);
        drop(g);
        assert!(!std::path::Path::new(&ca).exists(), "the CA file is removed");
        let sum = s.stop().await.unwrap();
        assert_eq!(sum.session.unwrap().recorded, 1, "the request went through the session's proxy");
    }
    assert_eq!(std::env::var("HTTPS_PROXY").unwrap(), "http://before.invalid:1");
    assert!(std::env::var_os("HTTP_PROXY").is_none());
    assert_eq!(std::env::var("NO_PROXY").unwrap(), "example.invalid");
    assert!(std::env::var_os("SSL_CERT_FILE").is_none());
    std::env::remove_var("HTTPS_PROXY");
    std::env::remove_var("NO_PROXY");

    // The control channel ignores HTTP(S)_PROXY: a dead proxy changes nothing.
    {
        let _g = ProxyEnv::set("http://127.0.0.1:9", None);
        let fresh = Client::connect(srv.control_address()).await.unwrap();
        let st = fresh.status().await.expect("the control channel does not go through the dead proxy");
        assert_eq!(st.api_version, 1);
        let s = fresh.open_session("env/dead-proxy", SessionOptions::new().mode(Mode::Record)).await.unwrap();
        s.stop().await.unwrap();
    }
    assert!(std::env::var_os("HTTP_PROXY").is_none());
}

#[tokio::test]
async fn launcher_finds_the_binary_and_reports_failures() {
    let srv = LocalServer::start().await.unwrap();
    assert!(srv.proxy_address().starts_with("127.0.0.1:"));
    assert!(srv.control_address().starts_with("127.0.0.1:"));
    assert!(srv.pid() > 0);
    let st = srv.client().await.unwrap().status().await.unwrap();
    assert_eq!(st.proxy_address, srv.proxy_address());
    let dir = srv.cassette_dir().to_path_buf();
    assert!(dir.is_dir());
    let pid = srv.pid();
    drop(srv);
    assert!(!dir.exists(), "the temporary folder is removed");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.split_whitespace().nth(2) == Some("Z")
        },
        "the server is killed on drop"
    );

    let e = LocalServer::builder().binary("/nonexistent/matgto").start().await.unwrap_err();
    assert!(matches!(e, Error::Launch(_)) && e.to_string().contains("/nonexistent/matgto"), "{e}");
    let e = LocalServer::builder().arg("--no-such-flag").start().await.unwrap_err();
    assert!(e.to_string().contains("exited") && e.to_string().contains("no-such-flag"), "{e}");
}

#[tokio::test]
async fn shared_server_is_one_per_process() {
    let a = LocalServer::shared().await.unwrap();
    let b = LocalServer::shared().await.unwrap();
    assert!(std::ptr::eq(a, b));
    let c = a.client().await.unwrap();
    assert_eq!(c.status().await.unwrap().control_address, a.control_address());
    assert!(std::path::Path::new(&format!("/proc/{}", a.pid())).exists(), "pid {} is the server", a.pid());
}

#[tokio::test]
#[ignore = "not a test of its own: shared_server_dies_with_the_test_process runs it in a child process"]
async fn __shared_server_child() {
    let s = LocalServer::shared().await.unwrap();
    println!("MATGTO_SHARED_PID={}", s.pid());
}

#[tokio::test]
async fn shared_server_dies_with_the_test_process() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "__shared_server_child", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let pid: u32 = stdout
        .lines()
        .find_map(|l| l.split_once("MATGTO_SHARED_PID=").map(|(_, p)| p))
        .unwrap_or_else(|| panic!("no pid in {stdout}"))
        .trim()
        .parse()
        .unwrap();
    // The test process has exited: the watchdog kills the server.
    let mut gone = false;
    for _ in 0..250 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "server pid {pid} still runs after its test process exited");
}
