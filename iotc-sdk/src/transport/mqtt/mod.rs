//! MQTT 3.1.1 over TLS or WebSockets, on rumqttc, for DPS ([`crate::provisioning`]) and IoT
//! hub ([`hub`]).

pub(crate) mod hub;
pub(crate) mod topics;

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet,
    Publish, QoS, SubscribeFilter, SubscribeReasonCode, Transport,
};

use crate::auth::{Secret, X509Identity};
use crate::proxy::ProxyConfig;
use crate::tls::TlsConfig;
use crate::transport::Protocol;
use crate::{Error, Result};

/// Largest packet accepted or sent: IoT hub's 256 KB message limit plus room for the topic.
pub(crate) const MAX_PACKET_SIZE: usize =
    crate::transport::session::limits::MAX_MESSAGE_SIZE + 8 * 1024;

/// Capacity of rumqttc's request channel; the connection task never queues more than this.
pub(crate) const REQUEST_CAPACITY: usize = 64;

/// What a CONNECT needs.
pub(crate) struct ConnectParams {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) client_id: String,
    pub(crate) username: String,
    /// The SAS token; `None` for X.509 (the certificate is in the TLS connector).
    pub(crate) password: Option<Secret>,
    pub(crate) transport: MqttTransport,
    pub(crate) keep_alive: Duration,
    pub(crate) clean_session: bool,
    pub(crate) timeout: Duration,
    /// The HTTP proxy to tunnel through (MQTT over WebSockets only).
    pub(crate) proxy: Option<ProxyConfig>,
}

/// How the MQTT bytes travel.
pub(crate) enum MqttTransport {
    /// TLS on the MQTT port, with the shared connector of the build's TLS stack.
    Tls(crate::tls::Connector),
    /// A WebSocket (`wss://…/$iothub/websocket`, subprotocol `mqtt`) over rustls whatever the
    /// build's stack: rumqttc's WebSocket transport cannot use a native-tls connector.
    #[cfg(feature = "websocket")]
    WebSocket(std::sync::Arc<rustls::ClientConfig>),
}

impl MqttTransport {
    /// The transport for `protocol` with the roots of `tls`, presenting `identity` if given.
    pub(crate) fn new(
        protocol: Protocol,
        tls: &TlsConfig,
        identity: Option<&X509Identity>,
    ) -> Result<Self> {
        match protocol {
            #[cfg(feature = "websocket")]
            Protocol::MqttWs => Ok(MqttTransport::WebSocket(tls.rustls_config(identity)?)),
            #[cfg(not(feature = "websocket"))]
            Protocol::MqttWs => Err(protocol.unsupported("a connection")),
            _ => Ok(MqttTransport::Tls(match identity {
                Some(identity) => tls.connector_with_identity(identity)?,
                None => tls.connector()?,
            })),
        }
    }
}

/// Opens the connection and waits for a successful CONNACK.
pub(crate) async fn open(params: ConnectParams) -> Result<(AsyncClient, EventLoop)> {
    if params.client_id.is_empty() || params.client_id.starts_with(' ') {
        return Err(Error::Config(
            "the MQTT client id (device id) must not be empty".into(),
        ));
    }
    let proxy = params.proxy;
    let (broker, transport) = match params.transport {
        MqttTransport::Tls(_) if proxy.is_some() => {
            // Not reached: connecting checks `Protocol::ensure_proxy` first.
            return Err(Protocol::Mqtt.unsupported("a connection through an HTTP proxy"));
        }
        MqttTransport::Tls(connector) => (
            params.host,
            Transport::tls_with_config(crate::tls::mqtt(connector)),
        ),
        #[cfg(feature = "websocket")]
        MqttTransport::WebSocket(config) => {
            let host = if params.host.contains(':') {
                format!("[{}]", params.host)
            } else {
                params.host
            };
            (
                format!("wss://{host}:{}{}", params.port, super::WEBSOCKET_PATH),
                Transport::Wss(rumqttc::TlsConfiguration::Rustls(config)),
            )
        }
    };
    let mut options = MqttOptions::new(params.client_id, broker, params.port);
    options
        .set_keep_alive(params.keep_alive.max(Duration::from_secs(1)))
        .set_clean_session(params.clean_session)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_credentials(
            params.username,
            params
                .password
                .as_ref()
                .map(Secret::expose)
                .unwrap_or_default(),
        )
        .set_transport(transport);
    #[cfg(feature = "websocket")]
    if let Some(proxy) = &proxy {
        options.set_proxy(rumqttc::Proxy {
            ty: rumqttc::ProxyType::Http,
            auth: match (proxy.username(), proxy.password()) {
                (Some(username), Some(password)) => rumqttc::ProxyAuth::Basic {
                    username: username.to_owned(),
                    password: password.expose().to_owned(),
                },
                _ => rumqttc::ProxyAuth::None,
            },
            // rumqttc joins `addr:port` for its lookup: an IPv6 address needs its brackets.
            addr: if proxy.host().contains(':') {
                format!("[{}]", proxy.host())
            } else {
                proxy.host().to_owned()
            },
            port: proxy.port(),
        });
    }
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
    let connack = tokio::time::timeout(params.timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(open_error(e, proxy.as_ref())),
            }
        }
    })
    .await;
    match connack {
        Ok(Ok(())) => Ok((client, eventloop)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout(params.timeout, "CONNACK")),
    }
}

/// Subscribes to `filters` in one SUBSCRIBE and waits for the SUBACK. A server may deliver
/// matching messages before its SUBACK (queued cloud-to-device messages do); they are returned
/// so the caller can handle them.
pub(crate) async fn subscribe(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    filters: Vec<SubscribeFilter>,
    timeout: Duration,
) -> Result<Vec<Publish>> {
    let count = filters.len();
    client
        .subscribe_many(filters)
        .await
        .map_err(|e| Error::connection_caused("the MQTT request queue", e))?;
    let mut early = Vec::new();
    let result = tokio::time::timeout(timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => early.push(publish),
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.len() != count
                        || ack.return_codes.contains(&SubscribeReasonCode::Failure)
                    {
                        return Err(Error::Rejected {
                            status: 400,
                            message: format!("subscription refused: {:?}", ack.return_codes),
                        });
                    }
                    return Ok(());
                }
                Ok(_) => continue,
                Err(e) => return Err(connection_error(e)),
            }
        }
    })
    .await;
    result.unwrap_or(Err(Error::Timeout(timeout, "SUBACK")))?;
    Ok(early)
}

/// Hands a publish to rumqttc without waiting and without copying the payload.
///
/// rumqttc's only non-blocking publish (`try_publish`) takes a `Vec<u8>`, so a payload kept for
/// a resend would be copied for every send. `publish_bytes` takes the shared buffer; it is
/// polled once here. Its only wait is for room in the request channel, which the session never
/// fills (it hands over at most [`REQUEST_CAPACITY`] requests), so the first poll completes;
/// if it did not, the publish is dropped and reported, like a full channel in `try_publish`.
///
/// The topic is not checked for wildcards (`+`, `#`), as `try_publish` would: the callers
/// build their topics from checked or percent-encoded parts, or check them with
/// [`checked_topic`].
pub(crate) fn try_publish_bytes(
    client: &AsyncClient,
    topic: String,
    qos: QoS,
    payload: Bytes,
) -> Result<()> {
    let publish = std::pin::pin!(client.publish_bytes(topic, qos, false, payload));
    match publish.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => Ok(()),
        Poll::Ready(Err(e)) => Err(Error::connection_caused("the MQTT request queue", e)),
        Poll::Pending => Err(Error::connection("the MQTT request queue is full")),
    }
}

/// `topic`, unless it has a wildcard (`+`, `#`), which no published topic may have. For
/// topics with parts the SDK did not encode itself (a request id the service chose, the device
/// id in the telemetry prefix).
pub(crate) fn checked_topic(topic: String) -> Result<String> {
    if rumqttc::valid_topic(&topic) {
        Ok(topic)
    } else {
        Err(Error::connection(format!(
            "invalid MQTT topic for a publish: {topic}"
        )))
    }
}

pub(crate) fn filter(path: impl Into<String>, qos: QoS) -> SubscribeFilter {
    SubscribeFilter::new(path.into(), qos)
}

/// [`connection_error`], with the failures of the CONNECT tunnel as [`Error::Proxy`].
fn open_error(error: ConnectionError, proxy: Option<&ProxyConfig>) -> Error {
    match (error, proxy) {
        #[cfg(feature = "websocket")]
        (ConnectionError::Proxy(e), Some(proxy)) => proxy.error(proxy_error_kind(&e)),
        (error, _) => connection_error(error),
    }
}

/// What went wrong in rumqttc's CONNECT tunnel (its `proxy` feature). rumqttc does not export
/// its proxy error type; its source is the I/O error or async-http-proxy's error.
#[cfg(feature = "websocket")]
fn proxy_error_kind(error: &dyn std::error::Error) -> crate::proxy::ProxyErrorKind {
    use crate::proxy::ProxyErrorKind;
    use async_http_proxy::HttpError;
    let io = |e: &std::io::Error| {
        ProxyErrorKind::Unreachable(std::io::Error::new(e.kind(), e.to_string()))
    };
    let source = error.source();
    if let Some(e) = source.and_then(|s| s.downcast_ref::<std::io::Error>()) {
        return io(e);
    }
    match source.and_then(|s| s.downcast_ref::<HttpError>()) {
        Some(HttpError::IoError(e)) => io(e),
        Some(HttpError::HttpCode200(401 | 407)) => ProxyErrorKind::AuthenticationRequired,
        Some(HttpError::HttpCode200(status)) => ProxyErrorKind::Refused(*status),
        _ => ProxyErrorKind::InvalidResponse(format!(
            "the proxy's answer to CONNECT is not valid: {error}"
        )),
    }
}

/// Sorts rumqttc's connection errors into the SDK's typed errors (protocol.md §4.2 CONNACK codes).
pub(crate) fn connection_error(error: ConnectionError) -> Error {
    match error {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword => {
                Error::Unauthorized(format!("the service refused the connection ({code:?})"))
            }
            ConnectReturnCode::BadClientId => {
                Error::Unauthorized("the service rejected the client id (device id)".into())
            }
            // The hub is busy or throttling: a 503, waited out, never a reason to go back to
            // DPS (protocol.md "Resilience").
            ConnectReturnCode::ServiceUnavailable => Error::Rejected {
                status: 503,
                message: "the service is unavailable (CONNACK 3)".into(),
            },
            other => Error::connection(format!("connection refused: {other:?}")),
        },
        ConnectionError::Tls(e) => Error::connection_caused("TLS", e),
        #[cfg(feature = "websocket")]
        ConnectionError::Websocket(e) => Error::connection_caused("WebSocket", e),
        ConnectionError::Io(e) => Error::connection_caused("I/O", e),
        other => Error::connection_caused("MQTT", other),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// rumqttc's I/O and TLS failures are the source of the SDK's error, not formatted away.
    #[test]
    fn connection_errors_keep_their_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = connection_error(ConnectionError::Io(io));
        assert!(matches!(error, Error::Connection { .. }), "{error:?}");
        assert!(error.is_retryable());
        let kind = error
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(kind, Some(std::io::ErrorKind::ConnectionRefused));
        let refused = connection_error(ConnectionError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized,
        ));
        assert!(refused.is_unauthorized());
        let busy = connection_error(ConnectionError::ConnectionRefused(
            ConnectReturnCode::ServiceUnavailable,
        ));
        assert!(
            matches!(busy, Error::Rejected { status: 503, .. }) && busy.is_retryable(),
            "{busy:?}"
        );
    }
}
