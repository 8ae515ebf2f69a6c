//! The server's live event stream (`WatchEvents`): exchanges, misses with
//! their explanation, session events.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::tokio_stream::Stream;

use crate::error::{Error, NotFound, Result};
use crate::pb;

const OP: &str = "WatchEvents";

/// Which events [`Client::watch_events`](crate::Client::watch_events)
/// follows. The default follows every session and cassette the token may
/// see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this session's events (`"default"` for the default session);
    /// empty: every session.
    pub session: String,
    /// Only this cassette's events; empty: every cassette.
    pub cassette: String,
}

impl EventFilter {
    /// The events of session `id`.
    pub fn session(id: impl Into<String>) -> Self {
        EventFilter { session: id.into(), ..Default::default() }
    }
    /// The events of cassette `name`.
    pub fn cassette(name: impl Into<String>) -> Self {
        EventFilter { cassette: name.into(), ..Default::default() }
    }
}

/// A live stream of [`pb::Event`]s: a [`Stream`] of `Result<pb::Event>`,
/// or read with [`EventStream::next_event`]. It ends (`None`) when the
/// server shuts down; dropping it ends the call (the server unsubscribes
/// the watcher). An event's `dropped` says how many events this watcher
/// lost before it by reading too slowly.
pub struct EventStream {
    inner: tonic::Streaming<pb::Event>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl EventStream {
    pub(crate) fn new(inner: tonic::Streaming<pb::Event>) -> Self {
        EventStream { inner }
    }

    /// The next event; `Ok(None)` once the server ended the stream.
    pub async fn next_event(&mut self) -> Result<Option<pb::Event>> {
        self.inner.message().await.map_err(to_error)
    }
}

impl Stream for EventStream {
    type Item = Result<pb::Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| item.map(|r| r.map_err(to_error)))
    }
}

pub(crate) fn to_error(st: tonic::Status) -> Error {
    Error::from_status(OP, st, NotFound::Session)
}
