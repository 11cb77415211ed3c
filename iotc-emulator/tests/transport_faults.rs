//! Faults on the other transports: HTTPS device-API requests meet throttling (429), quota
//! (403) and auth (401) faults with IoT hub's status codes, whether the device asked for them
//! or the service injected them; MQTT and AMQP over WebSockets honour the faults a device asks
//! for. Raw clients over loopback TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use bytes::BytesMut;
use fe2o3_amqp::types::messaging::{ApplicationProperties, Body, Message, MessageId, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use iotc_emulator::{DeviceProtocol, Emulator, RefuseCode};
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, ConnectReturnCode, Login, Packet, Publish};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_openssl::SslStream;
use ws_stream_tungstenite::WsStream;

/// A WebSocket over TLS, as a byte stream.
type Ws = WsStream<async_tungstenite::tokio::TokioAdapter<SslStream<TcpStream>>>;

const LIMIT: Duration = Duration::from_secs(15);
const DURATION: Duration = Duration::from_millis(1500);

/// A TLS stream to `port` on loopback, trusting the emulator's CA.
async fn tls(emulator: &Emulator, port: u16) -> SslStream<TcpStream> {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    let ca = X509::from_pem(emulator.ca_cert_pem().as_bytes()).unwrap();
    builder.cert_store_mut().add_cert(ca).unwrap();
    let ssl = builder
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut stream = SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut stream).connect().await.unwrap();
    stream
}

/// One HTTPS request to the hub device API; returns the status and the head and body text.
async fn https(
    emulator: &Emulator,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut stream = tls(emulator, emulator.https_addr().port()).await;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        emulator.hub_hostname(),
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = timeout(LIMIT, stream.read_to_end(&mut out)).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A provisioned device's `Authorization` header.
async fn auth(emulator: &Emulator, id: &str) -> (&'static str, String) {
    let key = emulator.derive_device_key(id);
    common::provision(emulator, id, &key).await;
    ("Authorization", common::hub_pass(emulator, id, &key, 3600))
}

/// Telemetry over HTTPS, asking for `fault` when given; returns status and response text.
async fn post(emulator: &Emulator, id: &str, fault: Option<&str>) -> (u16, String) {
    let key = emulator.derive_device_key(id);
    let mut headers = vec![("Authorization", common::hub_pass(emulator, id, &key, 3600))];
    if let Some(kind) = fault {
        headers.push(("iothub-app-AzIoTHub_FaultOperationType", kind.to_owned()));
        headers.push((
            "iothub-app-AzIoTHub_FaultOperationDurationInSecs",
            DURATION.as_secs_f64().to_string(),
        ));
    }
    https(
        emulator,
        "POST",
        &format!("/devices/{id}/messages/events?api-version=2020-09-30"),
        &headers,
        "{\"t\":1}",
    )
    .await
}

/// `kind` requested over HTTPS fails the device's next requests with `status` and `code`
/// (telemetry and the C2D poll) until the duration is over.
async fn https_fault(kind: &str, id: &str, status: u16, code: &str) {
    let emulator = common::start().await;
    let header = auth(&emulator, id).await;
    let mut received = emulator.telemetry();
    assert_eq!(post(&emulator, id, Some(kind)).await.0, 204);
    // The device list's protocol column: the device last came over HTTPS.
    assert_eq!(
        emulator.device(id).and_then(|d| d.protocol),
        Some(DeviceProtocol::Https)
    );
    // The request itself is ordinary telemetry.
    let first = timeout(LIMIT, received.recv()).await.unwrap().unwrap();
    assert_eq!(first.device_id, id);
    let (s, text) = post(&emulator, id, None).await;
    assert_eq!(s, status, "{text}");
    assert!(text.contains(code), "{text}");
    let poll = format!("/devices/{id}/messages/devicebound?api-version=2020-09-30");
    let (s, text) = https(&emulator, "GET", &poll, std::slice::from_ref(&header), "").await;
    assert_eq!(s, status, "{text}");
    // Another device is not affected.
    auth(&emulator, "bystander").await;
    assert_eq!(post(&emulator, "bystander", None).await.0, 204);
    tokio::time::sleep(DURATION).await;
    assert_eq!(post(&emulator, id, None).await.0, 204);
    assert_eq!(https(&emulator, "GET", &poll, &[header], "").await.0, 204);
}

#[tokio::test]
async fn https_invoke_throttling_answers_429() {
    https_fault("InvokeThrottling", "https-throttled", 429, "429001").await;
}

#[tokio::test]
async fn https_invoke_max_message_quota_answers_403002() {
    https_fault("InvokeMaxMessageQuota", "https-quota", 403, "403002").await;
}

#[tokio::test]
async fn https_invoke_auth_error_answers_401() {
    https_fault("InvokeAuthError", "https-auth", 401, "401002").await;
}

#[tokio::test]
async fn https_requests_meet_service_side_faults() {
    let emulator = common::start().await;
    auth(&emulator, "https-svc").await;
    emulator.throttle(Duration::from_secs(60), Duration::from_secs(3));
    let (s, text) = post(&emulator, "https-svc", None).await;
    assert_eq!(s, 429, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 3"),
        "{text}"
    );
    emulator.clear_faults();
    emulator.refuse_connections(
        Some("https-svc"),
        RefuseCode::NotAuthorized,
        Duration::from_secs(60),
    );
    assert_eq!(post(&emulator, "https-svc", None).await.0, 401);
    emulator.refuse_connections(None, RefuseCode::ServerUnavailable, Duration::from_secs(60));
    emulator.refuse_connections(Some("https-svc"), RefuseCode::NotAuthorized, Duration::ZERO);
    let (s, text) = post(&emulator, "https-svc", None).await;
    assert_eq!(s, 503, "{text}");
    assert!(text.contains("503001"), "{text}");
    emulator.clear_faults();
    assert_eq!(post(&emulator, "https-svc", None).await.0, 204);
}

/// A WebSocket on the HTTPS port with `subprotocol`, as a byte stream.
async fn websocket(emulator: &Emulator, subprotocol: &str) -> Ws {
    let stream = tls(emulator, emulator.https_addr().port()).await;
    let mut request = format!(
        "wss://localhost:{}/$iothub/websocket",
        emulator.https_addr().port()
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", subprotocol.parse().unwrap());
    let (ws, _) = async_tungstenite::tokio::client_async(request, stream)
        .await
        .unwrap();
    WsStream::new(ws)
}

/// Writes one MQTT packet.
async fn write<S: AsyncWrite + Unpin>(s: &mut S, packet: Packet) {
    let mut buf = BytesMut::new();
    packet.write(&mut buf, 1 << 20).unwrap();
    s.write_all(&buf).await.unwrap();
    s.flush().await.unwrap();
}

/// Reads MQTT packets until one arrives; `None` when the stream ends.
async fn read<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> Option<Packet> {
    loop {
        if let Ok(p) = Packet::read(buf, 1 << 20) {
            return Some(p);
        }
        match s.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// MQTT over a WebSocket: CONNECT of `id`; returns the stream, the read buffer and the
/// CONNACK code (`None`: closed without a CONNACK).
async fn mqtt_ws(emulator: &Emulator, id: &str) -> (Ws, BytesMut, Option<ConnectReturnCode>) {
    let mut ws = websocket(emulator, "mqtt").await;
    let key = emulator.derive_device_key(id);
    let mut connect = Connect::new(id);
    connect.keep_alive = 60;
    connect.login = Some(Login::new(
        common::hub_user(emulator, id),
        common::hub_pass(emulator, id, &key, 3600),
    ));
    write(&mut ws, Packet::Connect(connect)).await;
    let mut buf = BytesMut::new();
    let code = match timeout(LIMIT, read(&mut ws, &mut buf)).await.unwrap() {
        Some(Packet::ConnAck(ConnAck { code, .. })) => Some(code),
        _ => None,
    };
    (ws, buf, code)
}

#[tokio::test]
async fn mqtt_ws_shut_down_mqtt_closes_and_refuses_until_the_fault_ends() {
    let emulator = common::start().await;
    let id = "ws-shutdown";
    let key = emulator.derive_device_key(id);
    common::provision(&emulator, id, &key).await;
    let (mut ws, mut buf, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, Some(ConnectReturnCode::Success));
    assert_eq!(
        emulator.device(id).and_then(|d| d.protocol),
        Some(DeviceProtocol::MqttWs)
    );
    let topic = common::fault_topic(id, "ShutDownMqtt", "byebye", "0", "1.5");
    write(
        &mut ws,
        Packet::Publish(Publish::new(topic, QoS::AtMostOnce, "x")),
    )
    .await;
    // The connection closes (no PUBACK is due for QoS 0).
    let end = timeout(LIMIT, read(&mut ws, &mut buf)).await.unwrap();
    assert!(end.is_none(), "expected the close, got {end:?}");
    let (_ws, _, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, Some(ConnectReturnCode::ServiceUnavailable));
    tokio::time::sleep(DURATION).await;
    let (_ws, _, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, Some(ConnectReturnCode::Success));
}

#[tokio::test]
async fn mqtt_ws_kill_tcp_closes_and_cuts_reconnects_until_the_fault_ends() {
    let emulator = common::start().await;
    let id = "ws-kill-tcp";
    let key = emulator.derive_device_key(id);
    common::provision(&emulator, id, &key).await;
    let (mut ws, mut buf, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, Some(ConnectReturnCode::Success));
    let topic = common::fault_topic(id, "KillTcp", "boom", "0", "1.5");
    write(
        &mut ws,
        Packet::Publish(Publish::new(topic, QoS::AtMostOnce, "x")),
    )
    .await;
    let end = timeout(LIMIT, read(&mut ws, &mut buf)).await.unwrap();
    assert!(end.is_none(), "expected the close, got {end:?}");
    let (_ws, _, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, None, "a CONNECT during KillTcp gets no CONNACK");
    tokio::time::sleep(DURATION).await;
    let (_ws, _, code) = mqtt_ws(&emulator, id).await;
    assert_eq!(code, Some(ConnectReturnCode::Success));
}

/// Puts `id`'s token on a new AMQP-over-WebSocket connection; returns the connection and the
/// put-token status (-1: the connection ended first or nothing came back within `LIMIT`).
async fn amqp_ws(
    emulator: &Emulator,
    id: &str,
) -> (
    Option<(
        fe2o3_amqp::connection::ConnectionHandle<()>,
        fe2o3_amqp::session::SessionHandle<()>,
    )>,
    i32,
) {
    timeout(LIMIT, amqp_ws_once(emulator, id))
        .await
        .unwrap_or((None, -1))
}

async fn amqp_ws_once(
    emulator: &Emulator,
    id: &str,
) -> (
    Option<(
        fe2o3_amqp::connection::ConnectionHandle<()>,
        fe2o3_amqp::session::SessionHandle<()>,
    )>,
    i32,
) {
    let ws = websocket(emulator, "AMQPWSB10").await;
    let Ok(mut connection) = Connection::builder()
        .container_id(format!("ws-{id}"))
        .hostname(emulator.hub_hostname())
        .open_with_stream(ws)
        .await
    else {
        return (None, -1);
    };
    let Ok(mut session) = Session::begin(&mut connection).await else {
        return (None, -1);
    };
    let (Ok(mut tx), Ok(mut rx)) = (
        Sender::attach(&mut session, "cbs-tx", "$cbs").await,
        Receiver::attach(&mut session, "cbs-rx", "$cbs").await,
    ) else {
        return (None, -1);
    };
    let key = emulator.derive_device_key(id);
    let request = Message::builder()
        .properties(
            Properties::builder()
                .message_id(MessageId::String("put".into()))
                .reply_to("cbs")
                .build(),
        )
        .application_properties(
            ApplicationProperties::builder()
                .insert("operation", "put-token")
                .insert("type", "servicebus.windows.net:sastoken")
                .insert("name", format!("{}/devices/{id}", emulator.hub_hostname()))
                .build(),
        )
        .value(common::hub_pass(emulator, id, &key, 3600))
        .build();
    if tx.send(request).await.is_err() {
        return (None, -1);
    }
    let Ok(Ok(answer)) = timeout(LIMIT, rx.recv::<Body<Value>>()).await else {
        return (None, -1);
    };
    let _ = rx.accept(&answer).await;
    let status = match answer
        .message()
        .application_properties
        .as_ref()
        .and_then(|p| p.get("status-code"))
    {
        Some(SimpleValue::Int(s)) => *s,
        _ => -2,
    };
    (Some((connection, session)), status)
}

#[tokio::test]
async fn amqp_ws_kill_tcp_ends_the_connection_and_refuses_until_the_fault_ends() {
    let emulator = common::start().await;
    let id = "amqp-ws-kill";
    let key = emulator.derive_device_key(id);
    common::provision(&emulator, id, &key).await;
    let (open, status) = amqp_ws(&emulator, id).await;
    assert_eq!(status, 200);
    assert_eq!(
        emulator.device(id).and_then(|d| d.protocol),
        Some(DeviceProtocol::AmqpWs)
    );
    let (mut connection, mut session) = open.unwrap();
    let mut d2c = Sender::attach(
        &mut session,
        "d2c",
        format!("/devices/{id}/messages/events"),
    )
    .await
    .unwrap();
    let request = Message::builder()
        .application_properties(
            ApplicationProperties::builder()
                .insert("AzIoTHub_FaultOperationType", "KillTcp")
                .insert("AzIoTHub_FaultOperationDurationInSecs", "1.5")
                .build(),
        )
        .value("x")
        .build();
    // The disposition may or may not arrive before the cut.
    let _ = timeout(LIMIT, d2c.send(request)).await;
    let closed = timeout(LIMIT, connection.on_close()).await;
    assert!(closed.is_ok(), "the connection did not end");
    let (_, status) = amqp_ws(&emulator, id).await;
    assert_ne!(status, 200, "accepted during the fault");
    tokio::time::sleep(DURATION).await;
    let (_open, status) = amqp_ws(&emulator, id).await;
    assert_eq!(status, 200);
}
