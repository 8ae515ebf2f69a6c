//! A cassette session of one's own on a shared server: its own proxy
//! listener, a lease renewed in the background, faults, and a stop.
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::{pb, Client, Error, Fault, Result};

/// A session opened by [`Client::open_session`] (or the test helper).
///
/// Stop it with [`Session::stop`]`.await`, which returns the summary and
/// any error. **Drop** stops a session not stopped yet, as far as Rust
/// allows: a destructor cannot `.await`, so `drop` dials the server again on
/// a short-lived thread with a runtime of its own and stops the session
/// there, blocking the dropping thread for that round trip (it never blocks
/// on the runtime the session was opened on, so it cannot deadlock a
/// current-thread runtime). Its result is lost; if even that fails, the
/// server ends the session when its lease runs out.
pub struct Session {
    client: Client,
    id: String,
    info: pb::SessionInfo,
    proxy_url: String,
    lease: Option<Duration>,
    renewal: Option<tokio::task::JoinHandle<()>>,
    state: Arc<Mutex<State>>,
    close_on_stop: bool,
    stopped: bool,
}

#[derive(Default)]
struct State {
    lost: Option<String>,
    expires_at: Option<SystemTime>,
    renewals: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session {} (cassette {:?})", self.id, self.info.cassette)
    }
}

impl Session {
    pub(crate) fn new(
        client: Client,
        id: String,
        info: pb::SessionInfo,
        proxy_url: String,
        lease: Option<Duration>,
        close_on_stop: bool,
    ) -> Session {
        let state = Arc::new(Mutex::new(State {
            expires_at: info.lease_expires_at.and_then(|t| SystemTime::try_from(t).ok()),
            ..Default::default()
        }));
        let renewal = lease.map(|lease| {
            let (c, id, st) = (client.clone(), id.clone(), state.clone());
            let cassette = info.cassette.clone();
            tokio::spawn(async move {
                let every = (lease / 3).max(Duration::from_millis(100));
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    match c.renew_session(&id).await {
                        Ok(exp) => {
                            let mut s = st.lock().unwrap();
                            s.expires_at = exp;
                            s.renewals += 1;
                        }
                        Err(Error::SessionNotFound { message, .. }) => {
                            st.lock().unwrap().lost = Some(format!(
                                "session {id} (cassette {cassette:?}) ended on the server before it was stopped (lease {lease:?}): {message}"
                            ));
                            return;
                        }
                        Err(_) => {} // retried at the next tick: the lease has two more
                    }
                }
            })
        });
        Session { client, id, info, proxy_url, lease, renewal, state, close_on_stop, stopped: false }
    }

    /// `"s-"` + 16 hex digits (`"default"` for the default session).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Follows this session's events
    /// ([`Client::watch_events`](crate::Client::watch_events) filtered to
    /// its id).
    pub async fn watch_events(&self) -> crate::Result<crate::EventStream> {
        self.client.watch_events(&crate::EventFilter::session(self.id.clone())).await
    }
    /// The cassette's name.
    pub fn cassette(&self) -> &str {
        &self.info.cassette
    }
    /// The session as opened: effective mode (AUTO resolved), options,
    /// addresses, lease.
    pub fn info(&self) -> &pb::SessionInfo {
        &self.info
    }
    /// The effective mode (`Record` or `Replay` for an AUTO session).
    pub fn mode(&self) -> crate::Mode {
        crate::Mode::try_from(self.info.mode).unwrap_or(crate::Mode::Unspecified)
    }
    /// The session's own proxy listener, `http://127.0.0.1:PORT`: any HTTP
    /// client takes it unchanged (`reqwest::Proxy::all`, `HTTP_PROXY`); every
    /// request sent there belongs to this session.
    pub fn proxy_url(&self) -> &str {
        &self.proxy_url
    }
    /// The shared proxy port with the session as proxy user
    /// (`http://s-…:matgto@127.0.0.1:8888`, sent as `Proxy-Authorization:
    /// Basic`), for when only the shared port is reachable.
    pub fn shared_proxy_url(&self) -> Option<&str> {
        (!self.info.proxy_url.is_empty()).then_some(self.info.proxy_url.as_str())
    }
    /// The client the session was opened with.
    pub fn client(&self) -> &Client {
        &self.client
    }
    /// The lease renewed in the background (None: none).
    pub fn lease(&self) -> Option<Duration> {
        self.lease
    }
    /// When the lease ends unless renewed, as of the last renewal.
    pub fn lease_expires_at(&self) -> Option<SystemTime> {
        self.state.lock().unwrap().expires_at
    }
    /// How many background renewals succeeded.
    pub fn renewals(&self) -> u64 {
        self.state.lock().unwrap().renewals
    }
    /// `Some(explanation)` once a renewal found the session gone.
    pub fn lost(&self) -> Option<String> {
        self.state.lock().unwrap().lost.clone()
    }
    /// Renews the lease now.
    pub async fn renew(&self) -> Result<Option<SystemTime>> {
        let exp = self.client.renew_session(&self.id).await?;
        self.state.lock().unwrap().expires_at = exp;
        Ok(exp)
    }
    /// A fresh snapshot of the session (counters, misses, faults).
    pub async fn status(&self) -> Result<pb::SessionInfo> {
        let st = self.client.status().await?;
        st.sessions.into_iter().chain(st.session).find(|s| s.id == self.id).ok_or_else(|| Error::SessionNotFound {
            op: "Status",
            message: format!("session {} is not open on the server", self.id),
        })
    }
    /// Adds one fault rule; returns it with its id.
    pub async fn add_fault(&self, f: Fault) -> Result<Fault> {
        let mut added = self.add_faults(&[f]).await?;
        added.pop().ok_or_else(|| Error::Config("SetFaults returned no rule".into()))
    }
    /// Adds fault rules; returns them with their ids.
    pub async fn add_faults(&self, faults: &[Fault]) -> Result<Vec<Fault>> {
        let (all, _) = self.client.set_faults(&self.id, faults, 0).await?;
        Ok(all[all.len().saturating_sub(faults.len())..].to_vec())
    }
    /// Sets the seed of the session's fault generator.
    pub async fn set_fault_seed(&self, seed: u64) -> Result<()> {
        self.client.set_faults(&self.id, &[], seed).await.map(|_| ())
    }
    /// Removes the faults `ids` (all when empty); returns those left.
    pub async fn clear_faults(&self, ids: &[&str]) -> Result<Vec<Fault>> {
        self.client.clear_faults(&self.id, ids).await
    }

    /// Ends the renewals and keeps drop from stopping the session (its
    /// owner stops it another way).
    pub(crate) fn disarm(&mut self) {
        self.stopped = true;
        if let Some(h) = self.renewal.take() {
            h.abort();
        }
    }

    /// Ends the renewals, then the session's cassette (saving a recording),
    /// and closes the session. Returns the summary: counters, misses, where
    /// the recording went, warnings.
    ///
    /// When the session was lost (its lease expired, or someone stopped it),
    /// returns [`Error::SessionLost`] with the server's account of that end
    /// when it still has one.
    pub async fn stop(mut self) -> Result<pb::SessionSummary> {
        self.stopped = true;
        if let Some(h) = self.renewal.take() {
            h.abort();
        }
        let lost = self.lost();
        let lost = match lost {
            Some(l) => l,
            None => match self.client.stop_recording(Some(&self.id)).await {
                Err(Error::SessionNotFound { message, .. }) if self.id != "default" => format!(
                    "session {} (cassette {:?}) had ended on the server before stop: {message}",
                    self.id, self.info.cassette
                ),
                other => return other,
            },
        };
        let summary = match self.client.status().await {
            Ok(st) => st.ended_sessions.into_iter().find(|s| s.session.as_ref().is_some_and(|i| i.id == self.id)),
            Err(_) => None,
        };
        let message = match &summary {
            Some(s) => format!("{lost} (end reason {:?})", s.end_reason),
            None => lost,
        };
        Err(Error::SessionLost { message, summary: summary.map(Box::new) })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(h) = self.renewal.take() {
            h.abort();
        }
        if self.stopped || !self.close_on_stop {
            return;
        }
        let _ = stop_blocking(self.client.resolved().clone(), self.id.clone());
    }
}

/// Stops `session` from a thread of its own with a fresh connection and a
/// current-thread runtime (drop handlers cannot await).
pub(crate) fn stop_blocking(resolved: crate::connect::Resolved, session: String) -> Result<pb::SessionSummary> {
    let t = std::thread::Builder::new().name("matgto-stop".into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("a runtime to stop session {session}: {e}")))?;
        rt.block_on(async {
            let c = Client::from_resolved(resolved)?;
            c.stop_recording(Some(&session)).await
        })
    });
    match t {
        Ok(t) => t.join().unwrap_or_else(|_| Err(Error::Config("the stop thread panicked".into()))),
        Err(e) => Err(Error::Config(format!("a thread to stop the session: {e}"))),
    }
}
