//! Typed errors: one variant per gRPC code the server uses, each carrying
//! the client operation and the server's message.
use tonic::Code;

/// What a NOT_FOUND is about: the same gRPC code means a missing cassette,
/// session or fault depending on the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotFound {
    Cassette,
    Session,
    Fault,
}

/// An error of this crate. Server answers map to the variant of their gRPC
/// code; every variant carries `op` (the client call, e.g. `"Replay"`) and
/// `message` (the server's explanation, verbatim).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// NOT_FOUND from a cassette call: Replay (or a REPLAY-mode
    /// UseCassette) of a cassette that does not exist, GetCassette,
    /// DeleteCassette.
    #[error("matgto: {op}: NOT_FOUND (cassette not found): {message}")]
    CassetteNotFound { op: &'static str, message: String },
    /// NOT_FOUND from a session call: the session id names no open session
    /// (stopped, lease expired, never existed).
    #[error("matgto: {op}: NOT_FOUND (session not found): {message}")]
    SessionNotFound { op: &'static str, message: String },
    /// NOT_FOUND from ClearFaults: an id the session does not have.
    #[error("matgto: {op}: NOT_FOUND (fault not found): {message}")]
    FaultNotFound { op: &'static str, message: String },
    /// INVALID_ARGUMENT: a bad cassette name (`../x`), a bad rule (RE2
    /// pattern, JSON pointer), bytes that are not a cassette.
    #[error("matgto: {op}: INVALID_ARGUMENT: {message}")]
    InvalidArgument { op: &'static str, message: String },
    /// FAILED_PRECONDITION: StopRecording with no cassette in use, deleting
    /// the cassette in use, recording a cassette another session records
    /// (the message names that session).
    #[error("matgto: {op}: FAILED_PRECONDITION: {message}")]
    FailedPrecondition { op: &'static str, message: String },
    /// DATA_LOSS: the cassette file is corrupt or truncated.
    #[error("matgto: {op}: DATA_LOSS (corrupt cassette): {message}")]
    CorruptCassette { op: &'static str, message: String },
    /// RESOURCE_EXHAUSTED: more sessions than `--max-sessions`, or no free
    /// port in `--session-ports`.
    #[error("matgto: {op}: RESOURCE_EXHAUSTED (too many sessions): {message}")]
    TooManySessions { op: &'static str, message: String },
    /// UNAUTHENTICATED: the server wants a bearer token and got none or an
    /// unknown one.
    #[error("matgto: {op}: UNAUTHENTICATED: {message}")]
    Unauthenticated { op: &'static str, message: String },
    /// PERMISSION_DENIED: the token's scope or name prefix does not allow
    /// the call (recording with a read token, Shutdown without admin).
    #[error("matgto: {op}: PERMISSION_DENIED: {message}")]
    PermissionDenied { op: &'static str, message: String },
    /// UNAVAILABLE: the server cannot be reached (or a TLS handshake
    /// failed), or it is shutting down.
    #[error("matgto: {op}: UNAVAILABLE: {message}")]
    Unavailable { op: &'static str, message: String },
    /// UNIMPLEMENTED: the server does not offer this call.
    #[error("matgto: {op}: UNIMPLEMENTED: {message}")]
    Unimplemented { op: &'static str, message: String },
    /// Any other gRPC status.
    #[error("matgto: {op}: {code:?}: {message}")]
    Rpc { op: &'static str, code: Code, message: String },
    /// The server speaks another generation of the control API.
    #[error("matgto: the server at {address} speaks control API version {server}, this client speaks version {client} (matgto.v{client}); {hint}")]
    IncompatibleServer { address: String, server: u32, client: u32, hint: &'static str },
    /// A session ended on the server before it was stopped through its
    /// [`Session`](crate::Session) (lease expired, stopped by someone else);
    /// `summary` is the server's account of that end when it still has one.
    #[error("matgto: session lost: {message}")]
    SessionLost { message: String, summary: Option<Box<crate::pb::SessionSummary>> },
    /// Bad connection settings (TLS files, a token in plaintext to another
    /// machine, a malformed address), refused before anything is sent.
    #[error("matgto: {0}")]
    Config(String),
    /// The local server could not be started ([`LocalServer`](crate::LocalServer)).
    #[error("matgto: {0}")]
    Launch(String),
}

impl Error {
    /// The gRPC code behind the error (`None` for the client-side ones).
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            Error::CassetteNotFound { .. } | Error::SessionNotFound { .. } | Error::FaultNotFound { .. } => {
                Code::NotFound
            }
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::CorruptCassette { .. } => Code::DataLoss,
            Error::TooManySessions { .. } => Code::ResourceExhausted,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::Unavailable { .. } => Code::Unavailable,
            Error::Unimplemented { .. } => Code::Unimplemented,
            Error::Rpc { code, .. } => *code,
            _ => return None,
        })
    }

    /// The server's message (or the client's, for client-side errors).
    pub fn message(&self) -> String {
        match self {
            Error::CassetteNotFound { message, .. }
            | Error::SessionNotFound { message, .. }
            | Error::FaultNotFound { message, .. }
            | Error::InvalidArgument { message, .. }
            | Error::FailedPrecondition { message, .. }
            | Error::CorruptCassette { message, .. }
            | Error::TooManySessions { message, .. }
            | Error::Unauthenticated { message, .. }
            | Error::PermissionDenied { message, .. }
            | Error::Unavailable { message, .. }
            | Error::Unimplemented { message, .. }
            | Error::Rpc { message, .. }
            | Error::SessionLost { message, .. } => message.clone(),
            Error::Config(m) | Error::Launch(m) => m.clone(),
            e @ Error::IncompatibleServer { .. } => e.to_string(),
        }
    }

    pub(crate) fn from_status(op: &'static str, st: tonic::Status, nf: NotFound) -> Error {
        let mut message = st.message().to_string();
        if message.is_empty() {
            message = format!("{:?}", st.code());
        }
        // tonic reports a connection that could not be made (refused, TLS
        // handshake failed) as UNKNOWN "transport error" with the cause as
        // source: that is UNAVAILABLE, as other gRPC libraries say.
        let mut code = st.code();
        let mut src = std::error::Error::source(&st);
        if code == Code::Unknown && src.is_some_and(|e| e.is::<tonic::transport::Error>()) {
            code = Code::Unavailable;
        }
        while let Some(e) = src {
            let m = e.to_string();
            if !message.contains(&m) {
                message = format!("{message}: {m}");
            }
            src = e.source();
        }
        match code {
            Code::NotFound => match nf {
                NotFound::Cassette => Error::CassetteNotFound { op, message },
                NotFound::Session => Error::SessionNotFound { op, message },
                NotFound::Fault => Error::FaultNotFound { op, message },
            },
            Code::InvalidArgument => Error::InvalidArgument { op, message },
            Code::FailedPrecondition => Error::FailedPrecondition { op, message },
            Code::DataLoss => Error::CorruptCassette { op, message },
            Code::ResourceExhausted => Error::TooManySessions { op, message },
            Code::Unauthenticated => Error::Unauthenticated { op, message },
            Code::PermissionDenied => Error::PermissionDenied { op, message },
            Code::Unavailable => Error::Unavailable { op, message },
            Code::Unimplemented => Error::Unimplemented { op, message },
            code => Error::Rpc { op, code, message },
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_variant_with_the_message() {
        let m = |c: Code, nf| Error::from_status("Op", tonic::Status::new(c, "the server says"), nf);
        type Case = (Error, fn(&Error) -> bool);
        let cases: Vec<Case> = vec![
            (m(Code::NotFound, NotFound::Cassette), |e| matches!(e, Error::CassetteNotFound { .. })),
            (m(Code::NotFound, NotFound::Session), |e| matches!(e, Error::SessionNotFound { .. })),
            (m(Code::NotFound, NotFound::Fault), |e| matches!(e, Error::FaultNotFound { .. })),
            (m(Code::InvalidArgument, NotFound::Cassette), |e| matches!(e, Error::InvalidArgument { .. })),
            (m(Code::FailedPrecondition, NotFound::Cassette), |e| matches!(e, Error::FailedPrecondition { .. })),
            (m(Code::DataLoss, NotFound::Cassette), |e| matches!(e, Error::CorruptCassette { .. })),
            (m(Code::ResourceExhausted, NotFound::Cassette), |e| matches!(e, Error::TooManySessions { .. })),
            (m(Code::Unauthenticated, NotFound::Cassette), |e| matches!(e, Error::Unauthenticated { .. })),
            (m(Code::PermissionDenied, NotFound::Cassette), |e| matches!(e, Error::PermissionDenied { .. })),
            (m(Code::Unavailable, NotFound::Cassette), |e| matches!(e, Error::Unavailable { .. })),
            (m(Code::Unimplemented, NotFound::Cassette), |e| matches!(e, Error::Unimplemented { .. })),
            (m(Code::Internal, NotFound::Cassette), |e| matches!(e, Error::Rpc { code: Code::Internal, .. })),
        ];
        for (e, is) in cases {
            assert!(is(&e), "{e:?}");
            assert_eq!(e.message(), "the server says");
            assert!(e.to_string().starts_with("matgto: Op: ") && e.to_string().ends_with("the server says"), "{e}");
            assert!(e.code().is_some());
        }
    }
}
