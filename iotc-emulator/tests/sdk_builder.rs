//! `Emulator::device_builder` (feature `sdk`): a device of the iotc-sdk connects with it over
//! MQTT and its telemetry arrives. Run with `--features sdk`.
#![cfg(feature = "sdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::transport::Protocol;
use serde_json::json;
use tokio::time::timeout;

#[tokio::test]
async fn builder_connects_a_device() {
    timeout(Duration::from_secs(60), async {
        let emulator = Emulator::start(EmulatorConfig {
            dps_retry_after: Duration::ZERO,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let mut telemetry = emulator.telemetry();
        let device = emulator
            .device_builder("builder-dev", Protocol::Mqtt)
            .unwrap()
            .connect()
            .await
            .unwrap();
        device
            .send_telemetry(&json!({"temperature": 20.5}))
            .await
            .unwrap();
        let msg = telemetry.recv().await.unwrap();
        assert_eq!(msg.device_id, "builder-dev");
        assert_eq!(msg.body_json(), Some(json!({"temperature": 20.5})));
        assert!(emulator.device("builder-dev").unwrap().connected);
        device.close().await.unwrap();
    })
    .await
    .unwrap();
}
