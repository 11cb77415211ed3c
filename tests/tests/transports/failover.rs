//! Hub failover (issue 16's proof): a device sending 1,000 messages while IoT Central moves it
//! to another hub (`az iot central device manual-failover`, the emulator's
//! [`manual_failover`](iotc_emulator::Emulator::manual_failover)) loses none, registers with
//! DPS again exactly once, is connected to the other hub within 5 s, and its provisioning cache
//! holds that hub. On every transport
//! that keeps a connection (HTTPS has none to fail over).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use iotc_emulator::EmulatorConfig;
use iotc_sdk::device::ConnectionState;
use iotc_sdk::provisioning::{FileProvisioningCache, ProvisioningCache};
use iotc_sdk::retry::ExponentialBackoff;
use iotc_sdk::transport::Protocol;
use serde_json::json;

use iotc_tests::*;

const MESSAGES: u64 = 1_000;
/// The message after which the device is failed over.
const FAIL_OVER_AT: u64 = 300;

pub async fn failover_loses_nothing(protocol: Protocol) {
    let emulator = start_emulator(EmulatorConfig {
        hubs: 2,
        ..emulator_config()
    })
    .await;
    let id = id(protocol, "failover");
    let dir = tempfile::tempdir().unwrap();
    let cache = FileProvisioningCache::new(dir.path().join("assignment.json"));
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(ExponentialBackoff {
                base: Duration::from_millis(100),
                max_delay: Duration::from_millis(400),
                max_attempts: None,
                jitter: 0.2,
            })
            .provisioning_cache(cache.clone())
            .connect(),
    )
    .await
    .unwrap();
    let home = emulator.device_hub(&id).unwrap();
    assert_eq!(emulator.dps_registrations(&id), 1);

    // Everything the emulator receives from the device, collected while it sends.
    let collector = collect_numbered(&emulator, &id, MESSAGES);
    // When the device is connected again after the failover.
    let mut changes = device.state_changes();
    let reconnected = tokio::spawn(async move {
        let mut lost = false;
        while let Some(state) = changes.next().await {
            match state {
                ConnectionState::Disconnected { .. } => lost = true,
                ConnectionState::Connected if lost => return Instant::now(),
                _ => {}
            }
        }
        panic!("the state stream ended before the device reconnected");
    });

    let mut failed_over = None;
    for n in 0..MESSAGES {
        if n == FAIL_OVER_AT {
            let to = emulator.manual_failover(&id).unwrap();
            assert_ne!(to, home);
            failed_over = Some((Instant::now(), to));
        }
        within("send", device.send_telemetry(&json!({"n": n})))
            .await
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
    }
    let (at, to) = failed_over.unwrap();
    let back = within("reconnection", reconnected).await.unwrap();
    let took = back.duration_since(at);
    assert!(
        took < Duration::from_secs(5),
        "connected again {took:?} after the failover"
    );
    let seen = within("every message", collector).await.unwrap();
    assert_eq!(seen, (0..MESSAGES).collect::<BTreeSet<_>>(), "none lost");
    assert_eq!(
        emulator.dps_registrations(&id),
        2,
        "exactly one re-provisioning"
    );
    let info = emulator.device(&id).unwrap();
    assert_eq!(info.hub, to, "on the other hub");
    assert!(info.connected, "connected there");
    let cached = cache.load().unwrap().expect("an assignment is cached");
    assert_eq!(
        cached.hub_host,
        emulator.hubs()[to].hostname,
        "the cache holds the new hub"
    );
    assert_eq!(
        device.hub_host(),
        emulator.hubs()[to].hostname,
        "the device names its new hub"
    );
    // File upload goes to the hub the device is on now.
    let uploaded = within(
        "upload",
        device.upload_file("after-failover.txt", b"moved".to_vec()),
    )
    .await;
    assert!(uploaded.is_ok(), "upload after the failover: {uploaded:?}");
    device.close().await.unwrap();
}

matrix! {
    [failover_loses_nothing] on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}
