//! The byte stream AMQP runs on: TLS over TCP (port 5671), or a WebSocket over TLS (port 443).

use std::fmt::Debug;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::proxy::ProxyConfig;
use crate::{Error, Result};

/// Any stream fe2o3-amqp can run on.
pub(crate) trait ReadWrite: AsyncRead + AsyncWrite + Send + Unpin + Debug {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + Debug> ReadWrite for T {}

/// The stream an AMQP connection runs on.
pub(crate) type AmqpStream = Box<dyn ReadWrite>;

/// Opens TCP to `host:port`, or a tunnel to it through `proxy`, and runs the TLS handshake
/// with `connector` (server name `host`).
pub(crate) async fn connect_tls(
    host: &str,
    port: u16,
    connector: crate::tls::Connector,
    proxy: Option<&ProxyConfig>,
    timeout: Duration,
) -> Result<crate::tls::TlsStream> {
    let work = async {
        let tcp = match proxy {
            Some(proxy) => crate::proxy::tunnel(proxy, host, port).await?,
            None => TcpStream::connect((host, port)).await.map_err(|e| {
                Error::connection_caused(format!("cannot connect to {host}:{port}"), e)
            })?,
        };
        let _ = tcp.set_nodelay(true);
        crate::tls::handshake(connector, host, tcp).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout(timeout, "the TLS connection")))
}

/// Opens the stream for `protocol`: TLS, or a WebSocket on TLS (with the cargo feature
/// `websocket`; [`Error::Unsupported`] without it), the WebSocket through `proxy` if given.
/// Its writes gather into few TLS records ([`Corked`](super::corked::Corked)).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    connector: crate::tls::Connector,
    websocket: bool,
    proxy: Option<&ProxyConfig>,
    timeout: Duration,
) -> Result<AmqpStream> {
    if proxy.is_some() && !websocket {
        // Not reached: connecting checks `Protocol::ensure_proxy` first.
        return Err(crate::Protocol::Amqp.unsupported("a connection through an HTTP proxy"));
    }
    #[cfg(not(feature = "websocket"))]
    if websocket {
        // Not reached: connecting checks `Protocol::ensure_available` first.
        return Err(crate::Protocol::AmqpWs.unsupported("a connection"));
    }
    let tls = connect_tls(host, port, connector, proxy, timeout).await?;
    #[cfg(feature = "websocket")]
    if websocket {
        let ws = tokio::time::timeout(timeout, upgrade(tls, host, port))
            .await
            .unwrap_or(Err(Error::Timeout(timeout, "the WebSocket upgrade")))?;
        return Ok(Box::new(super::corked::Corked::new(ws)));
    }
    Ok(Box::new(super::corked::Corked::new(tls)))
}

/// The WebSocket path of IoT hub and DPS (protocol.md §0.2).
#[cfg(feature = "websocket")]
pub(crate) const WEBSOCKET_PATH: &str = "/$iothub/websocket";

/// The WebSocket subprotocol of AMQP for IoT hub and DPS (protocol.md §0.2).
#[cfg(feature = "websocket")]
pub(crate) const SUBPROTOCOL: &str = "AMQPWSB10";

/// Upgrades `stream` to a WebSocket on [`WEBSOCKET_PATH`] with the `AMQPWSB10` subprotocol and
/// returns it as a byte stream (binary frames) for AMQP.
#[cfg(feature = "websocket")]
pub(crate) async fn upgrade<S>(stream: S, host: &str, port: u16) -> Result<AmqpStream>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    use async_tungstenite::tungstenite::client::IntoClientRequest;
    use async_tungstenite::tungstenite::http::HeaderValue;
    let authority = if port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("wss://{authority}{WEBSOCKET_PATH}")
        .into_client_request()
        .map_err(|e| Error::Config(format!("invalid WebSocket address: {e}")))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (socket, response) = async_tungstenite::tokio::client_async(request, stream)
        .await
        .map_err(|e| match e {
            async_tungstenite::tungstenite::Error::Http(response)
                if matches!(response.status().as_u16(), 401 | 403) =>
            {
                Error::Unauthorized(format!("WebSocket upgrade refused: {}", response.status()))
            }
            other => Error::connection_caused("WebSocket upgrade", other),
        })?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    if !chosen.is_some_and(|p| p.eq_ignore_ascii_case(SUBPROTOCOL)) {
        return Err(Error::connection(format!(
            "the server did not accept the {SUBPROTOCOL} subprotocol ({chosen:?})"
        )));
    }
    Ok(Box::new(ws_stream_tungstenite::WsStream::new(socket)))
}

#[cfg(all(test, feature = "websocket"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use async_tungstenite::tungstenite::handshake::server::{Request, Response};
    use async_tungstenite::tungstenite::http::HeaderValue;
    use fe2o3_amqp::acceptor::{ConnectionAcceptor, SessionAcceptor};

    use super::*;

    /// The client side of AMQP over WebSockets against an in-process WebSocket server that
    /// checks the path and the subprotocol and runs fe2o3-amqp's acceptor on the binary frames.
    #[tokio::test]
    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    async fn amqp_runs_over_a_websocket_with_the_iot_hub_subprotocol() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let check = |request: &Request, mut response: Response| {
                assert_eq!(request.uri().path(), WEBSOCKET_PATH);
                let offered = request
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(offered, SUBPROTOCOL);
                response.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static(SUBPROTOCOL),
                );
                Ok(response)
            };
            let socket = async_tungstenite::tokio::accept_hdr_async(server, check)
                .await
                .unwrap();
            let stream = ws_stream_tungstenite::WsStream::new(socket);
            let mut connection = ConnectionAcceptor::new("test-hub")
                .accept(stream)
                .await
                .unwrap();
            let session = SessionAcceptor::new()
                .accept(&mut connection)
                .await
                .unwrap();
            (connection, session)
        });
        let stream = upgrade(client, "hub.example", 443).await.unwrap();
        let mut connection = super::super::open_connection(
            stream,
            "hub.example",
            super::super::Sasl::None,
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let mut session = fe2o3_amqp::Session::begin(&mut connection).await.unwrap();
        let (_server_connection, _server_session) = server.await.unwrap();
        session.end().await.unwrap();
    }

    #[tokio::test]
    async fn a_server_without_the_subprotocol_is_refused() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let _ = async_tungstenite::tokio::accept_async(server).await;
        });
        let result = upgrade(client, "hub.example", 443).await;
        assert!(
            matches!(result, Err(Error::Connection { .. })),
            "{result:?}"
        );
    }
}
