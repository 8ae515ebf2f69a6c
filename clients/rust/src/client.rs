//! The control client: every RPC of `matgto.v1.ProxyControl`, typed errors,
//! the API version check.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::connect::{host_of, Bearer, ConnectOptions, Resolved};
use crate::error::NotFound;
use crate::options::{duration_to_proto, truncate_utf8, CassetteOptions, SessionOptions, MAX_OWNER_BYTES};
use crate::pb::proxy_control_client::ProxyControlClient;
use crate::{pb, Error, Fault, Mode, Result, Session};

/// The control API generation this client speaks (package `matgto.v1`).
pub const API_VERSION: u32 = 1;

/// The generated gRPC client this crate wraps (with the bearer token).
pub type RawClient = ProxyControlClient<InterceptedService<Channel, Bearer>>;

/// A client of one matgto server. Cheap to clone; clones share the
/// connection. Connects lazily: the connection is made, and the server's
/// API version checked, on the first call.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    resolved: Resolved,
    rpc: RawClient,
    checked: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("address", &self.inner.resolved.address).field("tls", &self.is_tls()).finish()
    }
}

/// Builds a [`Client`] with explicit connection settings.
#[derive(Clone, Debug, Default)]
pub struct ClientBuilder {
    opts: ConnectOptions,
}

impl ClientBuilder {
    /// The bearer token sent as `authorization: Bearer TOKEN` on every call
    /// (default `$MATGTO_TOKEN`); `token("")` sends none, whatever the
    /// environment says.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.opts.token = Some(token.into());
        self
    }
    /// TLS, trusting the roots in this PEM file (default `$MATGTO_TLS_CA`).
    pub fn tls_ca(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.opts.tls_ca = Some(pem_file.into());
        self
    }
    /// mTLS: present this certificate chain and key (PEM); implies TLS.
    /// Default `$MATGTO_TLS_CERT` and `$MATGTO_TLS_KEY`.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.opts.tls_cert = Some(cert.into());
        self.opts.tls_key = Some(key.into());
        self
    }
    /// Plaintext, explicitly: the TLS variables are ignored and a token may
    /// go to a non-loopback host (e.g. behind an encrypting service mesh).
    /// Without it, the client refuses to send a token in plaintext to a
    /// host other than loopback.
    pub fn plaintext(mut self) -> Self {
        self.opts.plaintext = true;
        self
    }
    /// The deadline of each call (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.opts.timeout = Some(d);
        self
    }
    /// Resolves the settings and creates the client (no network yet).
    pub async fn connect(self) -> Result<Client> {
        Client::from_resolved(self.opts.resolve()?)
    }
}

/// Default owner of the sessions this process opens.
fn default_owner() -> String {
    let prog = std::env::args()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rust".into());
    format!("rust {prog} pid {}", std::process::id())
}

fn ts(t: &Option<prost_types::Timestamp>) -> Option<SystemTime> {
    (*t).and_then(|t| SystemTime::try_from(t).ok())
}

impl Client {
    /// A client of the server at `address` (`"host:port"`, `"[::1]:port"`,
    /// `"https://host:port"` for TLS with the system roots; `""`:
    /// `$MATGTO_SERVER`, else `127.0.0.1:8889`), with the token and TLS files
    /// from the environment.
    pub async fn connect(address: &str) -> Result<Client> {
        Client::builder(address).connect().await
    }

    /// A builder for explicit token / TLS / timeout settings.
    pub fn builder(address: &str) -> ClientBuilder {
        ClientBuilder { opts: ConnectOptions { address: address.to_string(), ..Default::default() } }
    }

    pub(crate) fn from_resolved(resolved: Resolved) -> Result<Client> {
        let channel = resolved.endpoint()?.connect_lazy();
        let rpc = ProxyControlClient::with_interceptor(channel, Bearer(resolved.token.clone()));
        Ok(Client { inner: Arc::new(Inner { resolved, rpc, checked: tokio::sync::OnceCell::new() }) })
    }

    pub(crate) fn resolved(&self) -> &Resolved {
        &self.inner.resolved
    }

    /// The control address (`host:port`).
    pub fn address(&self) -> &str {
        &self.inner.resolved.address
    }

    /// Whether the control connection uses TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.resolved.tls.is_some()
    }

    /// The generated client, for what this crate does not wrap (no API
    /// version check on calls made through it).
    pub fn raw(&self) -> RawClient {
        self.inner.rpc.clone()
    }

    fn rpc(&self) -> RawClient {
        self.inner.rpc.clone()
    }

    /// Refuses (with [`Error::IncompatibleServer`]) a server of another API
    /// generation; checked once per client.
    async fn check(&self) -> Result<()> {
        self.inner
            .checked
            .get_or_try_init(|| async {
                let st = self.rpc().get_status(pb::GetStatusRequest {}).await;
                let st = st.map_err(|e| Error::from_status("GetStatus", e, NotFound::Cassette))?.into_inner();
                check_api_version(self.address(), st.api_version)
            })
            .await
            .map(|_| ())
    }

    /// The server's status: version, addresses, the default session, every
    /// open session, the recently ended ones.
    pub async fn status(&self) -> Result<pb::GetStatusResponse> {
        let st = self.rpc().get_status(pb::GetStatusRequest {}).await;
        let st = st.map_err(|e| Error::from_status("GetStatus", e, NotFound::Cassette))?.into_inner();
        check_api_version(self.address(), st.api_version)?;
        let _ = self.inner.checked.set(());
        Ok(st)
    }

    /// Records cassette `name` in the default session.
    pub async fn start_recording(&self, name: &str, options: &CassetteOptions) -> Result<pb::SessionInfo> {
        self.check().await?;
        let req =
            pb::StartRecordingRequest { name: name.into(), options: options.proto_or_none(), ..Default::default() };
        let r = self.rpc().start_recording(req).await;
        Ok(r.map_err(|e| Error::from_status("StartRecording", e, NotFound::Session))?
            .into_inner()
            .session
            .unwrap_or_default())
    }

    /// Replays cassette `name` in the default session (options override the
    /// stored ones field by field). [`Error::CassetteNotFound`] when absent.
    pub async fn replay(&self, name: &str, options: &CassetteOptions) -> Result<pb::SessionInfo> {
        self.check().await?;
        let req = pb::ReplayRequest { name: name.into(), options: options.proto_or_none(), ..Default::default() };
        let r = self.rpc().replay(req).await;
        Ok(r.map_err(|e| Error::from_status("Replay", e, NotFound::Cassette))?.into_inner().session.unwrap_or_default())
    }

    /// Puts cassette `name` in use in the default session in `mode`.
    pub async fn use_cassette(&self, name: &str, mode: Mode, options: &CassetteOptions) -> Result<pb::SessionInfo> {
        self.check().await?;
        let req = pb::UseCassetteRequest {
            name: name.into(),
            mode: mode as i32,
            options: options.proto_or_none(),
            ..Default::default()
        };
        self.use_cassette_raw(req).await
    }

    async fn use_cassette_raw(&self, req: pb::UseCassetteRequest) -> Result<pb::SessionInfo> {
        let r = self.rpc().use_cassette(req).await;
        Ok(r.map_err(|e| Error::from_status("UseCassette", e, NotFound::Cassette))?
            .into_inner()
            .session
            .unwrap_or_default())
    }

    /// Ends the cassette of `session` (None: the default session), saving a
    /// recording, and closes that session. The summary has the counters,
    /// the misses and where the recording was saved.
    pub async fn stop_recording(&self, session: Option<&str>) -> Result<pb::SessionSummary> {
        self.check().await?;
        let req = pb::StopRecordingRequest { session: wire(session.unwrap_or_default()) };
        let r = self.rpc().stop_recording(req).await;
        Ok(r.map_err(|e| Error::from_status("StopRecording", e, NotFound::Session))?
            .into_inner()
            .summary
            .unwrap_or_default())
    }

    /// Renews the lease of session `id`; returns when it now expires.
    pub async fn renew_session(&self, id: &str) -> Result<Option<SystemTime>> {
        self.check().await?;
        let r = self.rpc().renew_session(pb::RenewSessionRequest { session: wire(id) }).await;
        let r = r.map_err(|e| Error::from_status("RenewSession", e, NotFound::Session))?.into_inner();
        Ok(ts(&r.lease_expires_at))
    }

    /// Adds fault rules to `session` (`"default"` or `""`: the default one)
    /// and returns all its rules, in the order added, with their ids, and
    /// the seed (0 keeps the current seed).
    pub async fn set_faults(&self, session: &str, faults: &[Fault], seed: u64) -> Result<(Vec<Fault>, u64)> {
        self.check().await?;
        let req =
            pb::SetFaultsRequest { session: wire(session), faults: faults.iter().map(Fault::to_proto).collect(), seed };
        let r = self.rpc().set_faults(req).await;
        let r = r.map_err(|e| Error::from_status("SetFaults", e, NotFound::Session))?.into_inner();
        Ok((r.faults.iter().filter_map(Fault::from_proto).collect(), r.seed))
    }

    /// Removes the faults `ids` of `session` (all when empty); returns those left.
    pub async fn clear_faults(&self, session: &str, ids: &[&str]) -> Result<Vec<Fault>> {
        self.check().await?;
        let req = pb::ClearFaultsRequest { session: wire(session), ids: ids.iter().map(|s| s.to_string()).collect() };
        let r = self.rpc().clear_faults(req).await;
        let r = r.map_err(|e| Error::from_status("ClearFaults", e, NotFound::Fault))?.into_inner();
        Ok(r.faults.iter().filter_map(Fault::from_proto).collect())
    }

    /// The cassettes whose names start with `prefix`.
    pub async fn list_cassettes(&self, prefix: &str) -> Result<Vec<pb::CassetteInfo>> {
        self.check().await?;
        let r = self.rpc().list_cassettes(pb::ListCassettesRequest { prefix: prefix.into() }).await;
        Ok(r.map_err(|e| Error::from_status("ListCassettes", e, NotFound::Cassette))?.into_inner().cassettes)
    }

    /// Follows the server's events (exchanges, misses with their
    /// explanation, session events) matching `filter`. Returns once the
    /// server has subscribed the watcher, so traffic driven afterwards is
    /// seen; drop the stream to stop watching. Needs a `read` token when the
    /// server wants tokens ([`Error::Unauthenticated`] otherwise); a token
    /// limited to a name prefix sees only its cassettes.
    pub async fn watch_events(&self, filter: &crate::EventFilter) -> Result<crate::EventStream> {
        self.check().await?;
        let req = pb::WatchEventsRequest { session: filter.session.clone(), cassette: filter.cassette.clone() };
        let r = self.rpc().watch_events(req).await.map_err(crate::events::to_error)?;
        Ok(crate::EventStream::new(r.into_inner()))
    }

    /// The stored cassette `name`, decoded.
    pub async fn get_cassette(&self, name: &str) -> Result<pb::Cassette> {
        use prost::Message;
        self.check().await?;
        let op = "GetCassette";
        let r = self.rpc().get_cassette(pb::GetCassetteRequest { name: name.into() }).await;
        let mut stream = r.map_err(|e| Error::from_status(op, e, NotFound::Cassette))?.into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(|e| Error::from_status(op, e, NotFound::Cassette))? {
            data.extend_from_slice(&chunk.data);
        }
        pb::Cassette::decode(data.as_slice()).map_err(|e| Error::CorruptCassette {
            op,
            message: format!("cassette {name:?}: the bytes received do not decode: {e}"),
        })
    }

    /// Stores `cassette` under `name` (its bytes must be a complete
    /// cassette: `schema_version` 1, `complete` true), in chunks of 1 MiB.
    pub async fn put_cassette(&self, name: &str, cassette: &pb::Cassette) -> Result<pb::CassetteInfo> {
        use prost::Message;
        self.check().await?;
        let data = cassette.encode_to_vec();
        let mut chunks: Vec<pb::CassetteChunk> =
            data.chunks(1 << 20).map(|d| pb::CassetteChunk { name: String::new(), data: d.to_vec() }).collect();
        if chunks.is_empty() {
            chunks.push(pb::CassetteChunk::default());
        }
        chunks[0].name = name.into();
        let stream = tonic::codegen::tokio_stream::iter(chunks);
        let r = self.rpc().put_cassette(stream).await;
        Ok(r.map_err(|e| Error::from_status("PutCassette", e, NotFound::Cassette))?
            .into_inner()
            .cassette
            .unwrap_or_default())
    }

    /// Deletes cassette `name` ([`Error::CassetteNotFound`] when absent,
    /// [`Error::FailedPrecondition`] while in use).
    pub async fn delete_cassette(&self, name: &str) -> Result<()> {
        self.check().await?;
        let r = self.rpc().delete_cassette(pb::DeleteCassetteRequest { name: name.into() }).await;
        r.map_err(|e| Error::from_status("DeleteCassette", e, NotFound::Cassette))?;
        Ok(())
    }

    /// The interception CA (PEM) that HTTPS clients must trust.
    pub async fn ca_certificate(&self) -> Result<String> {
        self.check().await?;
        let r = self.rpc().get_ca_certificate(pb::GetCaCertificateRequest {}).await;
        Ok(r.map_err(|e| Error::from_status("GetCACertificate", e, NotFound::Cassette))?.into_inner().pem)
    }

    /// Makes the server exit (after saving active recordings), giving
    /// in-flight exchanges `grace` (None: the server's default).
    pub async fn shutdown(&self, grace: Option<Duration>) -> Result<()> {
        self.check().await?;
        let r = self.rpc().shutdown(pb::ShutdownRequest { grace: grace.map(duration_to_proto) }).await;
        r.map_err(|e| Error::from_status("Shutdown", e, NotFound::Cassette))?;
        Ok(())
    }

    /// `http://` + a proxy address the server reported, with an unspecified
    /// host (`0.0.0.0`, `[::]`) replaced by the control host.
    pub fn proxy_url_for(&self, proxy_address: &str) -> Result<String> {
        proxy_url(&self.inner.resolved.host, proxy_address)
    }

    /// The shared proxy's URL (default session's traffic).
    pub async fn proxy_url(&self) -> Result<String> {
        let st = self.status().await?;
        self.proxy_url_for(&st.proxy_address)
    }

    /// Opens a session of its own with cassette `name` (see
    /// [`SessionOptions`]): a new session with the default 30 s lease renewed
    /// in the background, in the server's default mode unless set. Stop it
    /// with [`Session::stop`].
    pub async fn open_session(&self, name: &str, opts: SessionOptions) -> Result<Session> {
        self.check().await?;
        let new_session = opts.session.is_none();
        let lease = if new_session { opts.lease } else { None };
        let req = use_cassette_request(name, &opts);
        let info = self.use_cassette_raw(req).await?;
        let id = if info.id.is_empty() { opts.session.clone().unwrap_or_default() } else { info.id.clone() };
        if id.is_empty() || (new_session && id == "default") {
            let _ = self.stop_recording(opts.session.as_deref()).await;
            return Err(Error::Config(format!(
                "open_session {name:?}: the server at {} opened no session of its own (id {:?}): it predates sessions",
                self.address(),
                info.id
            )));
        }
        let proxy = match self.proxy_url_for(&info.proxy_address) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.stop_recording(Some(&id)).await;
                return Err(e);
            }
        };
        if !opts.faults.is_empty() || opts.fault_seed != 0 {
            if let Err(e) = self.set_faults(&id, &opts.faults, opts.fault_seed).await {
                if new_session {
                    let _ = self.stop_recording(Some(&id)).await;
                }
                return Err(e);
            }
        }
        let granted = info.lease.as_ref().map(crate::options::duration_from_proto).filter(|d| !d.is_zero());
        let renew_every = if new_session { lease.map(|l| granted.unwrap_or(l)) } else { None };
        Ok(Session::new(self.clone(), id, info, proxy, renew_every, new_session))
    }
}

/// The id of the default session (the shared proxy port's).
pub const DEFAULT_SESSION: &str = "default";

/// The `session` field of a request: empty for the default session, which
/// [`DEFAULT_SESSION`] also names.
fn wire(id: &str) -> String {
    if id == DEFAULT_SESSION {
        String::new()
    } else {
        id.to_string()
    }
}

/// Checks the server's API generation against [`API_VERSION`].
/// The request [`Client::open_session`] sends (the conformance suite checks
/// it against clients/conformance/sessions.json).
pub(crate) fn use_cassette_request(name: &str, opts: &SessionOptions) -> pb::UseCassetteRequest {
    let new_session = opts.session.is_none();
    let owner = match (&opts.owner, new_session) {
        (Some(o), _) => truncate_utf8(o, MAX_OWNER_BYTES),
        (None, true) => truncate_utf8(&default_owner(), MAX_OWNER_BYTES),
        (None, false) => String::new(),
    };
    let lease = if new_session { opts.lease } else { None };
    pb::UseCassetteRequest {
        name: name.into(),
        mode: opts.mode as i32,
        options: opts.options.proto_or_none(),
        session: wire(opts.session.as_deref().unwrap_or_default()),
        new_session,
        lease: lease.map(duration_to_proto),
        owner,
    }
}

pub fn check_api_version(address: &str, v: u32) -> Result<()> {
    if v == API_VERSION {
        return Ok(());
    }
    let hint = if v == 0 {
        "the server reports no api_version: it predates matgto.v1 or is not a matgto server"
    } else {
        "use a client and a server of the same generation"
    };
    Err(Error::IncompatibleServer { address: address.to_string(), server: v, client: API_VERSION, hint })
}

/// `http://` + `proxy_address`, an unspecified host (`0.0.0.0`, `::`)
/// replaced by `control_host`, or by the loopback address of its family
/// (`127.0.0.1`, `::1`) when that is unspecified too (IPv6 hosts bracketed).
pub fn proxy_url(control_host: &str, proxy_address: &str) -> Result<String> {
    let (host, port) = match proxy_address.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => return Err(Error::Config(format!("the server reports an unusable proxy address {proxy_address:?}"))),
    };
    let unspecified =
        |h: &str| h.is_empty() || h.parse::<std::net::IpAddr>().map(|ip| ip.is_unspecified()).unwrap_or(false);
    let mut host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    if unspecified(&host) {
        let ctl = host_of(control_host);
        host = if !unspecified(&ctl) {
            ctl
        } else if host.contains(':') {
            "::1".into() // an IPv6-only listener is not reachable on 127.0.0.1
        } else {
            "127.0.0.1".into()
        };
    }
    if host.contains(':') {
        host = format!("[{host}]");
    }
    Ok(format!("http://{host}:{port}"))
}
