//! Shared set-up: an emulator per test and devices connected to it over a given protocol.

use std::time::Duration;

use iotc_emulator::Emulator;
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, DeviceBuilder};

pub const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

pub use crate::harness::{emulator, next_event, within};

pub fn tls(emulator: &Emulator) -> TlsConfig {
    TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap()
}

/// The DPS endpoint for `protocol`: the AMQP port, or the HTTPS port for WebSockets.
pub fn dps_endpoint(emulator: &Emulator, protocol: Protocol) -> String {
    match protocol {
        Protocol::Amqp => emulator.dps_amqp_endpoint(),
        Protocol::AmqpWs => emulator.dps_https_endpoint(),
        _ => emulator.dps_endpoint(),
    }
}

/// A builder for `device_id` provisioning through the emulator's DPS with its group key.
pub fn builder(emulator: &Emulator, protocol: Protocol, device_id: &str) -> DeviceBuilder {
    Device::builder()
        .protocol(protocol)
        .id_scope(emulator.id_scope())
        .device_id(device_id)
        .credentials(Credentials::group_key(emulator.group_key()).unwrap())
        .model_id(THERMOSTAT)
        .dps_endpoint(dps_endpoint(emulator, protocol))
        .https_port(emulator.https_addr().port())
        .tls(tls(emulator))
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}

pub async fn connect(emulator: &Emulator, protocol: Protocol, device_id: &str) -> Device {
    within("connect", builder(emulator, protocol, device_id).connect())
        .await
        .expect("device connects")
}
