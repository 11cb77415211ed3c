//! What every transport's hub session shares: the work a session is lent by the connection
//! supervisor ([`SessionIo`]), how it ends ([`SessionEnd`]), and [`Session`], the one type the
//! supervisor runs whatever the protocol.

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

/// When to renew a SAS token that expires at `expiry` (unix seconds): after 80 % of its
/// remaining lifetime (protocol.md §9.3).
pub(crate) fn renew_at(expiry: u64) -> Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let remaining = (expiry as f64 - now).max(0.0);
    Instant::now() + Duration::from_secs_f64(remaining * 0.8)
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
    pub(crate) store: Option<&'a mut crate::device::durable::Store>,
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
