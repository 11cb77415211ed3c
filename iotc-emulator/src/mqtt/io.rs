//! MQTT framing on a device's byte stream (rumqttc's codec), how a connection ends, and the
//! CONNECT helpers DPS and the hub share.

use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, ConnectReturnCode, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::tls::DeviceIo;

/// Largest packet accepted: 256 KB telemetry plus topic, properties and framing.
pub(crate) const MAX_PACKET: usize = 256 * 1024 + 16 * 1024;
/// Time allowed for one packet write (a peer that stops reading is dropped).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

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
    pub(super) async fn peek_connect_level(&mut self) -> Result<(String, u8), ConnError> {
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

/// The MQTT stream type of device connections (TLS, or a WebSocket over TLS).
pub(crate) type TlsIo = MqttIo<Box<dyn DeviceIo>>;

impl TlsIo {
    /// See [`DeviceIo::prepare_abort`].
    pub(crate) fn abort(&self) {
        self.stream.prepare_abort();
    }

    /// See [`DeviceIo::is_websocket`].
    pub(crate) fn is_websocket(&self) -> bool {
        self.stream.is_websocket()
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
