//! What every transport's hub session shares.
//!
//! The decisions are made by the sans-IO [`engine`]: the in-flight [`ledger`], drains,
//! deadlines and end reasons; beside it, the one size limit ([`limits`]), offline-queue
//! [`admission`] and the [`reconnect`] decisions. The token-renewal rule is the token
//! source's ([`crate::auth`]); the engine schedules it. None of
//! them holds a socket, a tokio timer or a clock: the time is a [`time::Timestamp`] passed in.
//!
//! This module is the glue between them and tokio: the work a session is lent by the
//! connection supervisor ([`SessionIo`]), how it ends ([`SessionEnd`]), the tokio clock as the
//! engine's time ([`Clock`]). It knows no transport: the transports' hub sessions use it, and
//! `transport::hub` picks one of them.

pub(crate) mod admission;
pub(crate) mod engine;
pub(crate) mod ledger;
pub(crate) mod limits;
pub(crate) mod reconnect;
pub(crate) mod time;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::warn;

use super::{Inbound, Request};
use crate::auth::renewal;
use crate::{Error, Result};

/// How far away a timer with nothing to wait for is parked: further than any session lives.
pub(crate) const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// When to renew a SAS token that expires at `expiry` (unix seconds): after 80 % of its
/// remaining lifetime (`auth::renewal::renew_after_expiry`).
pub(crate) fn renew_at(expiry: u64) -> Instant {
    Instant::now() + renewal::renew_after_expiry(renewal::unix_now(), expiry)
}

/// The tokio clock as the engine's [`Timestamp`](time::Timestamp): the time since `epoch`
/// (the start of the session).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub(crate) fn start() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Now.
    pub(crate) fn now(&self) -> time::Timestamp {
        self.at(Instant::now())
    }

    /// `instant` as a timestamp (the epoch for instants before it).
    pub(crate) fn at(&self, instant: Instant) -> time::Timestamp {
        time::Timestamp::after_epoch(instant.saturating_duration_since(self.epoch))
    }

    /// `timestamp` as a tokio instant.
    pub(crate) fn instant(&self, timestamp: time::Timestamp) -> Instant {
        self.epoch + timestamp.since_epoch()
    }
}

/// The durable offline queue as a session sees it: it is cleared once everything it held was
/// delivered. Implemented by the device layer's file store, so that the transport layer does
/// not depend on it.
pub(crate) trait OfflineStore: Send {
    /// Whether the store holds messages that may not have been delivered.
    fn is_dirty(&self) -> bool;
    /// Everything it held was delivered: forget it.
    fn clear(&mut self);
}

/// How a session ended.
pub(crate) struct SessionEnd {
    pub(crate) reason: EndReason,
    /// Set when the application asked to close: the answer to send once closed.
    pub(crate) close: Option<oneshot::Sender<Result<()>>>,
}

/// Why a session ended.
pub(crate) enum EndReason {
    /// Closed on the application's request (backlog flushed, or the flush timed out).
    Closed,
    /// Every handle was dropped.
    Dropped,
    /// Disconnected cleanly to reconnect with a fresh SAS token.
    Renew,
    /// The connection broke.
    Lost(Error),
}

/// What the session works on, owned by the connection supervisor and lent to each session so
/// that nothing is lost between connections.
pub(crate) struct SessionIo<'a> {
    /// Requests from the device handles.
    pub(crate) requests: &'a mut mpsc::Receiver<Request>,
    /// Requests waiting for a connection, oldest first; unfinished ones come back here.
    pub(crate) backlog: &'a mut VecDeque<Request>,
    /// Service traffic for the application.
    pub(crate) inbound: &'a mpsc::Sender<Inbound>,
    /// When to reconnect with a fresh SAS token.
    pub(crate) renew_at: Option<Instant>,
    /// How long a close or a renewal waits for what is in flight.
    pub(crate) flush_timeout: Duration,
    /// How long the hub may take to acknowledge telemetry before the connection is deemed
    /// broken (the message then goes out again on a new connection).
    pub(crate) ack_timeout: Duration,
    /// The durable offline queue, cleared once everything it held is delivered.
    pub(crate) store: Option<&'a mut dyn OfflineStore>,
}

/// Answers a request that cannot be carried out.
pub(crate) fn fail(request: Request, error: Error) {
    match request {
        Request::Telemetry { reply, .. } => drop(reply.send(Err(error))),
        Request::TelemetryBatch { reply, .. } => drop(reply.send(Err(error))),
        Request::Settle { reply, .. } => drop(reply.send(Err(error))),
        Request::GetTwin { reply } => drop(reply.send(Err(error))),
        Request::PatchReported { reply, .. } => drop(reply.send(Err(error))),
        Request::CommandResponse {
            reply: Some(reply), ..
        } => drop(reply.send(Err(error))),
        Request::CommandResponse { reply: None, .. } => {}
        Request::Close { reply } => drop(reply.send(Err(error))),
        Request::Reconnect => {}
    }
}

pub(crate) fn forward(inbound: &mpsc::Sender<Inbound>, item: Inbound) {
    match inbound.try_send(item) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(item)) => {
            let kind = match item {
                Inbound::DesiredPatch { .. } => "desired-property patch",
                Inbound::CloudMessage(_) => "cloud-to-device message",
                _ => "event",
            };
            warn!(
                kind,
                "event queue full: dropping an inbound event (read events with Device::next_event)"
            );
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
