//! What the AMQP front end's modules share: one connection ([`AmqpConn`]) with its devices
//! ([`DeviceLinks`]), how faults end the connection or a link, and link helpers. The
//! listener and the handlers (`cbs`, `dps`, `hub`) import this module, never each other in
//! a circle.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp::acceptor::LinkEndpoint;
use fe2o3_amqp::types::definitions::{self, AmqpError, ErrorCondition, Fields, LinkError};
use fe2o3_amqp::types::primitives::{Symbol, Value};
use tokio::sync::{mpsc, watch};

use super::msg::AmqpMessage;
use crate::device::hub::Authenticated;
use crate::fault::AmqpLink;
use crate::state::{Shared, Subs};
use crate::tls::{PeerCert, Role};
use crate::types::C2dMessage;

/// What the SASL exchange told about the peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct SaslInfo {
    /// The mechanism the peer chose (`None`: no SASL layer).
    pub(super) mechanism: Option<String>,
    /// PLAIN `authcid` and password.
    pub(super) plain: Option<(String, String)>,
}

/// One AMQP connection: the peer, its SASL login, its client certificate, and the identities
/// authenticated on it (CBS tokens or the certificate), shared by its sessions.
pub(crate) struct AmqpConn {
    pub(super) shared: Arc<Shared>,
    pub(super) peer: SocketAddr,
    pub(super) role: Role,
    pub(super) cert: Option<PeerCert>,
    /// The connection runs over a WebSocket.
    pub(super) websocket: bool,
    pub(super) sasl: SaslInfo,
    /// Devices of this connection, by device id.
    pub(super) devices: Mutex<HashMap<String, Arc<DeviceLinks>>>,
    /// `assignedHub` as DPS announces it on this connection's transport.
    pub(super) assigned_hub: String,
    /// The links DPS answers go out on, by registration id.
    pub(super) dps_answers: Mutex<HashMap<String, mpsc::Sender<AmqpMessage>>>,
    /// Signalled when a DPS answer link is added (a request may come before its attach is
    /// recorded).
    pub(super) dps_answer_added: tokio::sync::Notify,
    /// Closes the whole connection (fault injection, shutdown).
    pub(super) kill: watch::Sender<Option<ConnKill>>,
    /// Detaches one link (fault injection `KillAmqp…Link…`).
    pub(super) link_kill: watch::Sender<Option<LinkKill>>,
}

/// How the connection is to end (fault injection).
#[derive(Debug, Clone)]
pub(crate) enum ConnKill {
    /// Cut the socket under the AMQP engine, with no CLOSE frame: a TCP reset (`reset`), or
    /// a FIN without TLS close_notify.
    Cut {
        /// Reset rather than FIN.
        reset: bool,
    },
    /// A CLOSE frame, carrying this error when given.
    Close(Option<definitions::Error>),
}

/// A link to detach (fault injection).
#[derive(Debug, Clone)]
pub(crate) struct LinkKill {
    /// The device whose link it is; `None`: the connection's (`$cbs`).
    pub(crate) device_id: Option<String>,
    /// Which link.
    pub(crate) link: AmqpLink,
    /// The error the DETACH carries.
    pub(crate) error: definitions::Error,
}

impl AmqpConn {
    /// Closes the connection with a CLOSE frame carrying `error`.
    pub(crate) fn close(&self, error: Option<definitions::Error>) {
        let _ = self.kill.send(Some(ConnKill::Close(error)));
    }

    /// Cuts the connection's socket (`KillTcp`): a TCP reset when `reset`, else a FIN; no
    /// AMQP CLOSE either way.
    pub(crate) fn cut(&self, reset: bool) {
        let _ = self.kill.send(Some(ConnKill::Cut { reset }));
    }
}

/// Waits until `link` of `device_id` (of the connection with `None`) is to be detached;
/// returns the error to detach with. Never returns when the connection is gone.
pub(crate) async fn link_killed(
    kills: &mut watch::Receiver<Option<LinkKill>>,
    device_id: Option<&str>,
    link: AmqpLink,
) -> definitions::Error {
    loop {
        if kills.changed().await.is_err() {
            return std::future::pending().await;
        }
        let matched = kills
            .borrow_and_update()
            .as_ref()
            .filter(|k| k.link == link && k.device_id.as_deref() == device_id)
            .map(|k| k.error.clone());
        if let Some(e) = matched {
            return e;
        }
    }
}

impl AmqpConn {
    /// The device authenticated on this connection, unless its links are closing.
    pub(crate) fn live_device(&self, device_id: &str) -> Option<Arc<DeviceLinks>> {
        self.devices
            .lock()
            .ok()?
            .get(device_id)
            .filter(|d| d.is_open())
            .cloned()
    }

    /// Ends every device of the connection (connection closed).
    pub(super) fn end_all(&self) {
        let devices: Vec<_> = self
            .devices
            .lock()
            .map(|mut d| d.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        for device in devices {
            device.end(None);
        }
    }
}

/// The links and state of one device on one AMQP connection.
pub(crate) struct DeviceLinks {
    pub(super) conn: Arc<AmqpConn>,
    pub(super) device_id: String,
    pub(super) inner: Mutex<Inner>,
    /// Set to the error every link of the device closes with.
    pub(super) close: watch::Sender<Option<definitions::Error>>,
    /// Bumped when a renewed token arrives.
    pub(super) renewed: watch::Sender<u64>,
    /// Ends the sessions the device's links attached on (`KillAmqpSession`).
    pub(super) sessions: Mutex<Vec<watch::Sender<Option<definitions::Error>>>>,
    /// The device's open links.
    pub(super) links: AtomicUsize,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) auth: Option<Authenticated>,
    pub(super) conn_id: Option<u64>,
    pub(super) twin_out: Option<mpsc::Sender<AmqpMessage>>,
    pub(super) methods_out: Option<mpsc::Sender<AmqpMessage>>,
    pub(super) c2d_out: Option<mpsc::Sender<(u64, Arc<C2dMessage>)>>,
    /// A module's inputs link (IoT Edge routes deliver to it).
    pub(super) inputs_out: Option<mpsc::Sender<AmqpMessage>>,
    pub(super) subs: Subs,
}

impl DeviceLinks {
    /// Whether the device's links are open (not closing).
    pub(crate) fn is_open(&self) -> bool {
        self.close.borrow().is_none()
    }

    /// Closes every link of the device with `error` (default: detach-forced).
    pub(crate) fn end(&self, error: Option<definitions::Error>) {
        let error = error.unwrap_or_else(|| {
            definitions::Error::new(
                ErrorCondition::LinkError(LinkError::DetachForced),
                Some("the connection closed".to_owned()),
                None,
            )
        });
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(error);
                true
            } else {
                false
            }
        });
    }
}

/// A string link property, if present.
pub(super) fn link_property(properties: &Fields, name: &str) -> Option<String> {
    match properties.get(&Symbol::from(name))? {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

/// An AMQP error with a description.
pub(crate) fn error(condition: AmqpError, description: impl Into<String>) -> definitions::Error {
    definitions::Error::new(condition, Some(description.into()), None)
}

/// Detaches a link for good with `error`.
pub(crate) async fn close_link(link: LinkEndpoint, error: definitions::Error) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        match link {
            LinkEndpoint::Sender(s) => drop(s.close_with_error(error).await),
            LinkEndpoint::Receiver(r) => drop(r.close_with_error(error).await),
        }
    })
    .await;
}
