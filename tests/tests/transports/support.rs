//! Set-up shared by the scenarios: an emulator per test and devices on a chosen transport.

use std::time::Duration;

use iotc_emulator::Emulator;
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, DeviceBuilder};

pub const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

pub use crate::harness::{emulator, eventually, next_event, within};

/// The DPS endpoint a device on `protocol` uses: MQTT on the MQTT port, AMQP on the AMQP port,
/// HTTPS and WebSockets on the HTTPS port.
pub fn dps_endpoint(emulator: &Emulator, protocol: Protocol) -> String {
    match protocol {
        Protocol::Mqtt => emulator.dps_endpoint(),
        Protocol::Amqp => emulator.dps_amqp_endpoint(),
        _ => emulator.dps_https_endpoint(),
    }
}

/// A builder for `device_id` on `protocol`, provisioning through the emulator's DPS with its
/// group key.
pub fn builder(emulator: &Emulator, device_id: &str, protocol: Protocol) -> DeviceBuilder {
    Device::builder()
        .protocol(protocol)
        .id_scope(emulator.id_scope())
        .device_id(device_id)
        .credentials(Credentials::group_key(emulator.group_key()).unwrap())
        .model_id(THERMOSTAT)
        .dps_endpoint(dps_endpoint(emulator, protocol))
        .https_port(emulator.https_addr().port())
        .c2d_poll_interval(Duration::from_millis(100))
        .tls(TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap())
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}

pub async fn connect(emulator: &Emulator, device_id: &str, protocol: Protocol) -> Device {
    within("connect", builder(emulator, device_id, protocol).connect())
        .await
        .expect("device connects")
}

/// A device id unique to the transport, so rows do not share names in logs.
pub fn id(protocol: Protocol, name: &str) -> String {
    let tag = match protocol {
        Protocol::Mqtt => "mqtt",
        Protocol::MqttWs => "mqttws",
        Protocol::Https => "https",
        Protocol::Amqp => "amqp",
        Protocol::AmqpWs => "amqpws",
        _ => "other",
    };
    format!("{tag}-{name}")
}
