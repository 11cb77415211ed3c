//! Transports: how a device talks to IoT hub and DPS.
//!
//! Every transport runs one background task per connection that owns the socket. The
//! [`Device`](crate::Device) handle talks to that task through a bounded channel of requests
//! and receives inbound traffic (commands, desired-property patches, cloud-to-device messages)
//! through another. A transport is therefore one function that opens a connection and one
//! `run` loop: MQTT and AMQP (over TLS or WebSockets) and HTTPS sit side by side behind the same
//! requests. `docs/transports.md` compares them.
//!
//! MQTT over TLS is always built; the other transports each have a cargo feature (`amqp`,
//! `https`, `websocket`, all on by default). [`Protocol::is_available`] tells whether this build
//! carries a protocol.

#[cfg(feature = "amqp")]
pub(crate) mod amqp;
#[cfg(feature = "https")]
pub(crate) mod http;
pub(crate) mod hub;
pub(crate) mod mqtt;
pub(crate) mod session;

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::auth::TokenSource;
use crate::message::{CloudMessage, Message, Settlement};
use crate::pnp::Twin;
use crate::proxy::ProxyConfig;
use crate::tls::TlsConfig;
use crate::{Error, Result};

/// The protocol a device uses to reach IoT hub and DPS.
///
/// Parse one from the names the examples take in `IOTC_TRANSPORT` (`mqtt`, `mqtt-ws`, `amqp`,
/// `amqp-ws`, `https`) with [`str::parse`]. Every variant exists in every build; connecting
/// with one whose cargo feature is off fails with [`Error::Unsupported`] (see
/// [`Protocol::is_available`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT 3.1.1 over TLS on port 8883.
    #[default]
    Mqtt,
    /// MQTT 3.1.1 over WebSockets (TLS, port 443, path `/$iothub/websocket`), for networks
    /// that only let HTTPS out.
    MqttWs,
    /// The IoT hub device REST API over HTTPS (port 443): telemetry, batches and polled
    /// cloud-to-device messages; no twin, no direct methods (protocol.md §6.5).
    Https,
    /// AMQP 1.0 over TLS on port 5671: SAS tokens go through CBS and are renewed on the live
    /// connection.
    Amqp,
    /// AMQP 1.0 over a WebSocket (subprotocol `AMQPWSB10`, path `/$iothub/websocket`) on
    /// port 443, for networks that let only HTTPS out.
    AmqpWs,
}

/// The WebSocket path of IoT hub and DPS (protocol.md §0.2).
#[cfg(feature = "websocket")]
pub(crate) const WEBSOCKET_PATH: &str = "/$iothub/websocket";

impl Protocol {
    /// The protocol's name, as used in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Mqtt => "MQTT",
            Protocol::MqttWs => "MQTT over WebSockets",
            Protocol::Https => "HTTPS",
            Protocol::Amqp => "AMQP",
            Protocol::AmqpWs => "AMQP over WebSockets",
        }
    }

    /// The service's standard port for this protocol: 8883 for MQTT, 5671 for AMQP, 443 for
    /// WebSockets and HTTPS.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Mqtt => 8883,
            Protocol::Amqp => 5671,
            Protocol::MqttWs | Protocol::AmqpWs | Protocol::Https => 443,
        }
    }

    /// Whether the protocol carries the device twin and direct methods (HTTPS does not).
    pub fn supports_twin(self) -> bool {
        !matches!(self, Protocol::Https)
    }

    /// Whether this build of the SDK carries the protocol: MQTT always; MQTT over WebSockets
    /// with the cargo feature `websocket`; HTTPS with `https`; AMQP with `amqp`; AMQP over
    /// WebSockets with `amqp` and `websocket`.
    pub fn is_available(self) -> bool {
        self.missing_feature().is_none()
    }

    /// The error for connecting with this protocol when this build does not carry it: what the
    /// missing cargo feature is.
    pub(crate) fn ensure_available(self) -> Result<()> {
        match self.missing_feature() {
            None => Ok(()),
            Some(operation) => Err(self.unsupported(operation)),
        }
    }

    /// For a protocol this build does not carry, the operation named in its error.
    fn missing_feature(self) -> Option<&'static str> {
        const AMQP: &str = "a connection from a build without the cargo feature `amqp`";
        const HTTPS: &str = "a connection from a build without the cargo feature `https`";
        const WEBSOCKET: &str = "a connection from a build without the cargo feature `websocket`";
        match self {
            Protocol::Mqtt => None,
            Protocol::MqttWs => (!cfg!(feature = "websocket")).then_some(WEBSOCKET),
            Protocol::Https => (!cfg!(feature = "https")).then_some(HTTPS),
            Protocol::Amqp => (!cfg!(feature = "amqp")).then_some(AMQP),
            Protocol::AmqpWs if !cfg!(feature = "amqp") => Some(AMQP),
            Protocol::AmqpWs => (!cfg!(feature = "websocket")).then_some(WEBSOCKET),
        }
    }

    /// Whether the protocol reaches the hub on its HTTPS port (443).
    pub(crate) fn uses_https_port(self) -> bool {
        self.default_port() == 443
    }

    /// [`Error::Unsupported`] for a proxy with a protocol that does not run over a proxy's
    /// tunnel to port 443: MQTT on 8883 and AMQP on 5671 (their WebSocket variants do).
    pub(crate) fn ensure_proxy(self, proxy: Option<&ProxyConfig>) -> Result<()> {
        match (proxy, self) {
            (Some(_), Protocol::Mqtt | Protocol::Amqp) => Err(self.unsupported(
                "a connection through an HTTP proxy (use its WebSocket variant, MqttWs or AmqpWs)",
            )),
            _ => Ok(()),
        }
    }

    /// The error for `operation` when this protocol cannot carry it.
    pub(crate) fn unsupported(self, operation: &'static str) -> Error {
        Error::Unsupported {
            operation,
            transport: self.name(),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = Error;

    /// `mqtt`, `mqtt-ws`, `amqp`, `amqp-ws` or `https` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mqtt" => Ok(Protocol::Mqtt),
            "mqtt-ws" | "mqttws" => Ok(Protocol::MqttWs),
            "amqp" => Ok(Protocol::Amqp),
            "amqp-ws" | "amqpws" => Ok(Protocol::AmqpWs),
            "https" | "http" => Ok(Protocol::Https),
            other => Err(Error::Config(format!(
                "unknown transport `{other}`: expected mqtt, mqtt-ws, amqp, amqp-ws or https"
            ))),
        }
    }
}

/// AMQP connections a gateway shares with its downstream devices (cloning shares them).
#[cfg(feature = "amqp")]
pub(crate) use amqp::shared::SharedConnections as SharedAmqp;

/// Without the `amqp` feature there is nothing to share: every device of a gateway has its own
/// MQTT connection.
#[cfg(not(feature = "amqp"))]
#[derive(Clone, Default)]
pub(crate) struct SharedAmqp(());

/// Everything a transport needs to open a hub connection.
#[derive(Clone)]
// The HTTPS settings are only read with the `https` feature.
#[cfg_attr(not(feature = "https"), allow(dead_code))]
pub(crate) struct HubConfig {
    /// The transport to connect with.
    pub(crate) protocol: Protocol,
    /// The hub host name used in the username and the SAS audience.
    pub(crate) hub_host: String,
    /// Where to open the TCP connection (normally the hub host, or an edge gateway).
    pub(crate) connect_host: String,
    pub(crate) port: u16,
    /// The port of the hub's HTTPS endpoint (file upload; the HTTPS transport itself).
    pub(crate) https_port: u16,
    pub(crate) device_id: String,
    pub(crate) module_id: Option<String>,
    pub(crate) model_id: Option<String>,
    /// How the device proves who it is; it signs the session's tokens.
    pub(crate) auth: TokenSource,
    pub(crate) tls: TlsConfig,
    pub(crate) keep_alive: Duration,
    pub(crate) sas_ttl: Duration,
    pub(crate) connect_timeout: Duration,
    /// How long one operation (an HTTP request) may take.
    pub(crate) operation_timeout: Duration,
    /// How often the HTTPS transport polls for cloud-to-device messages.
    pub(crate) c2d_poll_interval: Duration,
    /// AMQP connections shared with other devices (a gateway's); `None`: a connection of its
    /// own.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) shared_amqp: Option<SharedAmqp>,
    /// The HTTP proxy every connection goes through (WebSockets and HTTPS only).
    pub(crate) proxy: Option<ProxyConfig>,
}

/// A request from a [`Device`](crate::Device) handle to its connection task.
pub(crate) enum Request {
    /// Boxed: the request is moved into the channel, out of it, into the session's book-keeping
    /// and back to the offline queue; a pointer moves instead of a ~250-byte message.
    Telemetry {
        message: Box<Message>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Several messages in one request; only sent to transports with a batch request (HTTPS).
    TelemetryBatch {
        messages: Vec<Message>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Settles a cloud-to-device message by its lock token (transports with settlement).
    #[cfg_attr(not(any(feature = "https", feature = "amqp")), allow(dead_code))]
    Settle {
        lock_token: String,
        settlement: Settlement,
        reply: oneshot::Sender<Result<()>>,
    },
    GetTwin {
        reply: oneshot::Sender<Result<Twin>>,
    },
    PatchReported {
        patch: Value,
        reply: oneshot::Sender<Result<u64>>,
    },
    CommandResponse {
        request_id: String,
        status: u16,
        payload: Vec<u8>,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
    /// Reconnect cleanly (new credentials): what is in flight is acknowledged first, queued
    /// requests wait for the next connection.
    Reconnect,
}

/// Traffic from the service to the device, before it is typed for the user. The large variants
/// are boxed: the event channel allocates its first block of 32 slots up front on every
/// device, used or not.
#[derive(Debug)]
pub(crate) enum Inbound {
    Command {
        name: String,
        request_id: String,
        payload: Vec<u8>,
    },
    DesiredPatch {
        version: Option<u64>,
        body: Value,
    },
    InitialTwin(Box<Twin>),
    CloudMessage(Box<CloudMessage>),
    /// A message on a module input (IoT Edge).
    InputMessage {
        input: String,
        message: Box<CloudMessage>,
    },
    /// Reconnecting failed for good: why.
    Disconnected(Error),
    /// The device certificate expires soon, or has expired (found at a connection).
    CredentialExpiring {
        /// The certificate's subject common name.
        subject: String,
        /// When it expires.
        not_after: time::OffsetDateTime,
    },
}

/// Host-and-port parsing, shared with the layers below (IoT Edge settings).
pub(crate) use crate::endpoint::parse_endpoint;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "availability_tests.rs"]
mod availability_tests;
