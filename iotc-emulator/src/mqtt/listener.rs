//! The MQTT listener: TLS accept, the CONNECT, and dispatch to DPS ([`super::dps`]) or the
//! hub ([`super::hub`]) by the username, on any byte stream (TLS on the MQTT port, or a
//! WebSocket from [`crate::https`]).

use std::net::SocketAddr;
use std::sync::Arc;

use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet};
use rumqttc::mqttbytes::Protocol;
use tokio::net::TcpListener;

use super::io::{refuse, ConnError, MqttIo};
use crate::state::Shared;
use crate::tls::{DeviceIo, PeerCert, Role};
use crate::wire;

/// Runs the accept loop of one listener until shutdown.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, role: Role) {
    crate::tls::serve(
        shared,
        listener,
        "MQTT",
        move |shared, accepted| async move {
            let assigned_hub = shared.settings.assigned_hub.clone();
            serve_mqtt(
                &shared,
                Box::new(accepted.stream),
                accepted.cert,
                accepted.peer,
                role,
                accepted.deadline,
                &assigned_hub,
            )
            .await;
        },
    )
    .await;
    tracing::debug!(?role, "listener stopped");
}

/// Serves MQTT on an established byte stream (TLS on the MQTT port, or a WebSocket on the
/// HTTPS port): the CONNECT must be complete by `deadline`; its username sends it to DPS or
/// the hub. DPS announces `assigned_hub`, the hub endpoint of the listener the device used.
pub(crate) async fn serve_mqtt(
    shared: &Arc<Shared>,
    stream: Box<dyn DeviceIo>,
    cert: Option<PeerCert>,
    peer: SocketAddr,
    role: Role,
    deadline: tokio::time::Instant,
    assigned_hub: &str,
) {
    let setup = tokio::time::timeout_at(deadline, async {
        let mut io = MqttIo::new(stream);
        let (name, level) = io.peek_connect_level().await?;
        if name != "MQTT" || level != 4 {
            tracing::info!(%peer, name, level, "refusing MQTT protocol other than 3.1.1");
            let _ = io
                .write_packet(&Packet::ConnAck(ConnAck::new(
                    ConnectReturnCode::RefusedProtocolVersion,
                    false,
                )))
                .await;
            return Err(ConnError::Protocol("unsupported protocol level".into()));
        }
        match io.read_packet().await? {
            Packet::Connect(c) => Ok((io, c)),
            _ => Err(ConnError::Protocol("first packet is not CONNECT".into())),
        }
    })
    .await;
    let (mut io, connect) = match setup {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection setup failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, timeout = ?shared.settings.handshake_timeout, "no complete CONNECT within the handshake timeout; closing");
            return;
        }
    };
    if connect.protocol != Protocol::V4 {
        let _ = io
            .write_packet(&Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::RefusedProtocolVersion,
                false,
            )))
            .await;
        return;
    }
    let username = connect
        .login
        .as_ref()
        .map(|l| l.username.clone())
        .unwrap_or_default();
    let is_dps = wire::parse_dps_username(&username).is_some();
    let result = match (is_dps, role) {
        (true, Role::Dps | Role::Both) => {
            super::dps::run(shared, &mut io, connect, cert, peer, assigned_hub).await
        }
        (false, Role::Hub | Role::Both) => {
            super::hub::run(shared, &mut io, connect, cert, peer).await
        }
        _ => {
            tracing::info!(%peer, ?role, "CONNECT username not valid on this endpoint");
            refuse(&mut io, ConnectReturnCode::BadUserNamePassword).await;
            Ok(())
        }
    };
    match result {
        Ok(()) | Err(ConnError::Closed) => tracing::debug!(%peer, "connection closed"),
        Err(ConnError::Abort(reason)) => {
            tracing::info!(%peer, reason, "connection cut");
            io.abort();
            return;
        }
        Err(e) => tracing::info!(%peer, error = %e, "connection dropped"),
    }
    io.shutdown().await;
}
