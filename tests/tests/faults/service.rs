//! Service-side faults, one table run on every transport they apply to: throttling with
//! `retry-after`, refusals, tokens the hub expires early, lost and slow acknowledgements, and
//! calls nobody answers. For the same situation every transport must behave the same: the same
//! typed error, the same bounded retries, nothing lost.

use std::time::Duration;

use iotc_emulator::RefuseCode;
use iotc_sdk::device::ConnectionState;
use iotc_sdk::retry::NoRetry;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Error, Message};
use serde_json::json;

use iotc_tests::*;

/// DPS answers 429 with `retry-after`: the caller gets `Throttled` with the service's delay,
/// after the bounded retries: on one DPS connection (one attempt counted) where the transport
/// keeps one, one request each over HTTPS.
pub async fn throttled_registration(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "throttled-reg");
    emulator.throttle(Duration::from_secs(30), Duration::from_secs(1));
    let result = within("connect", builder(&emulator, protocol, &id).connect()).await;
    match result {
        Err(Error::Throttled { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    let attempts = emulator.dps_attempts(&id);
    if protocol == Protocol::Https {
        assert!((2..=5).contains(&attempts), "{attempts} DPS requests");
    } else {
        assert_eq!(attempts, 1, "retries reuse the DPS connection");
    }
}

/// The hub refuses the device as unauthorized: `Unauthorized` after one attempt, no retry storm.
pub async fn unauthorized_hub_connect(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "refused");
    emulator.refuse_connections(
        Some(&id),
        RefuseCode::NotAuthorized,
        Duration::from_secs(60),
    );
    let result = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(NoRetry)
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    // HTTPS opens no hub connection (its requests are not connection attempts).
    let expected = u64::from(protocol != Protocol::Https);
    assert_eq!(
        emulator.connection_attempts(&id),
        expected,
        "no retry storm"
    );
}

/// A connected device is dropped and refused for 2 s: it reconnects at the retry policy's
/// pace, and every operation works afterwards.
pub async fn briefly_refusing_hub(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "refused-brief");
    let device = connect_resilient(&emulator, protocol, &id).await;
    let mut changes = device.state_changes();
    emulator.refuse_connections(Some(&id), RefuseCode::NotAuthorized, Duration::from_secs(2));
    emulator.disconnect_device(&id);
    let seen = wait_for_state(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    assert!(seen.iter().all(|s| !s.is_closed()), "{seen:?}");
    let seen = wait_for_state(&mut changes, ConnectionState::is_connected).await;
    assert!(
        seen.iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { .. })),
        "{seen:?}"
    );
    let attempts = emulator.connection_attempts(&id);
    // 2 s of refusals with 100–500 ms back-off: a handful of attempts, not hundreds.
    assert!((3..=15).contains(&attempts), "{attempts} attempts");
    all_operations_work(&emulator, &device).await;
}

/// The hub ends the device's session after 1 s (its token "expired"): the device comes back
/// with a fresh token, and every operation works.
pub async fn tokens_expiring_early(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "expiry");
    let device = connect_resilient(&emulator, protocol, &id).await;
    let mut changes = device.state_changes();
    emulator.expire_tokens_after(Some(&id), Duration::from_secs(1));
    wait_for_state(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for_state(&mut changes, ConnectionState::is_connected).await;
    emulator.clear_faults();
    all_operations_work(&emulator, &device).await;
}

/// The acknowledgement of a message never comes: after half the operation timeout the device
/// reconnects and sends the message again; the caller sees one success, the service a
/// duplicate with the same message id.
pub async fn lost_acknowledgement(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "acks-lost");
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(fast_retry())
            .operation_timeout(Duration::from_secs(6))
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    emulator.drop_acks(&id, 1);
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

/// Acknowledgements that take 300 ms only slow things down: no error, no reconnection.
pub async fn slow_acknowledgements(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "acks-slow");
    let device = connect_resilient(&emulator, protocol, &id).await;
    emulator.delay_acks(&id, Duration::from_millis(300));
    for i in 0..3 {
        within("send", device.send_telemetry(&json!({"i": i})))
            .await
            .unwrap();
        if protocol.supports_twin() {
            within("report", device.report_properties(&json!({"i": i})))
                .await
                .unwrap();
        }
    }
    assert!(device.connection_state().is_connected());
    let expected = u64::from(protocol != Protocol::Https);
    assert_eq!(
        emulator.connection_attempts(&id),
        expected,
        "no reconnection"
    );
}

/// While nothing can answer (the hub refuses the reconnection), every call ends with
/// `Error::Timeout` at its own operation timeout, whichever kind of request it is and whenever
/// it started; the queued telemetry still goes out once the hub accepts the device again.
pub async fn calls_time_out_at_their_deadline(protocol: Protocol) {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let emulator = emulator().await;
    let id = id(protocol, "deadline");
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(fast_retry())
            .operation_timeout(TIMEOUT)
            .connect(),
    )
    .await
    .unwrap();
    let mut changes = device.state_changes();
    emulator.refuse_connections(
        Some(&id),
        RefuseCode::ServerUnavailable,
        Duration::from_secs(60),
    );
    emulator.disconnect_device(&id);
    wait_for_state(&mut changes, |s| {
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
    emulator.refuse_connections(Some(&id), RefuseCode::ServerUnavailable, Duration::ZERO);
    wait_for_state(&mut changes, ConnectionState::is_connected).await;
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

/// Telemetry sent while the hub throttles succeeds once the throttle ends (held or resent
/// after `retry-after`), never fails and never earlier than the service allows.
pub async fn throttled_telemetry(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "throttled-telemetry");
    let device = connect(&emulator, protocol, &id).await;
    let mut received = emulator.telemetry();
    emulator.throttle(Duration::from_millis(1500), Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    within("send", device.send_telemetry(&json!({"n": 1})))
        .await
        .unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    assert_eq!(got.device_id, id);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "accepted after {:?}, inside the throttle",
        started.elapsed()
    );
    all_operations_work(&emulator, &device).await;
}

// Every transport meets DPS and the hub's refusals; the faults of a kept connection (a drop,
// a session the hub ends, a lost acknowledgement, calls queued while reconnecting) need one,
// which HTTPS does not keep.
matrix! {
    [throttled_registration, unauthorized_hub_connect, slow_acknowledgements, throttled_telemetry]
    on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        https => Protocol::Https,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}

mod connected {
    pub use super::*;
    matrix! {
        [briefly_refusing_hub, tokens_expiring_early, lost_acknowledgement, calls_time_out_at_their_deadline]
        on [
            mqtt => Protocol::Mqtt,
            mqtt_ws => Protocol::MqttWs,
            amqp => Protocol::Amqp,
            amqp_ws => Protocol::AmqpWs,
        ]
    }
}
