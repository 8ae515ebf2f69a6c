//! Rust client of **matgto-serge**, a record/replay HTTP proxy for tests.
//!
//! - [`Client`]: the control API (`matgto.v1.ProxyControl`) over gRPC
//!   (tonic), with TLS and a bearer token; typed errors ([`Error`]).
//! - [`Session`]: a cassette session of one's own (own proxy port, lease
//!   renewed in the background, faults), from [`Client::open_session`].
//! - [`testing`]: a cassette per `#[tokio::test]` ([`test_cassette!`]) that
//!   fails the test on a replay miss, and [`testing::ProxyEnv`].
//! - [`LocalServer`]: starts a `matgto serve` for the tests.
//!
//! See README.md for examples.

/// Code generated from `proto/matgto/v1/*.proto` at build time.
#[allow(clippy::all, missing_docs, rustdoc::all)]
pub mod pb {
    tonic::include_proto!("matgto.v1");

    /// The serialized `FileDescriptorSet` of the protos this crate was
    /// generated from (for reflection, and the tests' completeness checks).
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/matgto_v1_descriptor.bin"));
}

mod client;
#[cfg(test)]
mod conformance_tests;
mod connect;
mod error;
mod events;
mod faults;
pub mod launcher;
pub mod misses;
#[doc(hidden)]
pub mod names;
mod options;
mod session;
pub mod testing;

pub use client::{check_api_version, proxy_url, Client, ClientBuilder, RawClient, API_VERSION, DEFAULT_SESSION};
pub use connect::{Bearer, DEFAULT_ADDRESS, ENV_SERVER, ENV_TLS_CA, ENV_TLS_CERT, ENV_TLS_KEY, ENV_TOKEN};
pub use error::{Error, Result};
pub use events::{EventFilter, EventStream};
pub use faults::{Fault, FaultAction, ResetPoint, Selector};
pub use launcher::{LocalServer, LocalServerBuilder};
pub use misses::ProxyError;
pub use names::{cassette_name, MAX_CASSETTE_NAME_BYTES};
pub use options::{
    BodyMatch, BodyStorage, CassetteOptions, ExhaustedPolicy, Latency, MatchField, MatchRules, MissPolicy, Mode,
    RedactRules, RepeatPolicy, SessionOptions, UnredactablePolicy, UrlRewrite, WsTiming, DEFAULT_LEASE,
    MAX_OWNER_BYTES,
};
pub use pb::{SessionInfo, SessionSummary};
pub use session::Session;
pub use testing::{ProxyEnv, TestCassette};
