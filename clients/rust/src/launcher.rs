//! A local `matgto serve` started from test code: binary from an argument,
//! `$MATGTO_BIN` or `PATH`; ports picked by the server; the ready-file
//! contract; killed on drop.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Client, Error, Result};

/// A `matgto serve` process of this test process. Dropping it kills the
/// server and removes its temporary folder (ready file, log, CA, and the
/// cassettes unless [`LocalServerBuilder::cassette_dir`] named a folder).
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    proxy: String,
    control: String,
    pid: u32,
    tmp: PathBuf,
    cassette_dir: PathBuf,
    log: PathBuf,
}

/// Builds a [`LocalServer`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct LocalServerBuilder {
    binary: Option<PathBuf>,
    cassette_dir: Option<PathBuf>,
    args: Vec<String>,
    timeout: Option<Duration>,
    watchdog: bool,
}

/// The shell that [`LocalServer::shared`] runs the server under: it kills
/// the server and removes the temporary folder once its stdin (a pipe this
/// process holds open) reaches end of file, which happens when this process
/// exits, however it exits.
const WATCHDOG: &str = r#"tmp="$1"; shift; "$@" </dev/null & child=$!; read _ || true; kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; rm -rf "$tmp""#;

static SHARED: tokio::sync::OnceCell<LocalServer> = tokio::sync::OnceCell::const_new();

#[derive(serde::Deserialize)]
struct Ready {
    proxy: String,
    control: String,
    pid: u32,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The server binary: `explicit`, else `$MATGTO_BIN`, else `matgto` on `PATH`.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let (bin, from) = match explicit {
        Some(p) => (Some(p.to_path_buf()), "the argument"),
        None => match std::env::var_os("MATGTO_BIN").filter(|v| !v.is_empty()) {
            Some(v) => (Some(PathBuf::from(v)), "$MATGTO_BIN"),
            None => (
                std::env::var_os("PATH")
                    .and_then(|p| std::env::split_paths(&p).map(|d| d.join("matgto")).find(|f| f.is_file())),
                "PATH",
            ),
        },
    };
    match bin {
        Some(b) if b.is_file() => Ok(b),
        Some(b) => Err(Error::Launch(format!("the matgto server binary {} (from {from}) does not exist", b.display()))),
        None => Err(Error::Launch(
            "no matgto server binary: pass one to LocalServer::builder().binary(..), set MATGTO_BIN, or put matgto on PATH".into(),
        )),
    }
}

impl LocalServerBuilder {
    /// The server binary (default `$MATGTO_BIN`, else `matgto` on `PATH`).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }
    /// Where cassettes live (default: a temporary folder removed on drop).
    pub fn cassette_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cassette_dir = Some(dir.into());
        self
    }
    /// More `matgto serve` flags, e.g. `--auth-tokens FILE`.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    fn with_watchdog(mut self) -> Self {
        self.watchdog = true;
        self
    }
    /// How long to wait for the ready file (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Starts the server and waits until its ready file appears.
    pub async fn start(self) -> Result<LocalServer> {
        let bin = find_binary(self.binary.as_deref())?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let tmp = std::env::temp_dir().join(format!(
            "matgto-rs-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::Launch(format!("creating {}: {e}", tmp.display())))?;
        let cassette_dir = self.cassette_dir.clone().unwrap_or_else(|| tmp.join("cassettes"));
        std::fs::create_dir_all(&cassette_dir)
            .map_err(|e| Error::Launch(format!("creating {}: {e}", cassette_dir.display())))?;
        let ready = tmp.join("ready.json");
        let log = tmp.join("server.log");
        let logf =
            std::fs::File::create(&log).map_err(|e| Error::Launch(format!("creating {}: {e}", log.display())))?;
        let logf2 = logf.try_clone().map_err(|e| Error::Launch(e.to_string()))?;
        let mut cmd = if self.watchdog {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(WATCHDOG).arg("matgto-watchdog").arg(&tmp).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args(["serve", "--proxy-port", "0", "--control-port", "0", "--cassette-dir"])
            .arg(&cassette_dir)
            .arg("--ready-file")
            .arg(&ready);
        if !self.args.iter().any(|a| a == "--ca-dir" || a == "--ca-cert") {
            // A throwaway interception CA: tests never touch ~/.matgto.
            cmd.arg("--ca-dir").arg(tmp.join("ca"));
        }
        let stdin = if self.watchdog { Stdio::piped() } else { Stdio::null() };
        cmd.args(&self.args).stdin(stdin).stdout(logf).stderr(logf2);
        let child = cmd.spawn().map_err(|e| Error::Launch(format!("starting {}: {e}", bin.display())))?;
        let mut server = LocalServer {
            pid: child.id(),
            child,
            proxy: String::new(),
            control: String::new(),
            tmp,
            cassette_dir,
            log,
        };
        let deadline = Instant::now() + self.timeout.unwrap_or(Duration::from_secs(30));
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Error::Launch(format!(
                    "{} serve exited ({status}) before writing its ready file; output:\n{}",
                    bin.display(),
                    server.output()
                )));
            }
            if let Ok(data) = std::fs::read(&ready) {
                let r: Ready = serde_json::from_slice(&data).map_err(|e| {
                    Error::Launch(format!(
                        "ready file {} is not the JSON object of the contract ({e}): {:?}",
                        ready.display(),
                        String::from_utf8_lossy(&data)
                    ))
                })?;
                // Under the watchdog the child is the shell, not the server.
                let pid_ok = if self.watchdog { r.pid != 0 } else { r.pid == server.pid };
                if r.proxy.is_empty() || r.control.is_empty() || !pid_ok {
                    return Err(Error::Launch(format!(
                        "ready file {} lacks an address or names pid {} (the server is {})",
                        ready.display(),
                        r.pid,
                        server.pid
                    )));
                }
                server.pid = r.pid;
                server.proxy = r.proxy;
                server.control = r.control;
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(Error::Launch(format!("no ready file after the timeout; output:\n{}", server.output())));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl LocalServer {
    /// Starts `matgto serve` ($MATGTO_BIN or PATH) on ports it picks, with
    /// cassettes in a temporary folder.
    pub async fn start() -> Result<LocalServer> {
        LocalServer::builder().start().await
    }
    /// One server for the whole test binary, started by the first caller
    /// (`$MATGTO_BIN`, else `matgto` on `PATH`; cassettes in a temporary
    /// folder) and shared by every test after it, whatever runtime each test
    /// has: a `LocalServer` holds addresses, not connections. A static is
    /// never dropped, so the server runs under a small `/bin/sh` watchdog
    /// that kills it (and removes its folder) when this process exits, even
    /// by a signal. A failed start is not cached: the next caller tries again.
    pub async fn shared() -> Result<&'static LocalServer> {
        SHARED.get_or_try_init(|| LocalServer::builder().with_watchdog().start()).await
    }
    /// A builder for the binary, cassette folder and extra flags.
    pub fn builder() -> LocalServerBuilder {
        LocalServerBuilder::default()
    }
    /// The shared proxy's address (`127.0.0.1:PORT`).
    pub fn proxy_address(&self) -> &str {
        &self.proxy
    }
    /// The control API's address (`127.0.0.1:PORT`).
    pub fn control_address(&self) -> &str {
        &self.control
    }
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// Where its cassettes are.
    pub fn cassette_dir(&self) -> &Path {
        &self.cassette_dir
    }
    /// A client of its control API (token and TLS from the environment).
    pub async fn client(&self) -> Result<Client> {
        Client::connect(&self.control).await
    }
    /// What the server printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}
