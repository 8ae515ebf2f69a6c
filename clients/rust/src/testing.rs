//! Test helpers: a cassette session per test ([`TestCassette`], usually
//! through [`test_cassette!`](crate::test_cassette)) and a guard that points
//! the process's proxy and CA variables at a session ([`ProxyEnv`]).
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::{misses, pb, Client, Error, Mode, Result, Session, SessionOptions};

/// Starts building the test cassette of the enclosing test, named after it
/// ([`cassette_name!`](macro@crate::cassette_name)):
///
/// ```no_run
/// # async fn t() {
/// let cas = matgto_client::test_cassette!().start().await;
/// let http = reqwest::Client::builder()
///     .proxy(reqwest::Proxy::all(cas.proxy_url()).unwrap())
///     .build()
///     .unwrap();
/// // ... the code under test, with `http` ...
/// cas.finish().await; // panics on a replay miss, with the explanation
/// # }
/// ```
#[macro_export]
macro_rules! test_cassette {
    () => {
        $crate::testing::TestCassette::builder($crate::cassette_name!())
    };
    ($name:expr) => {
        $crate::testing::TestCassette::builder($name)
    };
}

/// Builds a [`TestCassette`].
#[must_use]
pub struct TestCassetteBuilder {
    name: String,
    server: String,
    client: Option<Client>,
    opts: SessionOptions,
    owner_set: bool,
    warn_only: bool,
}

impl TestCassetteBuilder {
    /// The control address (default `$MATGTO_SERVER`, else 127.0.0.1:8889).
    pub fn server(mut self, address: &str) -> Self {
        self.server = address.to_string();
        self
    }
    /// Use this client (its token and TLS settings) instead of dialing.
    pub fn client(mut self, c: &Client) -> Self {
        self.client = Some(c.clone());
        self
    }
    /// The mode (default: the server's default, AUTO unless `--mode`).
    pub fn mode(mut self, m: Mode) -> Self {
        self.opts = self.opts.mode(m);
        self
    }
    /// Every session option (mode, cassette options, lease, faults, …).
    pub fn session_options(mut self, o: SessionOptions) -> Self {
        self.owner_set = o.owner.is_some();
        self.opts = o;
        self
    }
    /// Cassette options.
    pub fn options(mut self, o: crate::CassetteOptions) -> Self {
        self.opts = self.opts.options(o);
        self
    }
    /// Report replay misses on stderr instead of failing the test.
    pub fn misses_as_warnings(mut self) -> Self {
        self.warn_only = true;
        self
    }
    /// Opens the session; panics (failing the test) when it cannot.
    pub async fn start(self) -> TestCassette {
        let name = self.name.clone();
        match self.try_start().await {
            Ok(c) => c,
            Err(e) => panic!("matgto: cannot use cassette {name:?}: {e}"),
        }
    }
    /// Opens the session.
    pub async fn try_start(mut self) -> Result<TestCassette> {
        let client = match self.client.take() {
            Some(c) => c,
            None => Client::connect(&self.server).await?,
        };
        if !self.owner_set {
            self.opts = self.opts.owner(format!("rust test {} pid {}", self.name, std::process::id()));
        }
        let session = client.open_session(&self.name, self.opts).await?;
        Ok(TestCassette { session: Some(session), warn_only: self.warn_only })
    }
}

/// A cassette session of the test's own: its cassette, its own proxy port,
/// a renewed lease. End it with [`finish`](TestCassette::finish)`.await`,
/// which fails the test on a replay miss (`no-match`, `exhausted`,
/// `ws-mismatch`) with each miss explained. Dropped without `finish`, it
/// stops the session from a helper thread and still fails the test on a
/// miss (unless the test is already panicking).
#[derive(Debug)]
pub struct TestCassette {
    session: Option<Session>,
    warn_only: bool,
}

impl TestCassette {
    /// A builder for the cassette `name` (see [`test_cassette!`](crate::test_cassette)).
    pub fn builder(name: impl Into<String>) -> TestCassetteBuilder {
        TestCassetteBuilder {
            name: name.into(),
            server: String::new(),
            client: None,
            opts: SessionOptions::default(),
            owner_set: false,
            warn_only: false,
        }
    }
    /// The session.
    pub fn session(&self) -> &Session {
        self.session.as_ref().expect("session present until finished")
    }
    /// The session's own proxy URL, `http://127.0.0.1:PORT`.
    pub fn proxy_url(&self) -> &str {
        self.session().proxy_url()
    }
    /// The cassette's name.
    pub fn name(&self) -> &str {
        self.session().cassette()
    }
    /// Stops the session and returns its summary, or the failure message:
    /// the session could not be stopped or saved, or replay missed.
    pub async fn try_finish(mut self) -> std::result::Result<pb::SessionSummary, String> {
        let s = self.session.take().expect("session present until finished");
        let (name, id) = (s.cassette().to_string(), s.id().to_string());
        let sum = s.stop().await.map_err(|e| format!("matgto: cannot stop cassette {name:?} ({id}): {e}"))?;
        judge(&name, &id, sum, self.warn_only)
    }
    /// Stops the session; panics (failing the test) on a replay miss, with
    /// the explanation, or when the session could not be stopped or saved.
    pub async fn finish(self) -> pb::SessionSummary {
        match self.try_finish().await {
            Ok(s) => s,
            Err(msg) => panic!("{msg}"),
        }
    }
}

fn judge(
    name: &str,
    id: &str,
    sum: pb::SessionSummary,
    warn_only: bool,
) -> std::result::Result<pb::SessionSummary, String> {
    if !sum.save_error.is_empty() {
        return Err(format!("matgto: cassette {name:?} ({id}): the recording could not be saved: {}", sum.save_error));
    }
    if let Some(msg) = sum.session.as_ref().and_then(misses::explain_misses) {
        if !warn_only {
            return Err(msg);
        }
        eprintln!("warning: {msg}");
    }
    Ok(sum)
}

impl Drop for TestCassette {
    fn drop(&mut self) {
        let Some(mut s) = self.session.take() else { return };
        let (name, id) = (s.cassette().to_string(), s.id().to_string());
        let resolved = s.client().resolved().clone();
        s.disarm();
        drop(s);
        let r = crate::session::stop_blocking(resolved, id.clone());
        if std::thread::panicking() {
            return;
        }
        let verdict = match r {
            Ok(sum) => judge(&name, &id, sum, self.warn_only).err(),
            Err(e) => Some(format!("matgto: cannot stop cassette {name:?} ({id}): {e}")),
        };
        if let Some(msg) = verdict {
            panic!("{msg}");
        }
    }
}

static ENV_LOCK: Mutex<()> = Mutex::new(());

/// The variables [`ProxyEnv`] sets (and restores).
pub const PROXY_ENV_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
];

/// Points the process's proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`,
/// `ALL_PROXY`, lower-case too; `NO_PROXY` emptied, so loopback goes
/// through the proxy as well) and, with a CA file, its CA trust
/// (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`) at a proxy for
/// as long as the guard lives; dropping it restores every variable as it
/// was (set or unset).
///
/// Environment variables are process-wide: guards are serialized (a second
/// one waits for the first to drop), but a thread reading the environment
/// while a guard changes it is not protected (Rust 2024 marks
/// `std::env::set_var` unsafe for this reason); use it in tests that build
/// their HTTP clients after setting it. HTTP clients read these variables
/// when built (`reqwest::Client::new()` does), not per request.
#[must_use]
pub struct ProxyEnv {
    saved: Vec<(&'static str, Option<OsString>)>,
    ca_file: Option<PathBuf>,
    _lock: MutexGuard<'static, ()>,
}

impl ProxyEnv {
    /// Sets the variables to `proxy_url` and, when given, `ca_file`.
    pub fn set(proxy_url: &str, ca_file: Option<&Path>) -> ProxyEnv {
        let lock = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let saved = PROXY_ENV_VARS.iter().map(|k| (*k, std::env::var_os(k))).collect();
        for k in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::set_var(k, proxy_url);
        }
        for k in ["NO_PROXY", "no_proxy"] {
            std::env::remove_var(k);
        }
        if let Some(ca) = ca_file {
            for k in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
                std::env::set_var(k, ca);
            }
        }
        ProxyEnv { saved, ca_file: None, _lock: lock }
    }

    /// Sets the variables to the session's proxy and a file holding the
    /// server's interception CA (removed when the guard drops).
    pub async fn for_session(s: &Session) -> Result<ProxyEnv> {
        let pem = s.client().ca_certificate().await?;
        let path = std::env::temp_dir().join(format!("matgto-ca-{}-{}.pem", std::process::id(), s.id()));
        std::fs::write(&path, pem).map_err(|e| Error::Config(format!("writing the CA to {}: {e}", path.display())))?;
        let mut g = ProxyEnv::set(s.proxy_url(), Some(&path));
        g.ca_file = Some(path);
        Ok(g)
    }
}

impl Drop for ProxyEnv {
    fn drop(&mut self) {
        for (k, v) in &self.saved {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        if let Some(f) = &self.ca_file {
            let _ = std::fs::remove_file(f);
        }
    }
}
