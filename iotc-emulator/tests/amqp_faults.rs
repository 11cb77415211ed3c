//! IoT hub's fault-injection hook over AMQP (fault-injection.md): a device asks for a fault
//! with the `AzIoTHub_FaultOperation*` application properties of a telemetry message, and the
//! emulator breaks its connection, session or one link the way the type says. A raw
//! fe2o3-amqp client over loopback TLS plays the device; it sees each fault as the error
//! its connection, session or link ends with, and works again once the fault is over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    annotations::OwnedKey, ApplicationProperties, Body, Message, MessageAnnotations, MessageId,
    Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use iotc_emulator::{Emulator, RefuseCode};
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_openssl::SslStream;

const LIMIT: Duration = Duration::from_secs(15);
/// Delay and duration of the requested faults.
const DELAY: &str = "0.2";
const DURATION: Duration = Duration::from_millis(1500);

/// A TLS stream to the emulator's AMQP port.
async fn tls(emulator: &Emulator) -> SslStream<TcpStream> {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    let ca = X509::from_pem(emulator.ca_cert_pem().as_bytes()).unwrap();
    builder.cert_store_mut().add_cert(ca).unwrap();
    let ssl = builder
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", emulator.amqp_port()))
        .await
        .unwrap();
    let mut stream = SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut stream).connect().await.unwrap();
    stream
}

/// One device on its own AMQP connection, with every hub link attached.
struct Device {
    id: String,
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    cbs_tx: Sender,
    cbs_rx: Receiver,
    d2c: Sender,
    c2d: Receiver,
    twin_tx: Sender,
    twin_rx: Receiver,
    methods_rx: Receiver,
    methods_tx: Sender,
}

/// Connects `id` (provisioned), puts its token on `$cbs` and attaches its links. `Err` with
/// the put-token status when the hub refuses the token, -1 when the connection ends first.
async fn open(emulator: &Emulator, id: &str) -> Result<Device, i32> {
    let stream = tls(emulator).await;
    let mut connection = Connection::builder()
        .container_id(format!("test-{id}"))
        .hostname(emulator.hub_hostname())
        .open_with_stream(stream)
        .await
        .map_err(|_| -1)?;
    let mut session = Session::begin(&mut connection).await.map_err(|_| -1)?;
    let mut cbs_tx = Sender::attach(&mut session, "cbs-tx", "$cbs")
        .await
        .map_err(|_| -1)?;
    let mut cbs_rx = Receiver::attach(&mut session, "cbs-rx", "$cbs")
        .await
        .map_err(|_| -1)?;
    let status = put_token(emulator, id, &mut cbs_tx, &mut cbs_rx).await;
    if status != 200 {
        return Err(status);
    }
    let base = format!("/devices/{id}");
    let d2c = Sender::attach(&mut session, "d2c", format!("{base}/messages/events"))
        .await
        .unwrap();
    let c2d = Receiver::attach(&mut session, "c2d", format!("{base}/messages/devicebound"))
        .await
        .unwrap();
    let twin_tx = Sender::attach(&mut session, "twin-tx", format!("{base}/twin"))
        .await
        .unwrap();
    let twin_rx = Receiver::attach(&mut session, "twin-rx", format!("{base}/twin"))
        .await
        .unwrap();
    let methods_rx = Receiver::attach(
        &mut session,
        "methods-rx",
        format!("{base}/methods/devicebound"),
    )
    .await
    .unwrap();
    let methods_tx = Sender::attach(
        &mut session,
        "methods-tx",
        format!("{base}/methods/devicebound"),
    )
    .await
    .unwrap();
    Ok(Device {
        id: id.to_owned(),
        connection,
        session,
        cbs_tx,
        cbs_rx,
        d2c,
        c2d,
        twin_tx,
        twin_rx,
        methods_rx,
        methods_tx,
    })
}

/// Provisions `id` and opens it.
async fn device(emulator: &Emulator, id: &str) -> Device {
    let key = emulator.derive_device_key(id);
    common::provision(emulator, id, &key).await;
    open(emulator, id).await.unwrap()
}

/// A CBS put-token for `id`'s hub token; returns the answer's `status-code`, -1 when the
/// connection ends instead.
async fn put_token(emulator: &Emulator, id: &str, tx: &mut Sender, rx: &mut Receiver) -> i32 {
    let key = emulator.derive_device_key(id);
    let token = common::hub_pass(emulator, id, &key, 3600);
    let audience = format!("{}/devices/{id}", emulator.hub_hostname());
    let request = Message::builder()
        .properties(
            Properties::builder()
                .message_id(MessageId::String("put-1".into()))
                .reply_to("cbs")
                .build(),
        )
        .application_properties(
            ApplicationProperties::builder()
                .insert("operation", "put-token")
                .insert("type", "servicebus.windows.net:sastoken")
                .insert("name", audience)
                .build(),
        )
        .value(token)
        .build();
    // The connection may be cut or closed instead of an answer (a fault in force): -1.
    if tx.send(request).await.is_err() {
        return -1;
    }
    let Ok(Ok(answer)) = timeout(LIMIT, rx.recv::<Body<Value>>()).await else {
        return -1;
    };
    let _ = rx.accept(&answer).await;
    match answer
        .message()
        .application_properties
        .as_ref()
        .and_then(|p| p.get("status-code"))
    {
        Some(SimpleValue::Int(s)) => *s,
        other => panic!("put-token answer without status-code: {other:?}"),
    }
}

/// A telemetry message, with the fault-injection properties when `fault` is given.
fn telemetry(fault: Option<&str>) -> Message<Body<Value>> {
    let mut properties = ApplicationProperties::builder().insert("n", "1");
    if let Some(kind) = fault {
        properties = properties
            .insert("AzIoTHub_FaultOperationType", kind)
            .insert("AzIoTHub_FaultOperationCloseReason", "byebye")
            .insert("AzIoTHub_FaultOperationDelayInSecs", DELAY)
            .insert(
                "AzIoTHub_FaultOperationDurationInSecs",
                DURATION.as_secs_f64().to_string(),
            );
    }
    Message::builder()
        .application_properties(properties.build())
        .body(Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
            Value::String("payload".into()),
        )))
        .build()
}

impl Device {
    /// Sends a telemetry message; returns its outcome.
    async fn send(&mut self, fault: Option<&str>) -> Outcome {
        timeout(LIMIT, self.d2c.send(telemetry(fault)))
            .await
            .expect("no disposition")
            .unwrap()
    }

    /// Sends a twin GET; returns the answer's `status` annotation.
    async fn twin_get(&mut self) -> i32 {
        let request = Message::builder()
            .properties(
                Properties::builder()
                    .correlation_id(MessageId::String(format!("get-{}", self.id)))
                    .build(),
            )
            .message_annotations(
                MessageAnnotations::builder()
                    .insert(
                        OwnedKey::Symbol(Symbol::from("operation")),
                        Value::String("GET".into()),
                    )
                    .build(),
            )
            .body(Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
                Value::Null,
            )))
            .build();
        self.twin_tx.send(request).await.unwrap();
        let answer = timeout(LIMIT, self.twin_rx.recv::<Body<Value>>())
            .await
            .expect("no twin answer")
            .unwrap();
        let _ = self.twin_rx.accept(&answer).await;
        match answer
            .message()
            .message_annotations
            .as_ref()
            .and_then(|a| a.get(&OwnedKey::Symbol(Symbol::from("status"))))
        {
            Some(Value::Int(s)) => *s,
            other => panic!("twin answer without status: {other:?}"),
        }
    }
}

/// Waits until `fut` (a link, session or connection ending) completes; returns its `Debug`
/// text, which names the error the emulator sent.
async fn ended<T: std::fmt::Debug>(
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> String {
    let out = timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end"));
    format!("{out:?}")
}

/// Reconnects `id` after the fault's duration and checks telemetry and the twin work.
async fn works_again(emulator: &Emulator, id: &str) {
    tokio::time::sleep(DURATION + Duration::from_millis(300)).await;
    let mut again = open(emulator, id).await.expect("put-token after the fault");
    assert!(matches!(again.send(None).await, Outcome::Accepted(_)));
    assert_eq!(again.twin_get().await, 200);
    let _ = again.connection.close().await;
}

#[tokio::test]
async fn kill_amqp_connection_closes_it_with_an_error() {
    let emulator = common::start().await;
    let mut d = device(&emulator, "kill-conn").await;
    assert!(matches!(
        d.send(Some("KillAmqpConnection")).await,
        Outcome::Accepted(_)
    ));
    let e = ended("connection", d.connection.on_close()).await;
    assert!(e.contains("KillAmqpConnection"), "{e}");
    // During the duration a new connection is closed at its put-token.
    let during = timeout(LIMIT, open(&emulator, "kill-conn")).await;
    assert!(!matches!(during, Ok(Ok(_))), "accepted during the fault");
    works_again(&emulator, "kill-conn").await;
}

#[tokio::test]
async fn shut_down_amqp_closes_the_connection() {
    let emulator = common::start().await;
    let mut d = device(&emulator, "shutdown").await;
    assert!(matches!(
        d.send(Some("ShutDownAmqp")).await,
        Outcome::Accepted(_)
    ));
    let e = ended("connection", d.connection.on_close()).await;
    assert!(e.contains("ShutDownAmqp"), "{e}");
    works_again(&emulator, "shutdown").await;
}

#[tokio::test]
async fn kill_tcp_cuts_the_connection_and_every_reconnect_during_the_fault() {
    let emulator = common::start().await;
    let mut d = device(&emulator, "kill-tcp").await;
    let attempts = emulator.connection_attempts("kill-tcp");
    assert!(matches!(
        d.send(Some("KillTcp")).await,
        Outcome::Accepted(_)
    ));
    let e = ended("connection", d.connection.on_close()).await;
    assert!(!e.contains("Ok(())"), "a cut is no clean close: {e}");
    let during = timeout(LIMIT, open(&emulator, "kill-tcp")).await;
    assert!(!matches!(during, Ok(Ok(_))), "accepted during the fault");
    assert!(emulator.connection_attempts("kill-tcp") > attempts);
    works_again(&emulator, "kill-tcp").await;
}

#[tokio::test]
async fn kill_amqp_session_ends_the_session_with_an_error() {
    let emulator = common::start().await;
    let mut d = device(&emulator, "kill-session").await;
    assert!(matches!(
        d.send(Some("KillAmqpSession")).await,
        Outcome::Accepted(_)
    ));
    let e = ended("session", d.session.on_end()).await;
    assert!(e.contains("KillAmqpSession"), "{e}");
    // The connection stays: a new session authenticates the device again.
    let mut session = Session::begin(&mut d.connection).await.unwrap();
    let mut tx = Sender::attach(&mut session, "cbs-tx2", "$cbs")
        .await
        .unwrap();
    let mut rx = Receiver::attach(&mut session, "cbs-rx2", "$cbs")
        .await
        .unwrap();
    assert_eq!(
        put_token(&emulator, "kill-session", &mut tx, &mut rx).await,
        200
    );
    let mut d2c = Sender::attach(
        &mut session,
        "d2c2",
        "/devices/kill-session/messages/events",
    )
    .await
    .unwrap();
    let outcome = timeout(LIMIT, d2c.send(telemetry(None)))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)));
}

/// Requests `kind` and checks that exactly the link `which` is detached with an error that
/// names the fault, while the device's telemetry link (when it is not the one) keeps working.
async fn link_kill(kind: &str, which: &str) {
    let emulator = common::start().await;
    let id = format!("link-{}", which.to_ascii_lowercase());
    let mut d = device(&emulator, &id).await;
    assert!(matches!(d.send(Some(kind)).await, Outcome::Accepted(_)));
    let e = match which {
        "cbs-tx" => ended(which, d.cbs_tx.on_detach()).await,
        "cbs-rx" => ended(which, d.cbs_rx.recv::<Body<Value>>()).await,
        "d2c" => ended(which, d.d2c.on_detach()).await,
        "c2d" => ended(which, d.c2d.recv::<Body<Value>>()).await,
        "twin-tx" => ended(which, d.twin_tx.on_detach()).await,
        "twin-rx" => ended(which, d.twin_rx.recv::<Body<Value>>()).await,
        "methods-rx" => ended(which, d.methods_rx.recv::<Body<Value>>()).await,
        "methods-tx" => ended(which, d.methods_tx.on_detach()).await,
        other => panic!("unknown link {other}"),
    };
    assert!(e.contains(kind), "{which}: {e}");
    assert!(
        e.contains("detach-forced") || e.contains("DetachForced"),
        "{which}: {e}"
    );
    if which != "d2c" {
        assert!(
            matches!(d.send(None).await, Outcome::Accepted(_)),
            "{which}"
        );
    }
    // The device attaches the link again and carries on.
    let address = match which {
        "cbs-tx" | "cbs-rx" => "$cbs".to_owned(),
        "d2c" => format!("/devices/{id}/messages/events"),
        "c2d" => format!("/devices/{id}/messages/devicebound"),
        "twin-tx" | "twin-rx" => format!("/devices/{id}/twin"),
        _ => format!("/devices/{id}/methods/devicebound"),
    };
    let name = format!("{which}-again");
    if which.ends_with("-tx") || which == "d2c" {
        Sender::attach(&mut d.session, name, address).await.unwrap();
    } else {
        Receiver::attach(&mut d.session, name, address)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn kill_amqp_cbs_link_req_detaches_the_put_token_link() {
    link_kill("KillAmqpCBSLinkReq", "cbs-tx").await;
}

#[tokio::test]
async fn kill_amqp_cbs_link_resp_detaches_the_answer_link() {
    link_kill("KillAmqpCBSLinkResp", "cbs-rx").await;
}

#[tokio::test]
async fn kill_amqp_d2c_link_detaches_the_telemetry_link() {
    link_kill("KillAmqpD2CLink", "d2c").await;
}

#[tokio::test]
async fn kill_amqp_c2d_link_detaches_the_c2d_link() {
    link_kill("KillAmqpC2DLink", "c2d").await;
}

#[tokio::test]
async fn kill_amqp_twin_link_req_detaches_the_twin_request_link() {
    link_kill("KillAmqpTwinLinkReq", "twin-tx").await;
}

#[tokio::test]
async fn kill_amqp_twin_link_resp_detaches_the_twin_answer_link() {
    link_kill("KillAmqpTwinLinkResp", "twin-rx").await;
}

#[tokio::test]
async fn kill_amqp_method_req_link_detaches_the_method_request_link() {
    link_kill("KillAmqpMethodReqLink", "methods-rx").await;
}

#[tokio::test]
async fn kill_amqp_method_resp_link_detaches_the_method_response_link() {
    link_kill("KillAmqpMethodRespLink", "methods-tx").await;
}

/// `kind` (throttling or quota) refuses telemetry and twin requests for its duration with
/// `status` and `code`; the connection stays and works afterwards.
async fn operations_fail(kind: &str, id: &str, status: i32, code: &str) {
    let emulator = common::start().await;
    let mut d = device(&emulator, id).await;
    assert!(matches!(d.send(Some(kind)).await, Outcome::Accepted(_)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    match d.send(None).await {
        Outcome::Rejected(r) => {
            let text = format!("{r:?}");
            assert!(text.contains(code), "{text}");
        }
        other => panic!("telemetry during {kind}: {other:?}"),
    }
    assert_eq!(d.twin_get().await, status);
    tokio::time::sleep(DURATION).await;
    assert!(matches!(d.send(None).await, Outcome::Accepted(_)));
    assert_eq!(d.twin_get().await, 200);
}

#[tokio::test]
async fn invoke_throttling_refuses_operations_with_429() {
    operations_fail("InvokeThrottling", "throttled", 429, "429001").await;
}

#[tokio::test]
async fn invoke_max_message_quota_refuses_operations_with_403002() {
    operations_fail("InvokeMaxMessageQuota", "quota", 403, "403002").await;
}

#[tokio::test]
async fn invoke_auth_error_closes_the_links_as_unauthorized_and_refuses_tokens() {
    let emulator = common::start().await;
    let mut d = device(&emulator, "auth").await;
    assert!(matches!(
        d.send(Some("InvokeAuthError")).await,
        Outcome::Accepted(_)
    ));
    let e = ended("telemetry link", d.d2c.on_detach()).await;
    assert!(
        e.contains("unauthorized-access") || e.contains("UnauthorizedAccess"),
        "{e}"
    );
    assert_eq!(open(&emulator, "auth").await.err(), Some(401));
    works_again(&emulator, "auth").await;
}

#[tokio::test]
async fn a_sasl_plain_device_meets_refusals() {
    let emulator = common::start().await;
    let key = emulator.derive_device_key("plain");
    common::provision(&emulator, "plain", &key).await;
    emulator.refuse_connections(
        Some("plain"),
        RefuseCode::NotAuthorized,
        Duration::from_secs(60),
    );
    let token = common::hub_pass(&emulator, "plain", &key, 3600);
    let mut connection = Connection::builder()
        .container_id("plain")
        .hostname(emulator.hub_hostname())
        .sasl_profile(fe2o3_amqp::sasl_profile::SaslProfile::Plain {
            username: format!("plain@sas.{}", emulator.hub_hostname()),
            password: token,
        })
        .open_with_stream(tls(&emulator).await)
        .await
        .unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    let attached = Sender::attach(&mut session, "d2c", "/devices/plain/messages/events").await;
    let text = match attached {
        Ok(mut sender) => ended("refused link", sender.on_detach()).await,
        Err(e) => format!("{e:?}"),
    };
    assert!(text.contains("refuse_connections"), "{text}");
    assert_eq!(emulator.connection_attempts("plain"), 1);
    assert!(emulator.device("plain").is_some_and(|d| !d.connected));
}
