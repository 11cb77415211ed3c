//! The hub session of any transport: [`Session`], the one type the connection supervisor
//! runs whatever the protocol.

#[cfg(feature = "amqp")]
use super::amqp;
#[cfg(feature = "https")]
use super::http;
use super::session::{SessionEnd, SessionIo};
use super::{mqtt, HubConfig, Protocol};
use crate::Result;
use tokio::time::Instant;

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
    /// [`Error::Unsupported`](crate::Error::Unsupported) at once when the protocol's cargo feature is off.
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
    ///
    /// Each transport's future is boxed (once per connection): inline, the supervisor's task
    /// would be as large as the largest of them (about 11 KB for MQTT, 13 KB for AMQP) on every
    /// device, whichever transport it uses; a gateway keeps hundreds of such tasks.
    pub(crate) async fn run(self, io: SessionIo<'_>) -> SessionEnd {
        match self {
            Session::Mqtt(s) => Box::pin((*s).run(io)).await,
            #[cfg(feature = "https")]
            Session::Http(s) => Box::pin(s.run(io)).await,
            #[cfg(feature = "amqp")]
            Session::Amqp(s) => Box::pin(s.run(io)).await,
        }
    }
}
