//! Shared set-up: an emulator per test and devices connected to it.

use std::time::Duration;

use iotc_emulator::Emulator;
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::{Credentials, Device, DeviceBuilder};

pub const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

pub use crate::harness::{emulator, eventually, next_event, within};

pub fn tls(emulator: &Emulator) -> TlsConfig {
    TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap()
}

/// A builder for `device_id` provisioning through the emulator's DPS with its group key.
pub fn builder(emulator: &Emulator, device_id: &str) -> DeviceBuilder {
    Device::builder()
        .id_scope(emulator.id_scope())
        .device_id(device_id)
        .credentials(Credentials::group_key(emulator.group_key()).unwrap())
        .model_id(THERMOSTAT)
        .dps_endpoint(emulator.dps_endpoint())
        .tls(tls(emulator))
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}

pub async fn connect(emulator: &Emulator, device_id: &str) -> Device {
    within("connect", builder(emulator, device_id).connect())
        .await
        .expect("device connects")
}

/// Waits until the emulator has seen the device's connection end.
pub async fn wait_disconnected(emulator: &Emulator, device_id: &str) {
    eventually("the emulator sees the disconnect", || {
        let connected = emulator
            .devices()
            .into_iter()
            .any(|d| d.device_id == device_id && d.connected);
        (!connected).then_some(())
    })
    .await
}
