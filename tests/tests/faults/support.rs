//! One row of the fault matrix: an emulator, a device on `protocol`, the fault request, then a
//! burst of telemetry and a twin read that must all get through.

use std::collections::BTreeSet;
use std::time::Duration;

use iotc_sdk::device::ConnectionState;
use iotc_sdk::message::Message;
use iotc_sdk::transport::Protocol;
use iotc_tests::{all_operations_work, builder, emulator, wait_for_state, within, within_for};

/// The fault starts this long after the request…
const DELAY: &str = "0.3";
/// …and lasts this long.
const DURATION: Duration = Duration::from_secs(1);
/// How long one step may take: recovering from a fault may take the retry policy's back-off.
const PATIENCE: Duration = Duration::from_secs(60);
/// Telemetry messages sent after the request.
const BURST: usize = 5;
/// The most connection attempts one fault may cost (the retry policy backs off; the fault
/// refuses reconnections for `DURATION`).
const MAX_ATTEMPTS: u64 = 12;

/// Requests `fault` from a device on `protocol`, then checks that a burst of telemetry sent
/// through the fault arrives whole and once per message id, that the twin can be read, that
/// the reconnections stayed bounded, that every operation works afterwards and that the
/// device closes cleanly.
pub async fn run(protocol: Protocol, fault: &str) {
    let emulator = emulator().await;
    let id = format!("faults-{}", fault.to_ascii_lowercase());
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .operation_timeout(Duration::from_secs(30))
            .connect(),
    )
    .await
    .expect("device connects");
    let mut received = emulator.telemetry();
    let before = emulator.connection_attempts(&id);
    let mut changes = device.state_changes();

    // The request must not be repeated after a reconnection (it would ask for the fault again).
    let request = Message::new("fault")
        .with_property("AzIoTHub_FaultOperationType", fault)
        .with_property("AzIoTHub_FaultOperationCloseReason", "boom")
        .with_property("AzIoTHub_FaultOperationDelayInSecs", DELAY)
        .with_property(
            "AzIoTHub_FaultOperationDurationInSecs",
            DURATION.as_secs_f64().to_string(),
        )
        .at_most_once();
    within_for(PATIENCE, "fault request", device.send_message(request))
        .await
        .expect("fault request sent");
    // Into the fault: the burst meets it (or its aftermath).
    tokio::time::sleep(Duration::from_millis(400)).await;
    for n in 0..BURST {
        let message = Message::json(&serde_json::json!({ "n": n }))
            .unwrap()
            .with_message_id(format!("{id}-{n}"));
        within_for(PATIENCE, "send", device.send_message(message))
            .await
            .unwrap_or_else(|e| panic!("{fault} over {protocol:?}: message {n} failed: {e}"));
    }
    if protocol.supports_twin() {
        let twin = within_for(PATIENCE, "twin", device.get_twin()).await;
        assert!(
            twin.is_ok(),
            "{fault} over {protocol:?}: twin read failed: {twin:?}"
        );
    }

    // Nothing lost: every message id of the burst reached the service.
    let mut seen = BTreeSet::new();
    while seen.len() < BURST {
        let message = within_for(PATIENCE, "telemetry", received.recv())
            .await
            .expect("telemetry");
        if let Some(mid) = message.system_properties.get("mid") {
            if mid.starts_with(&id) {
                seen.insert(mid.clone());
            }
        }
    }
    let attempts = emulator.connection_attempts(&id) - before;
    assert!(
        attempts <= MAX_ATTEMPTS,
        "{fault} over {protocol:?}: {attempts} connection attempts"
    );

    // Whatever the fault did, every operation works afterwards, the device never closed on its
    // own, and it closes cleanly when asked.
    within_for(
        PATIENCE,
        "all operations",
        all_operations_work(&emulator, &device),
    )
    .await;
    within_for(PATIENCE, "close", device.close())
        .await
        .unwrap_or_else(|e| panic!("{fault} over {protocol:?}: close failed: {e}"));
    let seen = wait_for_state(&mut changes, ConnectionState::is_closed).await;
    assert!(
        seen[..seen.len() - 1].iter().all(|s| !s.is_closed()),
        "{fault} over {protocol:?}: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&ConnectionState::Closed { reason: None }),
        "{fault} over {protocol:?}"
    );
}
