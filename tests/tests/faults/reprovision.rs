//! When a connected device goes back to DPS (protocol.md "Resilience"), one table on every
//! transport that keeps a connection: when the hub refuses it as unauthorized or no longer
//! knows it, never on throttling or a busy hub (counted with the emulator's DPS attempt
//! counter).

use std::time::Duration;

use iotc_emulator::{Emulator, RefuseCode};
use iotc_sdk::device::ConnectionState;
use iotc_sdk::provisioning::{FileProvisioningCache, ProvisioningCache};
use iotc_sdk::transport::Protocol;
use iotc_sdk::Device;
use serde_json::json;

use iotc_tests::*;

/// The connection drops, the hub keeps answering with `fault` for 2 s, then takes the device
/// again; the device must be connected and sending afterwards.
async fn drop_with_fault(emulator: &Emulator, device: &Device, fault: impl FnOnce(&Emulator)) {
    let id = device.device_id().to_owned();
    let mut changes = device.state_changes();
    fault(emulator);
    emulator.disconnect_device(&id);
    wait_for_state(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for_state(&mut changes, ConnectionState::is_connected).await;
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"after": true})))
        .await
        .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.device_id, id);
}

pub async fn throttling_is_waited_out_without_dps(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "reprov-throttled");
    let device = connect_resilient(&emulator, protocol, &id).await;
    drop_with_fault(&emulator, &device, |em| {
        em.throttle(Duration::from_secs(2), Duration::from_secs(1));
    })
    .await;
    assert!(
        emulator.connection_attempts(&id) >= 3,
        "it was refused on the way"
    );
    assert_eq!(emulator.dps_attempts(&id), 1, "no re-provisioning");
}

pub async fn a_busy_hub_is_waited_out_without_dps(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "reprov-busy");
    let device = connect_resilient(&emulator, protocol, &id).await;
    drop_with_fault(&emulator, &device, |em| {
        em.refuse_connections(
            Some(&id),
            RefuseCode::ServerUnavailable,
            Duration::from_secs(2),
        );
    })
    .await;
    assert!(
        emulator.connection_attempts(&id) >= 3,
        "it was refused on the way"
    );
    assert_eq!(emulator.dps_attempts(&id), 1, "no re-provisioning");
}

pub async fn unauthorized_goes_back_to_dps_once_and_the_cache_learns_it(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "reprov-unauthorized");
    let dir = tempfile::tempdir().unwrap();
    let cache = FileProvisioningCache::new(dir.path().join("cache.json"));
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(fast_retry())
            .provisioning_cache(cache.clone())
            .connect(),
    )
    .await
    .unwrap();
    assert!(cache.load().unwrap().is_some());
    cache.clear().unwrap();
    drop_with_fault(&emulator, &device, |em| {
        em.refuse_connections(Some(&id), RefuseCode::NotAuthorized, Duration::from_secs(2));
    })
    .await;
    assert_eq!(emulator.dps_attempts(&id), 2, "exactly one re-provisioning");
    let cached = cache
        .load()
        .unwrap()
        .expect("the re-provisioning was cached");
    assert_eq!(cached.device_id, id);
}

pub async fn a_device_the_hub_no_longer_knows_goes_back_to_dps(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "reprov-unknown");
    let device = connect_resilient(&emulator, protocol, &id).await;
    let mut changes = device.state_changes();
    // Deleted in IoT Central (the connection is closed): the hub no longer knows the device
    // until DPS registers it again.
    assert!(emulator.remove_device(&id));
    wait_for_state(&mut changes, |s| {
        matches!(s, ConnectionState::Disconnected { .. })
    })
    .await;
    wait_for_state(&mut changes, ConnectionState::is_connected).await;
    assert_eq!(emulator.dps_attempts(&id), 2, "exactly one re-provisioning");
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"back": true})))
        .await
        .unwrap();
    assert_eq!(
        within("receive", received.recv()).await.unwrap().device_id,
        id
    );
}

matrix! {
    [
        throttling_is_waited_out_without_dps,
        a_busy_hub_is_waited_out_without_dps,
        unauthorized_goes_back_to_dps_once_and_the_cache_learns_it,
        a_device_the_hub_no_longer_knows_goes_back_to_dps,
    ]
    on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}
