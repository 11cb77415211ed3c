//! Transports: how a device talks to IoT hub and DPS.
//!
//! Every transport runs one background task per connection that owns the socket. The
//! [`Device`](crate::Device) handle talks to that task through a bounded channel of requests
//! and receives inbound traffic (commands, desired-property patches, cloud-to-device messages)
//! through another. A transport is therefore one function that opens a connection and one
//! `run` loop; MQTT is the first, AMQP and HTTPS plug in beside it behind the same requests.

pub(crate) mod amqp;
pub(crate) mod mqtt;
pub(crate) mod session;

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::auth::{SasKey, SasToken, X509Identity};
use crate::message::{CloudMessage, Message, Settlement};
use crate::pnp::Twin;
use crate::tls::TlsConfig;
use crate::{Error, Result};

/// The protocol a device uses to reach IoT hub and DPS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT 3.1.1 over TLS on port 8883.
    #[default]
    Mqtt,
    /// AMQP 1.0 over TLS on port 5671: SAS tokens go through CBS and are renewed on the live
    /// connection.
    Amqp,
    /// AMQP 1.0 over a WebSocket (subprotocol `AMQPWSB10`, path `/$iothub/websocket`) on
    /// port 443, for networks that let only HTTPS out. Not yet verified against the emulator
    /// (see `docs/transports-amqp.md`).
    AmqpWs,
}

impl Protocol {
    /// The protocol's name, as used in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Mqtt => "MQTT",
            Protocol::Amqp => "AMQP",
            Protocol::AmqpWs => "AMQP over WebSockets",
        }
    }

    /// The port the protocol uses when an endpoint names none: 8883 (MQTT), 5671 (AMQP), 443
    /// (WebSockets).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Mqtt => 8883,
            Protocol::Amqp => 5671,
            Protocol::AmqpWs => 443,
        }
    }
}

/// How the device authenticates to the hub.
#[derive(Clone)]
pub(crate) enum HubAuth {
    /// Sign fresh SAS tokens with this key.
    Key(SasKey),
    /// A ready-made token (from a connection string); cannot be renewed.
    Token(SasToken),
    /// A TLS client certificate.
    X509(X509Identity),
}

/// Everything a transport needs to open a hub connection.
#[derive(Clone)]
pub(crate) struct HubConfig {
    /// The transport to connect with.
    pub(crate) protocol: Protocol,
    /// The hub host name used in the username and the SAS audience.
    pub(crate) hub_host: String,
    /// Where to open the TCP connection (normally the hub host, or an edge gateway).
    pub(crate) connect_host: String,
    pub(crate) port: u16,
    pub(crate) device_id: String,
    pub(crate) module_id: Option<String>,
    pub(crate) model_id: Option<String>,
    pub(crate) auth: HubAuth,
    pub(crate) tls: TlsConfig,
    pub(crate) keep_alive: Duration,
    pub(crate) sas_ttl: Duration,
    pub(crate) connect_timeout: Duration,
}

/// A request from a [`Device`](crate::Device) handle to its connection task.
pub(crate) enum Request {
    Telemetry {
        message: Message,
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
    /// Settles a cloud-to-device message by its lock token (transports with settlement).
    Settle {
        lock_token: String,
        settlement: Settlement,
        reply: oneshot::Sender<Result<()>>,
    },
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Traffic from the service to the device, before it is typed for the user.
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
    InitialTwin(Twin),
    CloudMessage(CloudMessage),
    Disconnected(String),
}

/// Splits `host` or `host:port` (IPv6 as `[addr]:port`) and applies `default_port`.
pub(crate) fn parse_endpoint(endpoint: &str, default_port: u16) -> Result<(String, u16)> {
    let endpoint = endpoint.trim();
    let bad = || {
        Error::Config(format!(
            "invalid endpoint `{endpoint}`: expected HOST or HOST:PORT"
        ))
    };
    if endpoint.is_empty() || endpoint.contains('/') {
        return Err(bad());
    }
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        return Ok((host.to_owned(), port));
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => match port.parse() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(port) => Ok((host.to_owned(), port)),
        },
        Some(_) => Err(bad()),
        None => Ok((endpoint.to_owned(), default_port)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("h.example", 8883).unwrap(),
            ("h.example".into(), 8883)
        );
        assert_eq!(
            parse_endpoint("localhost:1234", 8883).unwrap(),
            ("localhost".into(), 1234)
        );
        assert_eq!(
            parse_endpoint("[::1]:99", 8883).unwrap(),
            ("::1".into(), 99)
        );
        assert_eq!(parse_endpoint("[::1]", 8883).unwrap(), ("::1".into(), 8883));
        for bad in [
            "[]",
            "[]:1",
            "h:0",
            "[::1]:0",
            "",
            "h:",
            "h:x",
            "h:99999",
            "a:b:c",
            "mqtts://h",
            ":1",
            "[::1",
        ] {
            assert!(parse_endpoint(bad, 8883).is_err(), "{bad}");
        }
    }
}
