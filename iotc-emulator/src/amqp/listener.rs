//! The AMQP listener: TLS accept, the AMQP header, SASL, OPEN, then sessions whose links are
//! routed by address to CBS, the hub or DPS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fe2o3_amqp::acceptor::sasl_acceptor::{SaslAcceptor, SaslServerFrame};
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SessionAcceptor,
};
use fe2o3_amqp::types::definitions::{self, AmqpError, Fields};
use fe2o3_amqp::types::performatives::Attach;
use fe2o3_amqp::types::primitives::{Array, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::conn::{close_link, error, link_property, AmqpConn, ConnKill, DeviceLinks, SaslInfo};
use super::stream::{severable, Prefixed};
use super::{cbs, dps, hub};
use crate::state::Shared;
use crate::tls::{DeviceIo, PeerCert, Role};

/// The server side of SASL: records what the peer sent; credentials are checked when links
/// attach (a refused PLAIN login for a known DPS scope fails at once).
#[derive(Clone)]
struct Sasl {
    shared: Arc<Shared>,
    info: Arc<Mutex<SaslInfo>>,
}

impl SaslAcceptor for Sasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(
            ["MSSBCBS", "ANONYMOUS", "PLAIN", "EXTERNAL"]
                .into_iter()
                .map(Symbol::from)
                .collect::<Vec<_>>(),
        )
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let mechanism = init.mechanism.0.clone();
        let mut code = SaslCode::Ok;
        let mut plain = None;
        if mechanism.eq_ignore_ascii_case("PLAIN") {
            let response = init
                .initial_response
                .map(|b| b.into_vec())
                .unwrap_or_default();
            let mut parts = response.split(|b| *b == 0);
            let _authzid = parts.next();
            match (parts.next(), parts.next()) {
                (Some(user), Some(pass)) => {
                    let user = String::from_utf8_lossy(user).into_owned();
                    let pass = String::from_utf8_lossy(pass).into_owned();
                    if !dps::plain_login_ok(&self.shared, &user, &pass) {
                        code = SaslCode::Auth;
                    }
                    plain = Some((user, pass));
                }
                _ => code = SaslCode::Auth,
            }
        }
        if let Ok(mut info) = self.info.lock() {
            info.mechanism = Some(mechanism);
            info.plain = plain;
        }
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Sys,
            additional_data: None,
        })
    }
}

/// Runs the accept loop of one AMQP listener until shutdown.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, role: Role) {
    crate::tls::serve(shared, listener, "AMQP", move |shared, accepted| {
        let hub = shared.settings.assigned_hub_amqp.clone();
        serve_stream(
            shared,
            Box::new(accepted.stream),
            accepted.cert,
            accepted.peer,
            role,
            accepted.deadline,
            hub,
        )
    })
    .await;
    tracing::debug!(?role, "AMQP listener stopped");
}

/// Reads the AMQP protocol header (to be replayed to fe2o3-amqp); returns the protocol id:
/// 3 for SASL, 0 for plain AMQP.
async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<[u8; 8], String> {
    let mut header = [0u8; 8];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| format!("AMQP header: {e}"))?;
    if &header[..4] != b"AMQP" || header[5..] != [1, 0, 0] || !matches!(header[4], 0 | 3) {
        return Err(format!("not an AMQP 1.0 header: {header:?}"));
    }
    Ok(header)
}

/// The channel-max the emulator offers: sessions per connection, for gateways that multiplex
/// their downstream devices.
const CHANNEL_MAX: u16 = 2047;

/// Serves AMQP on an established byte stream (TLS, or a WebSocket with the `AMQPWSB10`
/// subprotocol): header, SASL or none, OPEN by `deadline`, then sessions and links until the
/// connection closes. DPS announces `assigned_hub` (the hub at this transport's port).
pub(crate) async fn serve_stream(
    shared: Arc<Shared>,
    stream: Box<dyn DeviceIo>,
    cert: Option<PeerCert>,
    peer: SocketAddr,
    role: Role,
    deadline: tokio::time::Instant,
    assigned_hub: String,
) {
    let info = Arc::new(Mutex::new(SaslInfo::default()));
    // `KillTcp` cuts the socket under the engine: dropping the engine's handle would send CLOSE.
    let websocket = stream.is_websocket();
    let (mut stream, cutter) = severable(stream);
    let opened = tokio::time::timeout_at(deadline, async {
        let header = read_header(&mut stream).await?;
        let stream = Prefixed::new(header.to_vec(), stream);
        let builder = ConnectionAcceptor::builder()
            .container_id(format!("iotc-emulator-{}", shared.next_id()))
            .max_frame_size(256 * 1024)
            // Room for a gateway multiplexing its downstream devices (a session each, as the
            // official Java SDK does, or a few shared, as this SDK and the C SDK do; up to
            // 1,001 devices on a connection, as the Java SDK admits).
            .channel_max(CHANNEL_MAX)
            .idle_time_out(240_000u32);
        let connection = if header[4] == 3 {
            builder
                .sasl_acceptor(Sasl {
                    shared: shared.clone(),
                    info: info.clone(),
                })
                .build()
                .accept(stream)
                .await
        } else {
            builder.build().accept(stream).await
        };
        connection.map_err(|e| format!("AMQP open: {e}"))
    })
    .await;
    let mut connection = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "AMQP connection setup failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "no AMQP OPEN within the handshake timeout; closing");
            return;
        }
    };
    let sasl = info.lock().map(|i| i.clone()).unwrap_or_default();
    tracing::debug!(%peer, mechanism = ?sasl.mechanism, "AMQP connection open");
    let (kill, mut killed) = watch::channel::<Option<ConnKill>>(None);
    let conn = Arc::new(AmqpConn {
        shared: shared.clone(),
        peer,
        role,
        cert,
        websocket,
        sasl,
        devices: Mutex::new(HashMap::new()),
        dps_answers: Mutex::new(HashMap::new()),
        dps_answer_added: tokio::sync::Notify::new(),
        assigned_hub,
        kill,
        link_kill: watch::channel(None).0,
    });
    let acceptor = SessionAcceptor::new();
    let _open = OpenCount::new(&shared);
    let ending = loop {
        tokio::select! {
            incoming = connection.next_incoming_session() => {
                let Some(incoming) = incoming else { break None };
                match acceptor.accept_incoming_session(incoming, &mut connection).await {
                    Ok(session) => {
                        tokio::spawn(run_session(conn.clone(), session));
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "AMQP session refused");
                        break None;
                    }
                }
            }
            r = killed.changed() => {
                break match r {
                    Ok(()) => killed.borrow().clone(),
                    Err(_) => Some(ConnKill::Cut { reset: true }),
                };
            }
        }
    };
    conn.end_all();
    match ending {
        Some(ConnKill::Cut { reset }) => {
            tracing::info!(%peer, reset, "AMQP connection cut");
            cutter.cut(reset);
            drop(connection);
        }
        Some(ConnKill::Close(Some(error))) => {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), connection.close_with_error(error))
                    .await;
        }
        _ => {
            let _ = tokio::time::timeout(Duration::from_secs(1), connection.close()).await;
        }
    }
    tracing::debug!(%peer, "AMQP connection closed");
}

/// Counts a connection in [`Shared::amqp_connections`] while it lives.
struct OpenCount<'a>(&'a Shared);

impl<'a> OpenCount<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared
            .amqp_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenCount(shared)
    }
}

impl Drop for OpenCount<'_> {
    fn drop(&mut self) {
        self.0
            .amqp_connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Accepts and routes the links of one session until it ends.
async fn run_session(conn: Arc<AmqpConn>, mut session: ListenerSessionHandle) {
    let acceptor = LinkAcceptor::builder()
        .max_message_size(1024 * 1024u64)
        .build();
    let mut cbs: Option<cbs::CbsNode> = None;
    // Ends this session (fault injection `KillAmqpSession` of one of its devices).
    let (end_tx, mut end_rx) = watch::channel::<Option<definitions::Error>>(None);
    // The devices whose links attached in this session: ending the session disconnects them
    // (a gateway's downstream device leaving a shared connection), not the connection's others.
    let mut devices: Vec<Arc<DeviceLinks>> = Vec::new();
    loop {
        let attach = tokio::select! {
            a = session.next_incoming_attach() => match a {
                Some(a) => a,
                None => break,
            },
            r = end_rx.changed() => {
                let error = r.ok().and_then(|()| end_rx.borrow().clone());
                if let Some(error) = error {
                    tracing::info!(peer = %conn.peer, "fault injection: ending the AMQP session");
                    let _ = tokio::time::timeout(Duration::from_secs(2), session.end_with_error(error)).await;
                }
                break;
            }
        };
        let address = link_address(&attach);
        let name = attach.name.clone();
        let properties = attach.properties.clone().unwrap_or_default();
        let link = match acceptor.accept_incoming_attach(attach, &mut session).await {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(peer = %conn.peer, link = %name, error = %e, "link attach failed");
                continue;
            }
        };
        tracing::debug!(peer = %conn.peer, link = %name, %address, "link attached");
        if let Some(device) = route(&conn, &mut cbs, link, &address, &properties).await {
            if !devices.iter().any(|d| Arc::ptr_eq(d, &device)) {
                device.add_session(end_tx.clone());
                devices.push(device);
            }
        }
    }
    tracing::debug!(peer = %conn.peer, "AMQP session ended");
    for device in devices {
        device.end(None);
    }
}

/// What a link attaches to.
enum Node<'a> {
    Cbs,
    Hub {
        /// The registry key: the device id, or `{device}/{module}` for a module.
        device_id: std::borrow::Cow<'a, str>,
        rest: &'a str,
    },
    Dps {
        scope: &'a str,
        registration_id: &'a str,
    },
    Unknown,
}

/// Classifies a link address: with or without an `amqps://host[:port]` prefix, with or without
/// the leading `/` (protocol.md 5.3).
fn classify(address: &str) -> Node<'_> {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => address,
    };
    let path = path.trim_start_matches('/');
    if path.eq_ignore_ascii_case("$cbs") {
        return Node::Cbs;
    }
    if let Some(rest) = path.strip_prefix("devices/") {
        let (device_id, rest) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some(module) = rest.strip_prefix("modules/") {
            let (module_id, rest) = module.split_once('/').unwrap_or((module, ""));
            return Node::Hub {
                device_id: crate::ids::identity_key(device_id, Some(module_id)).into(),
                rest,
            };
        }
        return Node::Hub {
            device_id: device_id.into(),
            rest,
        };
    }
    match path.split_once("/registrations/") {
        Some((scope, registration_id))
            if !scope.is_empty()
                && !registration_id.is_empty()
                && !registration_id.contains('/') =>
        {
            Node::Dps {
                scope,
                registration_id,
            }
        }
        _ => Node::Unknown,
    }
}

async fn route(
    conn: &Arc<AmqpConn>,
    cbs: &mut Option<cbs::CbsNode>,
    link: LinkEndpoint,
    address: &str,
    properties: &Fields,
) -> Option<Arc<DeviceLinks>> {
    match classify(address) {
        Node::Cbs => match link {
            LinkEndpoint::Receiver(receiver) => {
                let node = cbs.get_or_insert_with(|| cbs::CbsNode::new(conn.clone()));
                let client = link_property(properties, "com.microsoft:client-version");
                node.requests(receiver, client);
            }
            LinkEndpoint::Sender(sender) => {
                let node = cbs.get_or_insert_with(|| cbs::CbsNode::new(conn.clone()));
                node.replies(sender);
            }
        },
        Node::Hub { device_id, rest } if conn.role != Role::Dps => {
            return hub::attach(conn, &device_id, rest, link, properties).await;
        }
        Node::Dps {
            scope,
            registration_id,
        } if conn.role != Role::Hub => {
            dps::attach(conn, scope, registration_id, link).await;
        }
        _ => {
            tracing::info!(peer = %conn.peer, %address, "link to an unknown node refused");
            close_link(
                link,
                error(AmqpError::NotFound, format!("no node at {address}")),
            )
            .await;
        }
    }
    None
}

/// The address the link attaches to: the target of a link the peer sends on, the source of
/// one it receives on.
fn link_address(attach: &Attach) -> String {
    use fe2o3_amqp::types::definitions::Role as R;
    use fe2o3_amqp::types::messaging::TargetArchetype;
    match attach.role {
        R::Sender => match attach.target.as_deref() {
            Some(TargetArchetype::Target(t)) => t.address.clone().unwrap_or_default(),
            #[allow(unreachable_patterns)]
            _ => String::new(),
        },
        R::Receiver => attach
            .source
            .as_ref()
            .and_then(|s| s.address.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(matches!(classify("$cbs"), Node::Cbs));
        let hub = |address| match classify(address) {
            Node::Hub { device_id, rest } => Some((device_id.into_owned(), rest)),
            _ => None,
        };
        assert_eq!(
            hub("/devices/d1/messages/events"),
            Some(("d1".into(), "messages/events"))
        );
        assert_eq!(
            hub("amqps://h.azure-devices.net:5671/devices/d1/twin"),
            Some(("d1".into(), "twin"))
        );
        // A module's links: the registry key is `{device}/{module}`.
        assert_eq!(
            hub("/devices/edge-1/modules/filter/messages/events"),
            Some(("edge-1/filter".into(), "messages/events"))
        );
        assert_eq!(
            hub("/devices/edge-1/modules/filter/methods/devicebound"),
            Some(("edge-1/filter".into(), "methods/devicebound"))
        );
        assert!(matches!(
            classify("0ne0001/registrations/dev-1"),
            Node::Dps {
                scope: "0ne0001",
                registration_id: "dev-1"
            }
        ));
        assert!(matches!(
            classify("amqps://global.azure-devices-provisioning.net/0ne0001/registrations/dev-1"),
            Node::Dps { .. }
        ));
        assert!(matches!(classify("queue"), Node::Unknown));
    }
}
