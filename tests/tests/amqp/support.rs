//! Shared set-up: an emulator per test and devices connected to it over a given protocol.

use std::future::Future;
use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, DeviceBuilder, Event};

pub const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

/// Every await that could hang goes through this: a hang fails the test after 20 s.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub async fn emulator() -> Emulator {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let config = EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        ..EmulatorConfig::default()
    };
    within("emulator start", Emulator::start(config))
        .await
        .expect("emulator starts")
}

pub fn tls(emulator: &Emulator) -> TlsConfig {
    TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap()
}

/// The DPS endpoint for `protocol`.
pub fn dps_endpoint(emulator: &Emulator, protocol: Protocol) -> String {
    match protocol {
        Protocol::Amqp => emulator.dps_amqp_endpoint(),
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
        .tls(tls(emulator))
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}

pub async fn connect(emulator: &Emulator, protocol: Protocol, device_id: &str) -> Device {
    within("connect", builder(emulator, protocol, device_id).connect())
        .await
        .expect("device connects")
}

pub async fn next_event(device: &Device) -> Event {
    within("next event", device.next_event())
        .await
        .expect("an event")
}

/// Polls `check` every 20 ms until it returns `Some`.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    within(what, async {
        loop {
            if let Some(value) = check() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}
