//! The provisioning cache: a device that has been assigned a hub connects straight to it on
//! its next boot, and goes back to DPS only when the cache does not fit or the hub does not
//! take the device (counted with the emulator's DPS attempt counter).

use std::path::Path;

use iotc_emulator::Emulator;
use iotc_sdk::provisioning::{FileProvisioningCache, ProvisioningCache};
use iotc_sdk::Device;
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

/// One boot: connect with the cache in `file`, send one message (which the emulator must
/// receive from `device_id`), close.
async fn boot(
    emulator: &Emulator,
    device_id: &str,
    file: &Path,
    payload: Option<serde_json::Value>,
) {
    let mut received = emulator.telemetry();
    let mut builder =
        builder(emulator, MQTT, device_id).provisioning_cache(FileProvisioningCache::new(file));
    if let Some(payload) = payload {
        builder = builder.provisioning_payload(payload);
    }
    let device: Device = within("connect", builder.connect()).await.unwrap();
    within("send", device.send_telemetry(&json!({"boot": true})))
        .await
        .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.device_id, device_id);
    within("close", device.close()).await.unwrap();
    wait_disconnected(emulator, device_id).await;
}

#[tokio::test]
async fn two_boots_with_a_cache_register_once() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache-01.json");
    boot(&emulator, "cache-01", &file, None).await;
    assert_eq!(emulator.dps_attempts("cache-01"), 1);
    let cached = FileProvisioningCache::new(&file).load().unwrap().unwrap();
    assert_eq!(cached.device_id, "cache-01");
    assert_eq!(cached.model_id.as_deref(), Some(THERMOSTAT));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(emulator.group_key()) && !text.to_lowercase().contains("key"),
        "no key in the cache: {text}"
    );

    boot(&emulator, "cache-01", &file, None).await;
    assert_eq!(
        emulator.dps_attempts("cache-01"),
        1,
        "the second boot used the cache"
    );
}

#[tokio::test]
async fn a_changed_payload_registers_again() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache-02.json");
    boot(&emulator, "cache-02", &file, None).await;
    boot(&emulator, "cache-02", &file, Some(json!({"site": "north"}))).await;
    assert_eq!(emulator.dps_attempts("cache-02"), 2);
    let cached = FileProvisioningCache::new(&file).load().unwrap().unwrap();
    assert_eq!(cached.payload, Some(json!({"site": "north"})));
    boot(&emulator, "cache-02", &file, Some(json!({"site": "north"}))).await;
    assert_eq!(emulator.dps_attempts("cache-02"), 2);
}

#[tokio::test]
async fn a_corrupt_cache_means_register() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache-03.json");
    std::fs::write(&file, b"{\"hubHost\": \"nowhere\", ").unwrap();
    boot(&emulator, "cache-03", &file, None).await;
    assert_eq!(emulator.dps_attempts("cache-03"), 1);
    assert!(
        FileProvisioningCache::new(&file).load().unwrap().is_some(),
        "the registration replaced the corrupt cache"
    );
    boot(&emulator, "cache-03", &file, None).await;
    assert_eq!(emulator.dps_attempts("cache-03"), 1);
}

#[tokio::test]
async fn a_cached_hub_that_is_gone_sends_the_device_back_to_dps() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache-04.json");
    boot(&emulator, "cache-04", &file, None).await;
    // The cached hub no longer answers there: nothing listens on the port any more.
    let cache = FileProvisioningCache::new(&file);
    let mut stale = cache.load().unwrap().unwrap();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    stale.hub_port = unused.local_addr().unwrap().port();
    drop(unused);
    cache.store(&stale).unwrap();
    boot(&emulator, "cache-04", &file, None).await;
    assert_eq!(emulator.dps_attempts("cache-04"), 2);
    let fresh = cache.load().unwrap().unwrap();
    assert_ne!(
        fresh.hub_port, stale.hub_port,
        "the cache holds the new assignment"
    );
}

#[tokio::test]
async fn a_hub_that_no_longer_knows_the_device_sends_it_back_to_dps() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache-05.json");
    boot(&emulator, "cache-05", &file, None).await;
    // Deleted in IoT Central: the hub refuses it until DPS registers it again.
    assert!(emulator.remove_device("cache-05"));
    boot(&emulator, "cache-05", &file, None).await;
    assert_eq!(emulator.dps_attempts("cache-05"), 2);
}
