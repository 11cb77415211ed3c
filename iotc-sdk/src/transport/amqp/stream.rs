//! The byte stream AMQP runs on: TLS over TCP (port 5671), or a WebSocket over TLS (port 443).

use std::fmt::Debug;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// Any stream fe2o3-amqp can run on.
pub(crate) trait ReadWrite: AsyncRead + AsyncWrite + Send + Unpin + Debug {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + Debug> ReadWrite for T {}

/// The stream an AMQP connection runs on.
pub(crate) type AmqpStream = Box<dyn ReadWrite>;

/// Opens TCP to `host:port` and runs the TLS handshake with `connector` (server name `host`).
pub(crate) async fn connect_tls(
    host: &str,
    port: u16,
    connector: native_tls::TlsConnector,
    timeout: Duration,
) -> Result<tokio_native_tls::TlsStream<TcpStream>> {
    let work = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| Error::Connection(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        tokio_native_tls::TlsConnector::from(connector)
            .connect(host, tcp)
            .await
            .map_err(|e| Error::Connection(format!("TLS: {e}")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout(timeout, "the TLS connection")))
}

/// Opens the stream for `protocol`: TLS, or a WebSocket on TLS.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    connector: native_tls::TlsConnector,
    websocket: bool,
    timeout: Duration,
) -> Result<AmqpStream> {
    let tls = connect_tls(host, port, connector, timeout).await?;
    if websocket {
        return Err(Error::Unsupported {
            operation: "AMQP over WebSockets",
            transport: "AMQP",
        });
    }
    Ok(Box::new(tls))
}
