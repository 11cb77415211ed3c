//! WebSocket upgrades on `/$iothub/websocket` (RFC 6455, protocol.md 0.2, 4.1): the
//! subprotocol the client asks for (`mqtt`, `AMQPWSB10`) picks the protocol handler that serves the stream. Adding a
//! protocol is one entry in [`PROTOCOLS`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role as WsRole;
use async_tungstenite::WebSocketStream;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use ws_stream_tungstenite::WsStream;

use super::call::{empty, plain, set, ConnCtx, Reply};
use crate::state::Shared;
use crate::tls::PeerCert;
use crate::tls::{DeviceIo, Role};

/// Serves one upgraded connection with its byte stream.
type Handler = fn(
    Arc<Shared>,
    Box<dyn DeviceIo>,
    Option<PeerCert>,
    SocketAddr,
) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The subprotocols served, matched case-insensitively (the C SDK sends `MQTT`).
const PROTOCOLS: &[(&str, Handler)] = &[("mqtt", mqtt), ("AMQPWSB10", amqp)];

/// MQTT over the WebSocket: the same handler as the MQTT port; DPS announces the hub on the
/// HTTPS port to devices that register here.
fn mqtt(
    shared: Arc<Shared>,
    stream: Box<dyn DeviceIo>,
    cert: Option<PeerCert>,
    peer: SocketAddr,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let deadline = tokio::time::Instant::now() + shared.settings.handshake_timeout;
        let hub = shared.settings.https_assigned_hub.clone();
        crate::mqtt::serve_mqtt(&shared, stream, cert, peer, Role::Both, deadline, &hub).await;
    })
}

/// AMQP over the WebSocket: the same handler as the AMQP port, for DPS and the hub alike; DPS
/// announces the hub on the HTTPS port to devices that register here.
fn amqp(
    shared: Arc<Shared>,
    stream: Box<dyn DeviceIo>,
    cert: Option<PeerCert>,
    peer: SocketAddr,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let deadline = tokio::time::Instant::now() + shared.settings.handshake_timeout;
        let hub = shared.settings.https_assigned_hub.clone();
        crate::amqp::serve_stream(shared, stream, cert, peer, Role::Both, deadline, hub).await;
    })
}

/// A WebSocket carried in the HTTPS connection, as a byte stream.
impl DeviceIo for WsStream<TokioAdapter<TokioIo<hyper::upgrade::Upgraded>>> {
    fn is_websocket(&self) -> bool {
        true
    }
}

/// Answers the upgrade request with `101 Switching Protocols` and hands the stream to the
/// subprotocol's handler.
pub(super) fn upgrade(ctx: Arc<ConnCtx>, request: Request<Incoming>) -> Reply {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let is_upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let (Some(key), true) = (header("sec-websocket-key"), is_upgrade) else {
        return plain(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    };
    if header("sec-websocket-version").as_deref() != Some("13") {
        let mut reply = plain(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only");
        set(&mut reply, "sec-websocket-version", "13");
        return reply;
    }
    let offered = header("sec-websocket-protocol").unwrap_or_default();
    let chosen = offered.split(',').map(str::trim).find_map(|p| {
        PROTOCOLS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(p))
            .map(|(_, handler)| (p.to_owned(), *handler))
    });
    let Some((subprotocol, handler)) = chosen else {
        tracing::info!(peer = %ctx.peer, offered, "WebSocket upgrade without a supported subprotocol");
        return plain(StatusCode::BAD_REQUEST, "unsupported WebSocket subprotocol");
    };
    let peer = ctx.peer;
    let shared = ctx.shared.clone();
    let cert = ctx.cert.clone();
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let socket = WebSocketStream::from_raw_socket(
            TokioAdapter::new(TokioIo::new(upgraded)),
            WsRole::Server,
            None,
        )
        .await;
        let mut shutdown = shared.shutdown.clone();
        let serve = handler(shared, Box::new(WsStream::new(socket)), cert, peer);
        tokio::select! {
            _ = serve => {}
            _ = shutdown.changed() => {}
        }
    });
    let mut reply = empty(StatusCode::SWITCHING_PROTOCOLS);
    set(&mut reply, "connection", "Upgrade");
    set(&mut reply, "upgrade", "websocket");
    set(
        &mut reply,
        "sec-websocket-accept",
        &derive_accept_key(key.as_bytes()),
    );
    set(&mut reply, "sec-websocket-protocol", &subprotocol);
    reply
}
