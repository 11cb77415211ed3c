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
    // The connection may be cut or closed instead of an answer (a fault in force): -1.
    if !send_put_token(emulator, id, tx).await {
        return -1;
    }
    let Ok(Ok(answer)) = timeout(LIMIT, rx.recv::<Body<Value>>()).await else {
        return -1;
    };
    let _ = rx.accept(&answer).await;
    status_of(&answer)
}

/// Sends a put-token request for `id`'s hub token on `tx`; false when it does not go out.
async fn send_put_token(emulator: &Emulator, id: &str, tx: &mut Sender) -> bool {
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
    tx.send(request).await.is_ok()
}

/// The `status-code` of a put-token answer.
fn status_of(answer: &fe2o3_amqp::link::delivery::Delivery<Body<Value>>) -> i32 {
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
    telemetry_closing(fault, "byebye")
}

/// A telemetry message asking for `fault` (if any) with close reason `reason`.
fn telemetry_closing(fault: Option<&str>, reason: &str) -> Message<Body<Value>> {
    let mut properties = ApplicationProperties::builder().insert("n", "1");
    if let Some(kind) = fault {
        properties = properties
            .insert("AzIoTHub_FaultOperationType", kind)
            .insert("AzIoTHub_FaultOperationCloseReason", reason)
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
    assert_eq!(
        emulator.device(id).and_then(|d| d.protocol),
        Some(iotc_emulator::DeviceProtocol::Amqp)
    );
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

/// `KillTcp` with close reason `reason` cuts the socket under the AMQP connection: the client
/// meets an I/O error, not a CLOSE frame (which would carry the fault's name), and every
/// reconnection during the fault is cut too.
async fn kill_tcp(id: &str, reason: &str) {
    let emulator = common::start().await;
    let mut d = device(&emulator, id).await;
    let attempts = emulator.connection_attempts(id);
    let outcome = timeout(
        LIMIT,
        d.d2c.send(telemetry_closing(Some("KillTcp"), reason)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)));
    let e = ended("connection", d.connection.on_close()).await;
    assert!(!e.contains("Ok(())"), "a cut is no clean close: {e}");
    assert!(
        !e.contains("KillTcp") && !e.contains("RemoteClosed"),
        "a cut sends no CLOSE frame: {e}"
    );
    // The client may not notice the cut at its put-token; a put-token accepted would answer
    // at once.
    let during = timeout(Duration::from_secs(3), open(&emulator, id)).await;
    assert!(!matches!(during, Ok(Ok(_))), "accepted during the fault");
    assert!(emulator.connection_attempts(id) > attempts);
    works_again(&emulator, id).await;
}

#[tokio::test]
async fn kill_tcp_cuts_the_connection_and_every_reconnect_during_the_fault() {
    kill_tcp("kill-tcp", "boom").await;
}

#[tokio::test]
async fn kill_tcp_byebye_cuts_the_socket_too() {
    kill_tcp("kill-tcp-fin", "byebye").await;
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
    // The connection stays. During the fault a new session of the device is ended as soon as
    // one of its links attaches; afterwards the device authenticates again and carries on.
    let during = session_sends(&emulator, &mut d.connection, "during").await;
    assert!(during.contains("KillAmqpSession"), "{during}");
    tokio::time::sleep(DURATION).await;
    assert_eq!(
        session_sends(&emulator, &mut d.connection, "after").await,
        "Accepted"
    );
}

/// Begins a session on `connection`, puts the token of `kill-session` and sends telemetry:
/// "Accepted", or the error the session ended with.
async fn session_sends(
    emulator: &Emulator,
    connection: &mut ConnectionHandle<()>,
    tag: &str,
) -> String {
    let mut session = Session::begin(connection).await.unwrap();
    let mut tx = Sender::attach(&mut session, format!("cbs-tx-{tag}"), "$cbs")
        .await
        .unwrap();
    let mut rx = Receiver::attach(&mut session, format!("cbs-rx-{tag}"), "$cbs")
        .await
        .unwrap();
    assert_eq!(
        put_token(emulator, "kill-session", &mut tx, &mut rx).await,
        200
    );
    let attached = Sender::attach(
        &mut session,
        format!("d2c-{tag}"),
        "/devices/kill-session/messages/events",
    )
    .await;
    let sent = match attached {
        Ok(mut d2c) => timeout(LIMIT, d2c.send(telemetry(None))).await,
        Err(e) => return format!("{e:?}"),
    };
    match sent {
        Ok(Ok(Outcome::Accepted(_))) => "Accepted".to_owned(),
        _ => ended("session", session.on_end()).await,
    }
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
    // While the fault lasts, the link attached again is detached again (a `$cbs` link at the
    // device's next put-token); afterwards it stays.
    let again = reattach(&emulator, &mut d, which, "during").await;
    assert!(again.contains(kind), "{which} during the fault: {again}");
    tokio::time::sleep(DURATION).await;
    let after = reattach(&emulator, &mut d, which, "after").await;
    assert_eq!(after, "stays", "{which} after the fault");
}

/// Attaches link `which` of `d` again and uses it: "stays" when it keeps working, else the
/// error it was detached with.
async fn reattach(emulator: &Emulator, d: &mut Device, which: &str, tag: &str) -> String {
    let id = d.id.clone();
    let name = format!("{which}-{tag}");
    let base = format!("/devices/{id}");
    let pause = Duration::from_millis(300);
    match which {
        // The device keeps its other `$cbs` link and puts its token again.
        "cbs-tx" => {
            let mut tx = Sender::attach(&mut d.session, name, "$cbs").await.unwrap();
            if put_token(emulator, &id, &mut tx, &mut d.cbs_rx).await == 200 {
                return "stays".to_owned();
            }
            ended(which, tx.on_detach()).await
        }
        "cbs-rx" => {
            let mut rx = Receiver::attach(&mut d.session, name, "$cbs")
                .await
                .unwrap();
            send_put_token(emulator, &id, &mut d.cbs_tx).await;
            // The answer (when it comes before the detach), then the detach.
            let mut answers = 0;
            loop {
                match timeout(LIMIT, rx.recv::<Body<Value>>()).await {
                    Ok(Ok(answer)) => {
                        let _ = rx.accept(&answer).await;
                        if status_of(&answer) == 200 {
                            return "stays".to_owned();
                        }
                        answers += 1;
                        assert!(answers < 2, "{which}: two answers to one put-token");
                    }
                    other => return format!("{other:?}"),
                }
            }
        }
        "d2c" | "twin-tx" | "methods-tx" => {
            let address = match which {
                "d2c" => format!("{base}/messages/events"),
                "twin-tx" => format!("{base}/twin"),
                _ => format!("{base}/methods/devicebound"),
            };
            let mut sender = Sender::attach(&mut d.session, name, address).await.unwrap();
            match timeout(pause, sender.on_detach()).await {
                Ok(e) => format!("{e:?}"),
                Err(_) => "stays".to_owned(),
            }
        }
        _ => {
            let address = match which {
                "c2d" => format!("{base}/messages/devicebound"),
                "twin-rx" => format!("{base}/twin"),
                _ => format!("{base}/methods/devicebound"),
            };
            let mut receiver = Receiver::attach(&mut d.session, name, address)
                .await
                .unwrap();
            match timeout(pause, receiver.recv::<Body<Value>>()).await {
                Ok(e) => format!("{e:?}"),
                Err(_) => "stays".to_owned(),
            }
        }
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
