//! IoT hub's fault-injection scenarios, as the official SDKs' reliability suites run them:
//! baseline operation, inject the fault, wait, the operation succeeds again; and the
//! service-side faults: throttling, refusals, early token expiry, lost acknowledgements.

use std::time::Duration;

use iotc_emulator::RefuseCode;
use iotc_sdk::device::{ConnectionState, StateChanges};
use iotc_sdk::retry::ExponentialBackoff;
use iotc_sdk::{Device, Error, Event, Message};
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

fn fast() -> ExponentialBackoff {
    ExponentialBackoff {
        base: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        max_attempts: None,
        jitter: 0.2,
    }
}

async fn connect_resilient(emulator: &iotc_emulator::Emulator, id: &str) -> Device {
    within(
        "connect",
        builder(emulator, MQTT, id).retry_policy(fast()).connect(),
    )
    .await
    .unwrap()
}

/// Every primitive, once: telemetry arrives, a reported property lands, a desired property
/// arrives and is acknowledged, a command is answered.
async fn all_operations_work(emulator: &iotc_emulator::Emulator, device: &Device) {
    let id = device.device_id().to_owned();
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"check": true})))
        .await
        .unwrap();
    loop {
        let m = within("receive", received.recv()).await.unwrap();
        if m.body_json() == Some(json!({"check": true})) {
            break;
        }
    }
    let v = within("report", device.report_properties(&json!({"alive": true})))
        .await
        .unwrap();
    assert!(v > 0);
    let version = within(
        "patch",
        emulator.update_desired(&id, json!({"setting": fastrand::u32(..)})),
    )
    .await
    .unwrap();
    let handler = {
        let device = device.clone();
        tokio::spawn(async move {
            let mut acked = false;
            let mut answered = false;
            while !(acked && answered) {
                match device.next_event().await {
                    Some(Event::WritableProperties(update)) => {
                        for p in update.properties() {
                            device.acknowledge(p, 200, None).await.unwrap();
                        }
                        acked |= update.version() >= version;
                    }
                    Some(Event::Command(command)) => {
                        command.respond(200, &json!({"pong": true})).await.unwrap();
                        answered = true;
                    }
                    Some(_) => {}
                    None => panic!("events ended"),
                }
            }
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(&id, "ping", json!({}), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    within("handler", handler).await.unwrap();
    assert_eq!(
        emulator.twin(&id).unwrap().reported["setting"]["av"],
        json!(version)
    );
}

/// A telemetry message that asks IoT hub for a fault (fault-injection.md), sent at most once so
/// that the request is not repeated after the reconnection it causes.
fn fault_request(kind: &str, delay_secs: u32, duration_secs: u32) -> Message {
    Message::new(b"fault".to_vec())
        .at_most_once()
        .with_property("AzIoTHub_FaultOperationType", kind)
        .with_property("AzIoTHub_FaultOperationCloseReason", "boom")
        .with_property("AzIoTHub_FaultOperationDelayInSecs", delay_secs.to_string())
        .with_property(
            "AzIoTHub_FaultOperationDurationInSecs",
            duration_secs.to_string(),
        )
}

async fn wait_for(
    changes: &mut StateChanges,
    wanted: impl Fn(&ConnectionState) -> bool,
) -> Vec<ConnectionState> {
    let mut seen = Vec::new();
    within("state", async {
        while let Some(state) = changes.next().await {
            let done = wanted(&state);
            seen.push(state);
            if done {
                return;
            }
        }
    })
    .await;
    seen
}

async fn disconnecting_fault(kind: &str, id: &str) {
    let emulator = emulator().await;
    let device = connect_resilient(&emulator, id).await;
    all_operations_work(&emulator, &device).await;
    let mut changes = device.state_changes();
    within("inject", device.send_message(fault_request(kind, 1, 2)))
        .await
        .unwrap();
    let seen = wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    assert!(seen.iter().all(|s| !s.is_closed()), "{kind}: {seen:?}");
    let seen = wait_for(&mut changes, ConnectionState::is_connected).await;
    assert!(
        seen.iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { .. })),
        "{kind}: {seen:?}"
    );
    all_operations_work(&emulator, &device).await;
    within("close", device.close()).await.unwrap();
    let seen = wait_for(&mut changes, ConnectionState::is_closed).await;
    assert_eq!(seen.last(), Some(&ConnectionState::Closed { reason: None }));
}

#[tokio::test]
async fn fault_kill_tcp() {
    disconnecting_fault("KillTcp", "fault-killtcp").await;
}

#[tokio::test]
async fn fault_shut_down_mqtt() {
    disconnecting_fault("ShutDownMqtt", "fault-shutdown").await;
}

#[tokio::test]
async fn fault_auth_error() {
    disconnecting_fault("InvokeAuthError", "fault-autherror").await;
}

async fn operation_fault(kind: &str, id: &str) {
    let emulator = emulator().await;
    let device = connect_resilient(&emulator, id).await;
    all_operations_work(&emulator, &device).await;
    within("inject", device.send_message(fault_request(kind, 0, 2)))
        .await
        .unwrap();
    // During the fault operations fail or wait; afterwards every one works again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    all_operations_work(&emulator, &device).await;
    assert!(!device.connection_state().is_closed());
}

#[tokio::test]
async fn fault_throttling() {
    operation_fault("InvokeThrottling", "fault-throttling").await;
}

#[tokio::test]
async fn fault_max_message_quota() {
    operation_fault("InvokeMaxMessageQuota", "fault-quota").await;
}

#[tokio::test]
async fn a_throttled_registration_reports_throttled_with_retry_after() {
    let emulator = emulator().await;
    emulator.throttle(Duration::from_secs(30), Duration::from_secs(1));
    let result = within(
        "connect",
        builder(&emulator, MQTT, "throttled-01").connect(),
    )
    .await;
    match result {
        Err(Error::Throttled { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(
        emulator.dps_attempts("throttled-01"),
        1,
        "retries reuse the DPS connection"
    );
}

#[tokio::test]
async fn an_unauthorized_hub_connect_is_reported_after_one_attempt() {
    let emulator = emulator().await;
    emulator.refuse_connections(
        Some("refused-01"),
        RefuseCode::NotAuthorized,
        Duration::from_secs(60),
    );
    let result = within(
        "connect",
        builder(&emulator, MQTT, "refused-01")
            .retry_policy(fast())
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    assert_eq!(
        emulator.connection_attempts("refused-01"),
        1,
        "no retry storm"
    );
}

#[tokio::test]
async fn a_briefly_refusing_hub_is_retried_at_the_policy_pace_until_it_accepts() {
    let emulator = emulator().await;
    let device = connect_resilient(&emulator, "refused-02").await;
    let mut changes = device.state_changes();
    emulator.refuse_connections(
        Some("refused-02"),
        RefuseCode::NotAuthorized,
        Duration::from_secs(2),
    );
    emulator.disconnect_device("refused-02");
    wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for(&mut changes, ConnectionState::is_connected).await;
    let attempts = emulator.connection_attempts("refused-02");
    // 2 s of refusals with 100–500 ms backoff: a handful of attempts, not hundreds.
    assert!((3..=15).contains(&attempts), "{attempts} attempts");
    all_operations_work(&emulator, &device).await;
}

#[tokio::test]
async fn tokens_expiring_early_are_replaced_on_the_reconnection() {
    let emulator = emulator().await;
    let device = connect_resilient(&emulator, "expiry-01").await;
    let mut changes = device.state_changes();
    emulator.expire_tokens_after(Some("expiry-01"), Duration::from_secs(1));
    wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for(&mut changes, ConnectionState::is_connected).await;
    emulator.clear_faults();
    all_operations_work(&emulator, &device).await;
}

#[tokio::test]
async fn a_lost_acknowledgement_is_resent_on_a_new_connection() {
    let emulator = emulator().await;
    let device = within(
        "connect",
        builder(&emulator, MQTT, "acks-01")
            .retry_policy(fast())
            .operation_timeout(Duration::from_secs(6))
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    emulator.drop_acks("acks-01", 1);
    // The PUBACK never comes: after half the operation timeout the device reconnects and sends
    // the message again; the caller sees one success, the service a duplicate with the same id.
    within(
        "send",
        device.send_message(Message::json(&json!({"once": 1})).unwrap()),
    )
    .await
    .unwrap();
    let first = within("receive", received.recv()).await.unwrap();
    let second = within("receive", received.recv()).await.unwrap();
    assert_eq!(first.body, second.body);
    assert!(first.message_id().is_some());
    assert_eq!(
        first.message_id(),
        second.message_id(),
        "the duplicate is recognizable"
    );
}

#[tokio::test]
async fn slow_acknowledgements_only_slow_things_down() {
    let emulator = emulator().await;
    let device = connect_resilient(&emulator, "acks-02").await;
    emulator.delay_acks("acks-02", Duration::from_millis(300));
    for i in 0..3 {
        within("send", device.send_telemetry(&json!({"i": i})))
            .await
            .unwrap();
        within("report", device.report_properties(&json!({"i": i})))
            .await
            .unwrap();
    }
    assert!(device.connection_state().is_connected());
}

/// While nothing can answer (the hub refuses the reconnection), every call ends with
/// `Error::Timeout` at its own operation timeout, whichever kind of request it is and whenever
/// it started; the queued telemetry still goes out once the hub accepts the device again.
#[tokio::test]
async fn calls_nobody_answers_time_out_at_their_own_deadline() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let emulator = emulator().await;
    let device = within(
        "connect",
        builder(&emulator, MQTT, "deadline-01")
            .retry_policy(fast())
            .operation_timeout(TIMEOUT)
            .connect(),
    )
    .await
    .unwrap();
    let mut changes = device.state_changes();
    emulator.refuse_connections(
        Some("deadline-01"),
        RefuseCode::ServerUnavailable,
        Duration::from_secs(60),
    );
    emulator.disconnect_device("deadline-01");
    wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;

    let mut calls = Vec::new();
    for i in 0..6u64 {
        let device = device.clone();
        calls.push(tokio::spawn(async move {
            // Started 300 ms apart: the later calls' deadlines come after the first one's.
            tokio::time::sleep(Duration::from_millis(300 * i)).await;
            let start = tokio::time::Instant::now();
            let result = match i % 3 {
                0 => device.send_telemetry(&json!({"queued": i})).await,
                1 => device.get_twin().await.map(drop),
                _ => device.report_properties(&json!({"i": i})).await.map(drop),
            };
            (i, start.elapsed(), result)
        }));
    }
    for call in calls {
        let (i, waited, result) = within("call", call).await.unwrap();
        assert!(
            matches!(result, Err(Error::Timeout(t, _)) if t == TIMEOUT),
            "call {i}: {result:?}"
        );
        assert!(
            waited >= TIMEOUT && waited < TIMEOUT + Duration::from_secs(1),
            "call {i} waited {waited:?}"
        );
    }

    // Delivery stays at least once: the timed-out telemetry is sent after the reconnection.
    let mut received = emulator.telemetry();
    emulator.refuse_connections(
        Some("deadline-01"),
        RefuseCode::ServerUnavailable,
        Duration::ZERO,
    );
    wait_for(&mut changes, ConnectionState::is_connected).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = within("queued telemetry", received.recv()).await.unwrap();
        if let Some(n) = m.body_json().and_then(|b| b.get("queued")?.as_u64()) {
            seen.push(n);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 3]);
    all_operations_work(&emulator, &device).await;
}
