//! Cassette options (`matgto.v1.CassetteOptions`), latency and the options of
//! a session, in Rust's builder idiom.
use std::time::Duration;

use crate::faults::Fault;
use crate::pb;

pub use pb::{
    BodyMatch, BodyStorage, ExhaustedPolicy, MatchField, MatchRules, MissPolicy, Mode, RedactRules, RepeatPolicy,
    UnredactablePolicy, UrlRewrite, WsTiming,
};

/// The default lease of the sessions this client opens: the server ends such
/// a session 30 s after its last renewal; the client renews every lease/3.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The longest owner string the server keeps.
pub const MAX_OWNER_BYTES: usize = 256;

/// How fast replay answers ([`CassetteOptions::latency`]): stored with the
/// cassette when recording, overridable per session on replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Answer at once (the server's default); overrides a stored latency.
    Fast,
    /// Each response starts after its recorded time to first byte and ends
    /// after its recorded total, both times `scale` (0 or 1: as recorded).
    AsRecorded { scale: f64 },
    /// Each response starts after `delay` ± `jitter` (uniform).
    Fixed { delay: Duration, jitter: Duration },
}

impl Latency {
    /// Reads a latency as the CLI's `--latency` takes it: `fast`,
    /// `as-recorded`, a duration (`200ms`, `1.5s`, `250us`) or a duration
    /// with a jitter (`100ms±50ms`, also `100ms+-50ms`).
    pub fn parse(s: &str) -> Result<Latency, crate::Error> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "fast" => return Ok(Latency::Fast),
            "as-recorded" | "as_recorded" | "asrecorded" => return Ok(Latency::AsRecorded { scale: 0.0 }),
            _ => {}
        }
        let bad = || {
            crate::Error::Config(format!(
                "latency {s:?}: want fast, as-recorded, a duration (200ms) or a duration±jitter (100ms±50ms)"
            ))
        };
        let (base, jitter) = match t.split_once('±').or_else(|| t.split_once("+-")) {
            Some((b, j)) => (b, Some(j)),
            None => (t, None),
        };
        let delay = parse_duration(base).ok_or_else(bad)?;
        let jitter = match jitter {
            Some(j) => parse_duration(j).ok_or_else(bad)?,
            None => Duration::ZERO,
        };
        Ok(Latency::Fixed { delay, jitter })
    }

    pub(crate) fn to_proto(self) -> pb::Latency {
        match self {
            Latency::Fast => pb::Latency { mode: pb::LatencyMode::LatencyFast as i32, ..Default::default() },
            Latency::AsRecorded { scale } => {
                pb::Latency { mode: pb::LatencyMode::LatencyAsRecorded as i32, scale, ..Default::default() }
            }
            Latency::Fixed { delay, jitter } => pb::Latency {
                mode: pb::LatencyMode::LatencyFixed as i32,
                fixed: Some(duration_to_proto(delay)),
                jitter: (!jitter.is_zero()).then(|| duration_to_proto(jitter)),
                ..Default::default()
            },
        }
    }
}

/// "1.5s", "200ms", "250us"/"250µs", "10ns", "2m", "1h": a decimal number and
/// a unit (hand-written: the grammar of the CLI's `--latency`).
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

pub(crate) fn duration_to_proto(d: Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

pub(crate) fn duration_from_proto(d: &prost_types::Duration) -> Duration {
    if d.seconds < 0 || d.nanos < 0 {
        return Duration::ZERO;
    }
    Duration::new(d.seconds as u64, d.nanos as u32)
}

/// The cassette's options (`matgto.v1.CassetteOptions`): stored with a
/// recording; on replay each field given overrides the stored one. Unset
/// fields keep the server's defaults.
///
/// ```
/// use matgto_client::{CassetteOptions, Latency, MissPolicy, RepeatPolicy};
/// let o = CassetteOptions::new()
///     .repeat(RepeatPolicy::Reuse)
///     .on_miss(MissPolicy::MissPassthrough)
///     .latency(Latency::parse("100ms±20ms").unwrap());
/// assert_eq!(o.to_proto().repeat, RepeatPolicy::Reuse as i32);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CassetteOptions {
    inner: pb::CassetteOptions,
}

impl CassetteOptions {
    pub fn new() -> Self {
        Self::default()
    }
    /// Starts from a generated message: the escape hatch for fields this
    /// builder does not name.
    pub fn from_proto(p: pb::CassetteOptions) -> Self {
        CassetteOptions { inner: p }
    }
    /// What a replay does once every recorded answer to a request was used.
    pub fn on_exhausted(mut self, p: ExhaustedPolicy) -> Self {
        self.inner.on_exhausted = p as i32;
        self
    }
    /// `Sequential` (the default: each recorded answer once, in order) or
    /// `Reuse` (any recorded answer any number of times).
    pub fn repeat(mut self, p: RepeatPolicy) -> Self {
        self.inner.repeat = p as i32;
        self
    }
    /// What a replay miss does: `MissError` (599, the default),
    /// `MissPassthrough` (forward live), `MissRecord` (forward and record).
    pub fn on_miss(mut self, p: MissPolicy) -> Self {
        self.inner.on_miss = p as i32;
        self
    }
    /// Which request fields must match, and how.
    pub fn match_rules(mut self, r: MatchRules) -> Self {
        self.inner.match_rules = Some(r);
        self
    }
    /// What is redacted before the cassette is written.
    pub fn redact(mut self, r: RedactRules) -> Self {
        self.inner.redact = Some(r);
        self
    }
    /// Store bodies decoded (gzip/br/deflate undone) rather than as sent.
    pub fn store_decoded(mut self) -> Self {
        self.inner.body_storage = BodyStorage::Decoded as i32;
        self
    }
    /// Store bodies as they were sent (the server's default); given to a
    /// replay, it overrides a cassette stored with decoded bodies.
    pub fn store_as_sent(mut self) -> Self {
        self.inner.body_storage = BodyStorage::AsSent as i32;
        self
    }
    /// WebSocket replay timing.
    pub fn ws_timing(mut self, t: WsTiming) -> Self {
        self.inner.ws_timing = t as i32;
        self
    }
    /// WebSocket replay speed factor (with `WsTiming::AsRecorded`).
    pub fn ws_speed(mut self, speed: f64) -> Self {
        self.inner.ws_speed = speed;
        self
    }
    /// Replay timing of streamed HTTP bodies (Server-Sent Events, chunked
    /// bodies): `AsFastAsPossible` (the server's default) sends the recorded
    /// pieces at once, `AsRecorded` keeps the recorded gaps (divided by
    /// [`stream_speed`](Self::stream_speed)).
    pub fn stream_timing(mut self, t: WsTiming) -> Self {
        self.inner.stream_timing = t as i32;
        self
    }
    /// Streamed-body replay speed factor (with `WsTiming::AsRecorded`).
    pub fn stream_speed(mut self, speed: f64) -> Self {
        self.inner.stream_speed = speed;
        self
    }
    /// How fast replay answers.
    pub fn latency(mut self, l: Latency) -> Self {
        self.inner.latency = Some(l.to_proto());
        self
    }
    /// The message sent to the server.
    pub fn to_proto(&self) -> pb::CassetteOptions {
        self.inner.clone()
    }
    pub(crate) fn proto_or_none(&self) -> Option<pb::CassetteOptions> {
        (self.inner != pb::CassetteOptions::default()).then(|| self.inner.clone())
    }
}

/// How [`Client::open_session`](crate::Client::open_session) opens a
/// session: mode, cassette options, lease, owner, faults.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub(crate) mode: Mode,
    pub(crate) options: CassetteOptions,
    pub(crate) lease: Option<Duration>,
    pub(crate) owner: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) fault_seed: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            mode: Mode::Unspecified,
            options: CassetteOptions::default(),
            lease: Some(DEFAULT_LEASE),
            owner: None,
            session: None,
            faults: Vec::new(),
            fault_seed: 0,
        }
    }
}

impl SessionOptions {
    pub fn new() -> Self {
        Self::default()
    }
    /// The mode; default `Mode::Unspecified`: the server's default mode
    /// (`matgto serve --mode`, AUTO unless set: replay when the cassette
    /// exists, record otherwise).
    pub fn mode(mut self, m: Mode) -> Self {
        self.mode = m;
        self
    }
    /// The cassette options.
    pub fn options(mut self, o: CassetteOptions) -> Self {
        self.options = o;
        self
    }
    /// The lease (1 s..1 h; default [`DEFAULT_LEASE`]), renewed in the
    /// background every lease/3 until the session stops.
    pub fn lease(mut self, d: Duration) -> Self {
        self.lease = Some(d);
        self
    }
    /// No lease: the session lives until stopped (or the server stops).
    pub fn no_lease(mut self) -> Self {
        self.lease = None;
        self
    }
    /// Free text shown in the server's status (≤ 256 bytes, cut beyond);
    /// default `"rust <program> pid <pid>"`.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
    /// Put the cassette in this existing session (`"default"`: the default
    /// one) instead of opening a new one; no lease is renewed then.
    pub fn session(mut self, id: impl Into<String>) -> Self {
        self.session = Some(id.into());
        self
    }
    /// Fault rules added once the session is open.
    pub fn fault(mut self, f: Fault) -> Self {
        self.faults.push(f);
        self
    }
    /// The seed of the session's fault generator (probability selectors).
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = seed;
        self
    }
}

/// Cuts `s` to at most `n` bytes on a character boundary.
pub(crate) fn truncate_utf8(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
