//! Fault rules of a session (`SetFaults`/`ClearFaults`): answer with a
//! status, delay, hang, reset the connection, throttle, disturb WebSockets.
use std::time::Duration;

use crate::options::{duration_from_proto, duration_to_proto};
use crate::pb;
pub use pb::reset_fault::When as ResetPoint;

/// Which matching requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Selector {
    /// Every matching request (the default).
    #[default]
    Every,
    /// Each with this probability (0..1), drawn from the session's seeded
    /// generator.
    Probability(f64),
    /// Every n-th matching request.
    EveryNth(u32),
    /// The first n matching requests.
    FirstN(u32),
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this status, headers and body instead (nothing forwarded
    /// or recorded).
    Status { code: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Wait before the response starts.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Reset the TCP connection at this point.
    Reset(ResetPoint),
    /// Limit the response to this many bytes per second.
    Bandwidth(u64),
    /// WebSocket upgrades only: drop after n messages (0: never) and/or
    /// delay each message.
    WebSocket { drop_after_messages: u32, message_delay: Duration },
}

/// A fault rule. Build one with an action constructor and refine it:
///
/// ```
/// use matgto_client::Fault;
/// let f = Fault::status(503).body("try later").first_n(2).url(r"/orders/.*");
/// assert_eq!(f.to_proto().url_pattern, "/orders/.*");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// Server-assigned ("f1", …); empty before it is added.
    pub id: String,
    /// Only requests with this method (empty: any).
    pub method: String,
    /// Only requests whose absolute URL this RE2 pattern is found in.
    pub url_pattern: String,
    pub selector: Selector,
    pub action: FaultAction,
    /// How many times the server applied it (in answers from the server).
    pub applied: u64,
}

impl Fault {
    fn new(action: FaultAction) -> Fault {
        Fault {
            id: String::new(),
            method: String::new(),
            url_pattern: String::new(),
            selector: Selector::Every,
            action,
            applied: 0,
        }
    }
    /// Answer with `code` instead of forwarding.
    pub fn status(code: u16) -> Fault {
        Fault::new(FaultAction::Status { code, headers: Vec::new(), body: Vec::new() })
    }
    pub fn delay(d: Duration) -> Fault {
        Fault::new(FaultAction::Delay(d))
    }
    pub fn hang() -> Fault {
        Fault::new(FaultAction::Hang)
    }
    pub fn reset(when: ResetPoint) -> Fault {
        Fault::new(FaultAction::Reset(when))
    }
    pub fn bandwidth(bytes_per_second: u64) -> Fault {
        Fault::new(FaultAction::Bandwidth(bytes_per_second))
    }
    pub fn websocket(drop_after_messages: u32, message_delay: Duration) -> Fault {
        Fault::new(FaultAction::WebSocket { drop_after_messages, message_delay })
    }
    /// A header of a [`Fault::status`] answer.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Fault {
        if let FaultAction::Status { headers, .. } = &mut self.action {
            headers.push((name.into(), value.into()));
        }
        self
    }
    /// The body of a [`Fault::status`] answer.
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Fault {
        if let FaultAction::Status { body, .. } = &mut self.action {
            *body = b.into();
        }
        self
    }
    pub fn method(mut self, m: impl Into<String>) -> Fault {
        self.method = m.into();
        self
    }
    /// An RE2 pattern searched in the request's absolute URL.
    pub fn url(mut self, pattern: impl Into<String>) -> Fault {
        self.url_pattern = pattern.into();
        self
    }
    pub fn probability(mut self, p: f64) -> Fault {
        self.selector = Selector::Probability(p);
        self
    }
    pub fn every_nth(mut self, n: u32) -> Fault {
        self.selector = Selector::EveryNth(n);
        self
    }
    pub fn first_n(mut self, n: u32) -> Fault {
        self.selector = Selector::FirstN(n);
        self
    }

    /// The `matgto.v1.Fault` sent to the server.
    pub fn to_proto(&self) -> pb::Fault {
        use pb::fault::{Action, Selector as S};
        let selector = match self.selector {
            Selector::Every => None,
            Selector::Probability(p) => Some(S::Probability(p)),
            Selector::EveryNth(n) => Some(S::EveryNth(n)),
            Selector::FirstN(n) => Some(S::FirstN(n)),
        };
        let action = Some(match &self.action {
            FaultAction::Status { code, headers, body } => Action::Status(pb::StatusFault {
                code: *code as u32,
                headers: headers
                    .iter()
                    .map(|(n, v)| pb::Header { name: n.clone(), value: v.clone(), ..Default::default() })
                    .collect(),
                body: body.clone(),
            }),
            FaultAction::Delay(d) => Action::Delay(duration_to_proto(*d)),
            FaultAction::Hang => Action::Hang(pb::Hang {}),
            FaultAction::Reset(w) => Action::Reset(pb::ResetFault { when: *w as i32 }),
            FaultAction::Bandwidth(b) => Action::BandwidthBytesPerSecond(*b),
            FaultAction::WebSocket { drop_after_messages, message_delay } => Action::Websocket(pb::WsFault {
                drop_after_messages: *drop_after_messages,
                message_delay: (!message_delay.is_zero()).then(|| duration_to_proto(*message_delay)),
            }),
        });
        pb::Fault {
            id: self.id.clone(),
            method: self.method.clone(),
            url_pattern: self.url_pattern.clone(),
            selector,
            action,
            applied: self.applied,
        }
    }

    /// Reads a fault the server returned. `None` for an action this client
    /// does not know.
    pub fn from_proto(p: &pb::Fault) -> Option<Fault> {
        use pb::fault::{Action, Selector as S};
        let action = match p.action.as_ref()? {
            Action::Status(s) => FaultAction::Status {
                code: s.code as u16,
                headers: s.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
                body: s.body.clone(),
            },
            Action::Delay(d) => FaultAction::Delay(duration_from_proto(d)),
            Action::Hang(_) => FaultAction::Hang,
            Action::Reset(r) => FaultAction::Reset(ResetPoint::try_from(r.when).unwrap_or(ResetPoint::BeforeHeaders)),
            Action::BandwidthBytesPerSecond(b) => FaultAction::Bandwidth(*b),
            Action::Websocket(w) => FaultAction::WebSocket {
                drop_after_messages: w.drop_after_messages,
                message_delay: w.message_delay.as_ref().map(duration_from_proto).unwrap_or_default(),
            },
        };
        let selector = match p.selector {
            None => Selector::Every,
            Some(S::Probability(x)) => Selector::Probability(x),
            Some(S::EveryNth(n)) => Selector::EveryNth(n),
            Some(S::FirstN(n)) => Selector::FirstN(n),
        };
        Some(Fault {
            id: p.id.clone(),
            method: p.method.clone(),
            url_pattern: p.url_pattern.clone(),
            selector,
            action,
            applied: p.applied,
        })
    }
}
