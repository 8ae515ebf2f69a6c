//! Replay misses: which fail a test, and how they are explained.
use crate::pb;

/// Nothing recorded matched the request (answered 599).
pub const MISS_NO_MATCH: &str = "no-match";
/// Every recorded answer was used and `on_exhausted` is `ExhaustedError`.
pub const MISS_EXHAUSTED: &str = "exhausted";
/// A WebSocket client message differed from the recorded one.
pub const MISS_WS_MISMATCH: &str = "ws-mismatch";

/// Whether the miss left the code under test without its recorded answer
/// (`no-match`, `exhausted`, `ws-mismatch`); misses the miss policy
/// forwarded (`"no-match, passed through"`, `"no-match, recorded"`) are not.
pub fn is_failure(m: &pb::Miss) -> bool {
    matches!(m.reason.as_str(), MISS_NO_MATCH | MISS_EXHAUSTED | MISS_WS_MISMATCH)
}

/// The session's misses that fail a test.
pub fn failed_misses(s: &pb::SessionInfo) -> Vec<&pb::Miss> {
    s.misses.iter().filter(|m| is_failure(m)).collect()
}

fn clip(v: &str) -> String {
    const MAX: usize = 200;
    if v.len() > MAX {
        format!("{:?}… ({} bytes)", crate::options::truncate_utf8(v, MAX), v.len())
    } else {
        format!("{v:?}")
    }
}

/// One miss explained: the request, the reason, the closest recorded
/// request and the fields that differ.
///
/// ```text
/// GET http://api.example.com/users?page=2 (no-match)
///   closest recorded #3: GET http://api.example.com/users?page=1
///     query: recorded "page=1", live "page=2"
/// ```
pub fn explain_miss(m: &pb::Miss) -> String {
    let mut b = format!("{} {} ({})", m.method, m.url, m.reason);
    let Some(c) = m.closest.first() else {
        if m.reason == MISS_NO_MATCH {
            b.push_str("\n  nothing recorded is close to it");
        }
        return b;
    };
    b.push_str(&format!("\n  closest recorded #{}: {} {}", c.interaction_index, c.method, c.url));
    for d in &c.differences {
        b.push_str(&format!("\n    {}: recorded {}, live {}", d.field, clip(&d.recorded), clip(&d.live)));
    }
    if c.differences.is_empty() && m.reason == MISS_EXHAUSTED {
        b.push_str("\n    identical, but every recorded answer to it was already used");
    }
    if m.closest.len() > 1 {
        b.push_str(&format!("\n  ({} more candidate(s))", m.closest.len() - 1));
    }
    b
}

/// The test helper's failure message for the session's failed misses
/// (None when there are none).
pub fn explain_misses(s: &pb::SessionInfo) -> Option<String> {
    let failed = failed_misses(s);
    if failed.is_empty() {
        return None;
    }
    let mode = pb::Mode::try_from(s.mode).map(|m| m.as_str_name()).unwrap_or("?");
    let mut b = format!(
        "matgto: cassette {:?} (session {}, mode {mode}): {} request(s) found no recorded answer:",
        s.cassette,
        s.id,
        failed.len()
    );
    for (i, m) in failed.iter().enumerate() {
        b.push_str(&format!("\n{}. {}", i + 1, explain_miss(m).replace('\n', "\n   ")));
    }
    if s.misses.len() >= 100 && s.missed > s.misses.len() as u64 {
        b.push_str(&format!("\n(the server lists the first {} of {} misses)", s.misses.len(), s.missed));
    }
    Some(b)
}

/// The JSON body of a proxy error (`X-Matgto-Error`, e.g. the 599 of a
/// replay miss): `matgto.v1.ProxyError` as JSON.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProxyError {
    pub error: String,
    pub message: String,
    pub cassette: String,
    pub miss: Option<serde_json::Value>,
}

impl ProxyError {
    /// Parses the body of a response the proxy answered itself.
    pub fn parse(body: &[u8]) -> Option<ProxyError> {
        serde_json::from_slice(body).ok()
    }
}
