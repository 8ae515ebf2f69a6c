//! A secured control API against real servers: bearer tokens with scopes
//! (`--auth-tokens`), TLS and mTLS with a CA made at test time by the
//! `openssl` CLI.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use matgto_client::{CassetteOptions, Client, Error, LocalServer, Mode, SessionOptions};

const READ: &str = "read-token-0123456789";
const WRITE: &str = "write-token-0123456789";

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    tokens: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate (127.0.0.1, localhost), a client certificate,
/// and a token file with a read and a write token.
fn pki(tag: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("matgto-rs-pki-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=matgto rust test CA"]);
    openssl(&dir, &a);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, pem, extf) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        let subj = format!("/CN=matgto test {name}");
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(&dir, &a);
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "1",
                "-extfile",
                &extf,
            ],
        );
    }
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("# token scope\n{READ} read\n{WRITE} write\n")).unwrap();
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        tokens,
        dir,
    }
}

async fn start(args: &[&Path]) -> LocalServer {
    let mut b = LocalServer::builder();
    for a in args {
        b = b.arg(a.to_str().unwrap());
    }
    b.start().await.unwrap_or_else(|e| panic!("starting the server: {e}"))
}

#[tokio::test]
async fn tokens_and_scopes_on_plaintext_loopback() {
    let p = pki("tokens");
    let srv = start(&[Path::new("--auth-tokens"), &p.tokens]).await;
    let addr = srv.control_address();
    let none = Client::builder(addr).token("").connect().await.unwrap();
    match none.status().await {
        Err(Error::Unauthenticated { op, message }) => assert!(op == "GetStatus" && !message.is_empty()),
        other => panic!("want Unauthenticated, got {other:?}"),
    }
    let bad = Client::builder(addr).token("not-a-known-token-at-all").connect().await.unwrap();
    assert!(matches!(bad.status().await, Err(Error::Unauthenticated { .. })));

    let read = Client::builder(addr).token(READ).connect().await.unwrap();
    assert_eq!(read.status().await.unwrap().api_version, 1);
    let e = read.open_session("auth/x", SessionOptions::new().mode(Mode::Record)).await.unwrap_err();
    match &e {
        Error::PermissionDenied { message, .. } => assert!(!message.is_empty()),
        other => panic!("a read token may not record: want PermissionDenied, got {other:?}"),
    }
    let write = Client::builder(addr).token(WRITE).connect().await.unwrap();
    let s = write.open_session("auth/x", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    s.stop().await.unwrap();
    // A read token replays.
    let s = read.open_session("auth/x", SessionOptions::new().mode(Mode::Replay)).await.unwrap();
    s.stop().await.unwrap();
    assert!(matches!(read.shutdown(None).await, Err(Error::PermissionDenied { .. })));

    // The token from $MATGTO_TOKEN (the only test of this binary that sets it).
    std::env::set_var("MATGTO_TOKEN", WRITE);
    let from_env = Client::connect(addr).await.unwrap();
    std::env::remove_var("MATGTO_TOKEN");
    let s = from_env.open_session("auth/env", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    s.stop().await.unwrap();
    // The test helper takes a client, so the token reaches it too.
    let cas = matgto_client::test_cassette!().client(&from_env).mode(Mode::Record).start().await;
    cas.finish().await;
}

#[tokio::test]
async fn tls_and_mtls() {
    let p = pki("tls");
    let tls = start(&[
        Path::new("--control-tls-cert"),
        &p.server_cert,
        Path::new("--control-tls-key"),
        &p.server_key,
        Path::new("--auth-tokens"),
        &p.tokens,
    ])
    .await;
    let c = Client::builder(tls.control_address()).tls_ca(&p.ca).token(WRITE).connect().await.unwrap();
    assert!(c.is_tls());
    let s = c.open_session("tls/rec", SessionOptions::new().mode(Mode::Record)).await.unwrap();
    assert!(s.proxy_url().starts_with("http://127.0.0.1:"));
    s.stop().await.unwrap();
    // Plaintext to a TLS port fails; so does TLS without the CA (system roots).
    let plain = Client::builder(tls.control_address()).plaintext().token(READ).connect().await.unwrap();
    assert!(plain.status().await.is_err());
    let https = Client::builder(&format!("https://{}", tls.control_address())).token(READ).connect().await.unwrap();
    let e = https.status().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "an unknown CA: {e}");

    let mtls = start(&[
        Path::new("--control-tls-cert"),
        &p.server_cert,
        Path::new("--control-tls-key"),
        &p.server_key,
        Path::new("--control-client-ca"),
        &p.ca,
    ])
    .await;
    let with_cert = Client::builder(mtls.control_address())
        .tls_ca(&p.ca)
        .client_certificate(&p.client_cert, &p.client_key)
        .connect()
        .await
        .unwrap();
    with_cert.status().await.expect("mTLS with a client certificate");
    let without = Client::builder(mtls.control_address()).tls_ca(&p.ca).connect().await.unwrap();
    let e = without.status().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. } | Error::Rpc { .. }), "no client certificate: {e}");
    let _ = CassetteOptions::new();
}

#[tokio::test]
async fn a_token_never_goes_in_plaintext_to_another_machine() {
    let e = Client::builder("10.1.2.3:8889").token(READ).connect().await.unwrap_err();
    assert!(
        matches!(&e, Error::Config(m) if m.contains("refusing to send the token in plaintext to 10.1.2.3:8889")),
        "{e}"
    );
    Client::builder("10.1.2.3:8889").token(READ).plaintext().connect().await.expect("explicit plaintext");
    Client::builder("localhost:8889").token(READ).connect().await.expect("loopback");
    Client::builder("[::1]:8889").token(READ).connect().await.expect("IPv6 loopback");
    Client::builder("10.1.2.3:8889").token("").connect().await.expect("no token");
    let e = Client::builder("https://10.1.2.3:8889").plaintext().connect().await.unwrap_err();
    assert!(e.to_string().contains("contradicts"), "{e}");
    let e = Client::builder("127.0.0.1:1").client_certificate("/x.pem", "").connect().await;
    assert!(e.is_err());
    let e = Client::builder("127.0.0.1:1").tls_ca("/nonexistent/ca.pem").connect().await.unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}
