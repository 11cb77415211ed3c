//! What every transport's hub session shares.
//!
//! The decisions are made by the sans-IO [`engine`]: the in-flight [`ledger`], drains,
//! deadlines and end reasons; beside it, the one size limit ([`limits`]), the one token-renewal
//! rule ([`renewal`]), offline-queue [`admission`] and the [`reconnect`] decisions. None of
//! them holds a socket, a tokio timer or a clock: the time is a [`time::Timestamp`] passed in.
//!
//! This module is the glue between them and tokio: the work a session is lent by the
//! connection supervisor ([`SessionIo`]), how it ends ([`SessionEnd`]), and [`Session`], the
//! one type the supervisor runs whatever the protocol.

pub(crate) mod admission;
pub(crate) mod engine;
pub(crate) mod ledger;
pub(crate) mod limits;
pub(crate) mod reconnect;
pub(crate) mod renewal;
pub(crate) mod time;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::warn;

#[cfg(feature = "amqp")]
use super::amqp;
#[cfg(feature = "https")]
use super::http;
use super::{mqtt, HubConfig, Inbound, Protocol, Request};
use crate::{Error, Result};

/// A connected hub session of any transport, ready to [`run`](Session::run).
pub(crate) enum Session {
    /// MQTT (over TLS or WebSockets).
    Mqtt(Box<mqtt::hub::HubSession>),
    /// The HTTPS device API.
    #[cfg(feature = "https")]
    Http(http::hub::HubSession),
    /// AMQP (over TLS or WebSockets).
    #[cfg(feature = "amqp")]
    Amqp(Box<amqp::hub::HubSession>),
}

impl Session {
    /// Opens a session with the transport `config.protocol` names.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] at once when the protocol's cargo feature is off.
    pub(crate) async fn connect(config: &HubConfig) -> Result<Session> {
        config.protocol.ensure_available()?;
        match config.protocol {
            Protocol::Mqtt | Protocol::MqttWs => mqtt::hub::connect(config)
                .await
                .map(|s| Session::Mqtt(Box::new(s))),
            #[cfg(feature = "https")]
            Protocol::Https => http::hub::connect(config).await.map(Session::Http),
            #[cfg(feature = "amqp")]
            Protocol::Amqp | Protocol::AmqpWs => Box::pin(amqp::hub::connect(config))
                .await
                .map(|s| Session::Amqp(Box::new(s))),
            #[allow(unreachable_patterns)] // with every transport feature on
            other => Err(other.unsupported("a connection")),
        }
    }

    /// When the session wants to reconnect with a fresh SAS token, if it signs its own.
    pub(crate) fn renew_at(&self) -> Option<Instant> {
        match self {
            Session::Mqtt(s) => s.renew_at(),
            #[cfg(feature = "https")]
            Session::Http(_) => None,
            // AMQP renews its token over CBS on the live connection, without reconnecting.
            #[cfg(feature = "amqp")]
            Session::Amqp(_) => None,
        }
    }

    /// Runs the session until it is closed, renewed or lost.
    pub(crate) async fn run(self, io: SessionIo<'_>) -> SessionEnd {
        match self {
            Session::Mqtt(s) => (*s).run(io).await,
            #[cfg(feature = "https")]
            Session::Http(s) => s.run(io).await,
            #[cfg(feature = "amqp")]
            Session::Amqp(s) => Box::pin(s.run(io)).await,
        }
    }
}

/// How far away a timer with nothing to wait for is parked: further than any session lives.
pub(crate) const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// When to renew a SAS token that expires at `expiry` (unix seconds): after 80 % of its
/// remaining lifetime ([`renewal::renew_after_expiry`]).
pub(crate) fn renew_at(expiry: u64) -> Instant {
    Instant::now() + renewal::renew_after_expiry(unix_now(), expiry)
}

/// The wall clock as unix time.
pub(crate) fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
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
