//! When a connected device goes back to DPS (protocol.md "Resilience"): when the hub refuses it
//! as unauthorized or no longer knows it, never on throttling or a busy hub (counted with the
//! emulator's DPS attempt counter).

use std::time::Duration;

use iotc_emulator::{Emulator, RefuseCode};
use iotc_sdk::device::{ConnectionState, StateChanges};
use iotc_sdk::provisioning::{FileProvisioningCache, ProvisioningCache};
use iotc_sdk::retry::ExponentialBackoff;
use iotc_sdk::Device;
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

fn fast() -> ExponentialBackoff {
    ExponentialBackoff {
        base: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_attempts: None,
        jitter: 0.2,
    }
}

async fn connected(emulator: &Emulator, id: &str) -> Device {
    within(
        "connect",
        builder(emulator, MQTT, id).retry_policy(fast()).connect(),
    )
    .await
    .unwrap()
}

async fn wait_for(changes: &mut StateChanges, wanted: impl Fn(&ConnectionState) -> bool) {
    within("state", async {
        while let Some(state) = changes.next().await {
            if wanted(&state) {
                return;
            }
        }
        panic!("the state stream ended");
    })
    .await;
}

/// The connection drops, the hub keeps answering with `fault` for 2 s, then takes the device
/// again; the device must be connected and sending afterwards.
async fn drop_with_fault(emulator: &Emulator, device: &Device, fault: impl FnOnce(&Emulator)) {
    let id = device.device_id().to_owned();
    let mut changes = device.state_changes();
    fault(emulator);
    emulator.disconnect_device(&id);
    wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for(&mut changes, ConnectionState::is_connected).await;
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"after": true})))
        .await
        .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.device_id, id);
}

#[tokio::test]
async fn throttling_is_waited_out_without_dps() {
    let emulator = emulator().await;
    let device = connected(&emulator, "reprov-01").await;
    drop_with_fault(&emulator, &device, |em| {
        em.throttle(Duration::from_secs(2), Duration::from_secs(1));
    })
    .await;
    assert!(
        emulator.connection_attempts("reprov-01") >= 3,
        "it was refused on the way"
    );
    assert_eq!(emulator.dps_attempts("reprov-01"), 1, "no re-provisioning");
}

#[tokio::test]
async fn a_busy_hub_is_waited_out_without_dps() {
    let emulator = emulator().await;
    let device = connected(&emulator, "reprov-02").await;
    drop_with_fault(&emulator, &device, |em| {
        em.refuse_connections(
            Some("reprov-02"),
            RefuseCode::ServerUnavailable,
            Duration::from_secs(2),
        );
    })
    .await;
    assert!(
        emulator.connection_attempts("reprov-02") >= 3,
        "it was refused on the way"
    );
    assert_eq!(emulator.dps_attempts("reprov-02"), 1, "no re-provisioning");
}

#[tokio::test]
async fn an_unauthorized_device_goes_back_to_dps_once_and_the_cache_learns_it() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = FileProvisioningCache::new(dir.path().join("reprov-03.json"));
    let device = within(
        "connect",
        builder(&emulator, MQTT, "reprov-03")
            .retry_policy(fast())
            .provisioning_cache(cache.clone())
            .connect(),
    )
    .await
    .unwrap();
    assert!(cache.load().unwrap().is_some());
    cache.clear().unwrap();
    drop_with_fault(&emulator, &device, |em| {
        em.refuse_connections(
            Some("reprov-03"),
            RefuseCode::NotAuthorized,
            Duration::from_secs(2),
        );
    })
    .await;
    assert_eq!(
        emulator.dps_attempts("reprov-03"),
        2,
        "exactly one re-provisioning"
    );
    let cached = cache
        .load()
        .unwrap()
        .expect("the re-provisioning was cached");
    assert_eq!(cached.device_id, "reprov-03");
}

#[tokio::test]
async fn a_device_the_hub_no_longer_knows_goes_back_to_dps() {
    let emulator = emulator().await;
    let device = connected(&emulator, "reprov-04").await;
    let mut changes = device.state_changes();
    // Deleted in IoT Central (the connection is closed): the hub no longer knows the device
    // until DPS registers it again.
    assert!(emulator.remove_device("reprov-04"));
    wait_for(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for(&mut changes, ConnectionState::is_connected).await;
    assert_eq!(
        emulator.dps_attempts("reprov-04"),
        2,
        "exactly one re-provisioning"
    );
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"back": true})))
        .await
        .unwrap();
    assert_eq!(
        within("receive", received.recv()).await.unwrap().device_id,
        "reprov-04"
    );
}
