//! Several hubs with iotc-sdk devices (feature `sdk`): over MQTT, AMQP and HTTPS, a device DPS assigns
//! to hub 1 (`127.0.0.2`) connects there and its telemetry arrives, and a failover closes its
//! connection. Run with `--features sdk`.
#![cfg(feature = "sdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::transport::Protocol;
use serde_json::json;
use tokio::time::timeout;

/// Over `protocols`: devices land on both hubs, each sends from its hub, and a failover closes
/// the connection of a device on hub 1.
async fn devices_reach_both_hubs(protocols: &[Protocol]) {
    timeout(Duration::from_secs(240), async {
        let emulator = Emulator::start(EmulatorConfig {
            dps_retry_after: Duration::ZERO,
            hubs: 2,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let mut telemetry = emulator.telemetry();
        for &protocol in protocols {
            let mut hubs_seen = [false; 2];
            // Device ids are assigned by a hash: a few of them cover both hubs.
            for i in 0..8 {
                let id = format!("sdk-{protocol:?}-{i}").to_ascii_lowercase();
                let device = emulator
                    .device_builder(&id, protocol)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let hub = emulator.device_hub(&id).unwrap();
                hubs_seen[hub] = true;
                device
                    .send_telemetry(&json!({"hub": hub}))
                    .await
                    .unwrap_or_else(|e| panic!("{id} on hub {hub}: {e}"));
                let msg = loop {
                    let msg = telemetry.recv().await.unwrap();
                    if msg.device_id == id {
                        break msg;
                    }
                };
                assert_eq!(msg.body_json(), Some(json!({"hub": hub})));
                if hub == 1 && protocol != Protocol::Https {
                    // A failover closes the connection of a device on hub 1.
                    assert!(emulator.device(&id).unwrap().connected, "{id}");
                    assert_eq!(emulator.manual_failover(&id).unwrap(), 0);
                    while emulator.device(&id).unwrap().connected {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                let _ = device.close().await;
                if hubs_seen == [true, true] {
                    break;
                }
            }
            assert_eq!(
                hubs_seen,
                [true, true],
                "{protocol:?}: 8 devices on one hub"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sdk_devices_reach_both_hubs_over_mqtt() {
    devices_reach_both_hubs(&[Protocol::Mqtt]).await;
}

/// Needs `--features sdk,iotc-sdk/amqp,iotc-sdk/websocket,iotc-sdk/https` (see the file's doc).
#[tokio::test]
#[ignore = "needs the SDK's amqp, websocket and https features"]
async fn sdk_devices_reach_both_hubs_on_every_transport() {
    devices_reach_both_hubs(&[
        Protocol::Mqtt,
        Protocol::MqttWs,
        Protocol::Amqp,
        Protocol::AmqpWs,
        Protocol::Https,
    ])
    .await;
}
