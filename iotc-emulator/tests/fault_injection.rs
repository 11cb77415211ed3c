//! IoT hub's fault-injection hook (fault-injection.md): a device asks for a fault with the
//! `AzIoTHub_FaultOperation*` application properties of a telemetry message. Raw rumqttc
//! clients over loopback TLS; a bystander device checks that other devices are not affected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    connected, fault_topic, hub_client, refused_with, send_acked, start, subscribe_twin,
    twin_get_status, Client,
};
use iotc_emulator::Emulator;
use rumqttc::{ConnectReturnCode, ConnectionError, Packet, QoS};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);
const DELAY: Duration = Duration::from_millis(1000);
const DURATION: Duration = Duration::from_secs(2);

/// Sends a fault request (delay `DELAY`, duration `DURATION`) as QoS 1 telemetry.
async fn request(hub: &mut Client, dev: &str, kind: &str, reason: &str) -> Instant {
    let sent = Instant::now();
    hub.client
        .publish(
            fault_topic(
                dev,
                kind,
                reason,
                &DELAY.as_secs_f64().to_string(),
                &DURATION.as_secs_f64().to_string(),
            ),
            QoS::AtLeastOnce,
            false,
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        )
        .await
        .unwrap();
    sent
}

/// During the fault a reconnect is refused with `code` (`None`: cut without a CONNACK) while the
/// bystander keeps working; after the fault's duration a reconnect is accepted. Returns that
/// connection.
async fn refused_until_over(
    emulator: &Emulator,
    dev: &str,
    key: &str,
    code: Option<ConnectReturnCode>,
    sent: Instant,
    other: &mut Client,
) -> Client {
    let mut again = hub_client(emulator, dev, key, 3600);
    let err = again.connack().await.unwrap_err();
    assert_eq!(refused_with(&err), code, "during the fault: {err:?}");
    bystander_ok(other).await;
    until(sent + DELAY + DURATION).await;
    let mut back = hub_client(emulator, dev, key, 3600);
    back.connack().await.unwrap();
    back
}

/// A connected bystander that must keep working.
async fn bystander(emulator: &Emulator) -> Client {
    connected(emulator, "bystander").await.1
}

/// The bystander still round-trips telemetry.
async fn bystander_ok(b: &mut Client) {
    send_acked(b, "bystander", "still here").await;
}

/// Whether a connection error is a TCP reset (abrupt close) rather than a clean EOF.
fn is_reset(e: &ConnectionError) -> bool {
    match e {
        ConnectionError::Io(io) => io.kind() == std::io::ErrorKind::ConnectionReset,
        _ => format!("{e:?}").contains("ConnectionReset") || format!("{e:?}").contains("reset"),
    }
}

/// Sleeps until `at`.
async fn until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// The request is recorded as telemetry, with its properties.
fn recorded(emulator: &Emulator, dev: &str, kind: &str) {
    let recent = emulator.recent_telemetry(dev);
    let last = recent.last().expect("fault request recorded");
    assert_eq!(
        last.application_properties
            .get("AzIoTHub_FaultOperationType")
            .map(String::as_str),
        Some(kind)
    );
}

#[tokio::test]
async fn kill_tcp_cuts_after_the_delay_without_puback_and_cuts_reconnects_for_the_duration() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "kill-dev";
        let (key, mut hub) = connected(&emulator, dev).await;
        let mut other = bystander(&emulator).await;

        let sent = request(&mut hub, dev, "KillTcp", "boom").await;
        let err = hub.closed_without_puback().await.expect("connection error");
        let cut_after = sent.elapsed();
        assert!(
            cut_after >= DELAY,
            "cut after {cut_after:?}, before the delay"
        );
        assert!(
            cut_after < DELAY + Duration::from_secs(3),
            "cut after {cut_after:?}"
        );
        assert!(
            is_reset(&err),
            "boom is an abrupt close (TCP reset), got {err:?}"
        );
        recorded(&emulator, dev, "KillTcp");
        bystander_ok(&mut other).await;

        // Fault mode: a reconnect is cut without a CONNACK.
        let attempts = emulator.connection_attempts(dev);
        let mut again = hub_client(&emulator, dev, &key, 3600);
        let err = again.connack().await.unwrap_err();
        assert_eq!(
            refused_with(&err),
            None,
            "no CONNACK while KillTcp is in force: {err:?}"
        );
        assert_eq!(emulator.connection_attempts(dev), attempts + 1);
        assert!(!emulator.device(dev).unwrap().connected);
        bystander_ok(&mut other).await;

        // Normal operation after the duration.
        until(sent + DELAY + DURATION).await;
        let mut back = hub_client(&emulator, dev, &key, 3600);
        back.connack().await.unwrap();
        send_acked(&mut back, dev, "after the fault").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kill_tcp_byebye_closes_gracefully() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "bye-dev";
        let (_, mut hub) = connected(&emulator, dev).await;
        request(&mut hub, dev, "KillTcp", "byebye").await;
        let err = hub.closed_without_puback().await.expect("connection error");
        assert!(!is_reset(&err), "byebye is a graceful close, got {err:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn shut_down_mqtt_closes_gracefully_then_refuses_with_connack_3() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "shutdown-dev";
        let (key, mut hub) = connected(&emulator, dev).await;
        let mut other = bystander(&emulator).await;

        let sent = request(&mut hub, dev, "ShutDownMqtt", "byebye").await;
        let err = hub.closed_without_puback().await.expect("connection error");
        assert!(sent.elapsed() >= DELAY);
        assert!(!is_reset(&err), "graceful close expected, got {err:?}");
        recorded(&emulator, dev, "ShutDownMqtt");

        let code = Some(ConnectReturnCode::ServiceUnavailable);
        refused_until_over(&emulator, dev, &key, code, sent, &mut other).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn auth_error_closes_then_refuses_with_connack_5() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "auth-dev";
        let (key, mut hub) = connected(&emulator, dev).await;
        let mut other = bystander(&emulator).await;

        let sent = request(&mut hub, dev, "InvokeAuthError", "").await;
        hub.closed_without_puback().await.expect("connection error");
        assert!(sent.elapsed() >= DELAY);

        let code = Some(ConnectReturnCode::NotAuthorized);
        refused_until_over(&emulator, dev, &key, code, sent, &mut other).await;
    })
    .await
    .unwrap();
}

/// InvokeThrottling and InvokeMaxMessageQuota: the request is acknowledged, the connection
/// stays; after the delay twin requests fail with `status`, telemetry drops the connection,
/// reconnects get CONNACK 3; after the duration everything works again.
async fn operations_fail(kind: &str, status: &str) {
    let emulator = start().await;
    let dev = "ops-dev";
    let (key, mut hub) = connected(&emulator, dev).await;
    subscribe_twin(&mut hub).await;
    let mut other = bystander(&emulator).await;

    let sent = request(&mut hub, dev, kind, "boom").await;
    hub.puback().await;
    assert!(
        sent.elapsed() < DELAY,
        "the request is acknowledged at once"
    );
    recorded(&emulator, dev, kind);
    // Before the delay: normal.
    assert_eq!(twin_get_status(&mut hub, "1").await, "200");
    until(sent + DELAY).await;
    assert_eq!(twin_get_status(&mut hub, "2").await, status);
    assert!(emulator.device(dev).unwrap().connected);
    bystander_ok(&mut other).await;

    // Telemetry during the fault: not accepted, connection dropped.
    let before = emulator.recent_telemetry(dev).len();
    hub.client
        .publish(
            format!("devices/{dev}/messages/events/"),
            QoS::AtLeastOnce,
            false,
            "refused",
        )
        .await
        .unwrap();
    hub.closed_without_puback().await;
    assert_eq!(emulator.recent_telemetry(dev).len(), before);

    let code = Some(ConnectReturnCode::ServiceUnavailable);
    let mut back = refused_until_over(&emulator, dev, &key, code, sent, &mut other).await;
    subscribe_twin(&mut back).await;
    assert_eq!(twin_get_status(&mut back, "3").await, "200");
    send_acked(&mut back, dev, "accepted again").await;
}

#[tokio::test]
async fn invoke_throttling_fails_operations_with_429() {
    timeout(LIMIT, operations_fail("InvokeThrottling", "429"))
        .await
        .unwrap();
}

#[tokio::test]
async fn invoke_max_message_quota_fails_operations_with_403() {
    timeout(LIMIT, operations_fail("InvokeMaxMessageQuota", "403"))
        .await
        .unwrap();
}

#[tokio::test]
async fn amqp_faults_and_invalid_requests_do_nothing_on_mqtt() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "amqp-dev";
        let (_, mut hub) = connected(&emulator, dev).await;
        subscribe_twin(&mut hub).await;
        for kind in [
            "KillAmqpConnection",
            "KillAmqpSession",
            "KillAmqpCBSLinkReq",
            "KillAmqpCBSLinkResp",
            "KillAmqpD2CLink",
            "KillAmqpC2DLink",
            "KillAmqpTwinLinkReq",
            "KillAmqpTwinLinkResp",
            "KillAmqpMethodReqLink",
            "KillAmqpMethodRespLink",
            "ShutDownAmqp",
            "NoSuchFault",
        ] {
            hub.client
                .publish(
                    fault_topic(dev, kind, "boom", "0", "1"),
                    QoS::AtLeastOnce,
                    false,
                    "x",
                )
                .await
                .unwrap();
            hub.puback().await;
        }
        // An invalid delay: ignored as a fault, delivered as telemetry.
        hub.client
            .publish(
                fault_topic(dev, "KillTcp", "boom", "-1", "1"),
                QoS::AtLeastOnce,
                false,
                "x",
            )
            .await
            .unwrap();
        hub.puback().await;
        let incoming = hub.incoming_for(Duration::from_millis(300)).await;
        assert!(
            !incoming.iter().any(|p| matches!(p, Packet::Disconnect)),
            "{incoming:?}"
        );
        assert_eq!(twin_get_status(&mut hub, "1").await, "200");
        assert_eq!(emulator.recent_telemetry(dev).len(), 13);
        assert!(emulator.device(dev).unwrap().connected);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn zero_delay_kill_cuts_before_the_puback_and_a_resent_request_faults_again() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "again-dev";
        let (key, mut hub) = connected(&emulator, dev).await;
        let topic = fault_topic(dev, "KillTcp", "boom", "0", "0");
        hub.client
            .publish(topic.clone(), QoS::AtLeastOnce, false, "x")
            .await
            .unwrap();
        hub.closed_without_puback().await;
        // No duration: the next CONNECT is accepted; resending the request faults again.
        let mut again = hub_client(&emulator, dev, &key, 3600);
        again.connack().await.unwrap();
        again
            .client
            .publish(topic, QoS::AtLeastOnce, false, "x")
            .await
            .unwrap();
        again.closed_without_puback().await;
        assert_eq!(emulator.recent_telemetry(dev).len(), 2);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn clear_faults_cancels_a_requested_fault() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "cancel-dev";
        let (_, mut hub) = connected(&emulator, dev).await;
        hub.client
            .publish(
                fault_topic(dev, "KillTcp", "boom", "0.5", "5"),
                QoS::AtLeastOnce,
                false,
                "x",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        emulator.clear_faults();
        // Still connected after the delay; the withheld PUBACK stays withheld.
        let incoming = hub.incoming_for(Duration::from_millis(800)).await;
        assert!(!incoming.iter().any(|p| matches!(p, Packet::PubAck(_))));
        send_acked(&mut hub, dev, "fine").await;
    })
    .await
    .unwrap();
}
