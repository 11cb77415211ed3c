//! End-to-end tests over MQTT: the SDK against `iotc-emulator` over real loopback TLS sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use iotc_sdk::transport::Protocol;

/// The transport of every test in this binary.
const MQTT: Protocol = Protocol::Mqtt;

mod device_c2d;
mod device_commands;
mod device_properties;
mod device_telemetry;
mod device_templates;
mod device_typed;
mod edge;
mod provisioning_cache;
mod provisioning_errors;
mod provisioning_x509;
