//! Listeners, TLS handshake, MQTT framing (rumqttc's codec) and CONNECT dispatch to DPS or hub,
//! on any byte stream (TLS on the MQTT port, or a WebSocket from [`crate::https`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, ConnectReturnCode, Packet};
use rumqttc::mqttbytes::{self, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

use crate::state::Shared;
use crate::tls::PeerCert;
use crate::wire;

/// Largest packet accepted: 256 KB telemetry plus topic, properties and framing.
pub(crate) const MAX_PACKET: usize = 256 * 1024 + 16 * 1024;
/// Time allowed for one packet write (a peer that stops reading is dropped).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which services a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Dps,
    Hub,
    Both,
}

/// Why a connection ended (for logs).
#[derive(Debug)]
pub(crate) enum ConnError {
    /// The peer closed the socket.
    Closed,
    /// Socket or TLS error.
    Io(std::io::Error),
    /// The peer broke the protocol, or the hub closes the connection; closed gracefully
    /// (TLS close_notify, then FIN).
    Protocol(String),
    /// The hub cuts the connection abruptly (fault injection): TCP reset, no TLS close_notify.
    Abort(String),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Closed => f.write_str("closed by peer"),
            ConnError::Io(e) => write!(f, "I/O error: {e}"),
            ConnError::Protocol(m) => write!(f, "protocol violation: {m}"),
            ConnError::Abort(m) => write!(f, "aborted: {m}"),
        }
    }
}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        ConnError::Io(e)
    }
}

/// Framed MQTT over any byte stream.
pub(crate) struct MqttIo<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> MqttIo<S> {
    pub(crate) fn new(stream: S) -> Self {
        MqttIo {
            stream,
            rbuf: BytesMut::with_capacity(1024),
            wbuf: BytesMut::with_capacity(1024),
        }
    }

    /// Reads the next packet. Cancel-safe: partial input stays buffered.
    pub(crate) async fn read_packet(&mut self) -> Result<Packet, ConnError> {
        loop {
            match Packet::read(&mut self.rbuf, MAX_PACKET) {
                Ok(p) => {
                    if self.rbuf.is_empty() && self.rbuf.capacity() > 64 * 1024 {
                        self.rbuf = BytesMut::with_capacity(1024);
                    }
                    return Ok(p);
                }
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(ConnError::Protocol(e.to_string())),
            }
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    /// Reads until a whole first packet is buffered and returns the CONNECT protocol name and
    /// level, without consuming anything (to answer CONNACK 1 to non-3.1.1 clients).
    async fn peek_connect_level(&mut self) -> Result<(String, u8), ConnError> {
        loop {
            // Garbage is refused as soon as its first byte cannot start a CONNECT.
            if self.rbuf.first().is_some_and(|b| b >> 4 != 1) {
                return Err(ConnError::Protocol("first packet is not CONNECT".into()));
            }
            match mqttbytes::check(self.rbuf.iter(), MAX_PACKET) {
                Ok(_) => break,
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(ConnError::Protocol(e.to_string())),
            }
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
        peek_protocol(&self.rbuf)
            .ok_or_else(|| ConnError::Protocol("first packet is not CONNECT".into()))
    }

    /// Writes and flushes one packet.
    pub(crate) async fn write_packet(&mut self, packet: &Packet) -> Result<(), ConnError> {
        self.wbuf.clear();
        packet
            .write(&mut self.wbuf, usize::MAX)
            .map_err(|e| ConnError::Protocol(format!("encode: {e}")))?;
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ConnError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "peer does not read",
                )))
            }
        }
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = BytesMut::with_capacity(1024);
        }
        Ok(())
    }

    /// Best-effort close.
    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

/// Protocol name and level of a buffered CONNECT, `None` if the packet is not a CONNECT.
fn peek_protocol(buf: &[u8]) -> Option<(String, u8)> {
    if buf.first()? >> 4 != 1 {
        return None;
    }
    let mut i = 1;
    loop {
        let b = *buf.get(i)?;
        i += 1;
        if b & 0x80 == 0 || i > 4 {
            break;
        }
    }
    let len = u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]) as usize;
    let name = buf.get(i + 2..i + 2 + len)?;
    let level = *buf.get(i + 2 + len)?;
    Some((String::from_utf8_lossy(name).into_owned(), level))
}

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
            crate::dps::run(shared, &mut io, connect, cert, peer, assigned_hub).await
        }
        (false, Role::Hub | Role::Both) => {
            crate::hub::run(shared, &mut io, connect, cert, peer).await
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

/// Sends a refusing CONNACK.
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut MqttIo<S>,
    code: ConnectReturnCode,
) {
    let _ = io
        .write_packet(&Packet::ConnAck(ConnAck::new(code, false)))
        .await;
}

/// The password of a CONNECT (empty if none).
pub(crate) fn password(connect: &Connect) -> &str {
    connect
        .login
        .as_ref()
        .map(|l| l.password.as_str())
        .unwrap_or("")
}

/// Server-side keep-alive: 1.5 × the client's, capped at 1767 s; `None` if disabled.
pub(crate) fn keep_alive_timeout(keep_alive: u16) -> Option<Duration> {
    if keep_alive == 0 {
        return None;
    }
    let ms = u64::from(keep_alive) * 1500;
    Some(Duration::from_millis(ms.min(1_767_000)))
}

/// A device's byte stream after TLS: the TLS stream itself, or a WebSocket carried in it.
pub(crate) trait DeviceIo: AsyncRead + AsyncWrite + Unpin + Send {
    /// Prepares an abortive close: dropping the stream then sends a TCP reset (no TLS
    /// close_notify, no FIN), like a connection cut by the network. Streams that cannot reach
    /// their socket close gracefully instead.
    fn prepare_abort(&self) {}
}

impl std::fmt::Debug for dyn DeviceIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceIo")
    }
}

impl DeviceIo for SslStream<TcpStream> {
    fn prepare_abort(&self) {
        // A zero linger does not block on close (the reason `set_linger` is deprecated).
        #[allow(deprecated)]
        let _ = self.get_ref().set_linger(Some(Duration::ZERO));
    }
}

/// The MQTT stream type of device connections (TLS, or a WebSocket over TLS).
pub(crate) type TlsIo = MqttIo<Box<dyn DeviceIo>>;

impl TlsIo {
    /// See [`DeviceIo::prepare_abort`].
    pub(crate) fn abort(&self) {
        self.stream.prepare_abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_protocol_level() {
        let mut c = Connect::new("dev");
        c.keep_alive = 60;
        let mut buf = BytesMut::new();
        Packet::Connect(c).write(&mut buf, 1000).unwrap();
        assert_eq!(peek_protocol(&buf), Some(("MQTT".into(), 4)));
        let mut v3 = buf.to_vec();
        v3[8] = 3;
        assert_eq!(peek_protocol(&v3), Some(("MQTT".into(), 3)));
        assert_eq!(peek_protocol(&[0x30, 0]), None);
        assert_eq!(peek_protocol(&[0x10]), None);
    }

    #[test]
    fn keep_alive() {
        assert_eq!(keep_alive_timeout(0), None);
        assert_eq!(keep_alive_timeout(60), Some(Duration::from_secs(90)));
        assert_eq!(
            keep_alive_timeout(3000),
            Some(Duration::from_millis(1_767_000))
        );
    }
}
