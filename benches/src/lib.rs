//! Support code for the iotc-sdk benchmarks (see `docs/benchmarks.md`).
//!
//! - `benches/benches/micro.rs`: criterion micro-benches of the SDK's public API.
//! - `src/bin/iotc-loadgen.rs`: the load generator that drives the SDK, a bare rumqttc client
//!   (native-tls, and rustls with `--features rustls`) against an `iotc-emulator` running as a
//!   separate process, and measures this process's own CPU time and resident memory; its
//!   `gateway` scenario lives in `src/gateway.rs`.
//!
//! The benchmarks are not tests: `.ci/run` only compiles them. The few unit tests here check
//! the measuring helpers and the telemetry body, and time nothing.

pub mod bare;
pub mod gateway;
pub mod http;
pub mod measure;
pub mod sdk;

use std::time::Duration;

/// Boxed error for the load generator.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the emulator is and how devices authenticate to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// DPS endpoint, `host:port` (e.g. `localhost:8883`).
    pub dps_endpoint: String,
    /// The hub host name (SAS audience, username); `localhost` for the emulator.
    pub hub_host: String,
    /// The hub port (the emulator's shared listener).
    pub hub_port: u16,
    /// The DPS ID scope.
    pub id_scope: String,
    /// The `SAS-IoT-Devices` group key (base64).
    pub group_key: String,
    /// PEM of the emulator's CA (pinned: no system roots are loaded).
    pub ca_pem: Vec<u8>,
    /// The emulator's REST service API, `http://host:port`.
    pub service_url: Option<String>,
}

impl Target {
    /// The device key for `device_id`, derived from the group key as IoT Central does.
    ///
    /// # Errors
    ///
    /// The group key is not valid base64.
    pub fn device_key(&self, device_id: &str) -> Result<iotc_sdk::auth::SasKey, BoxError> {
        Ok(iotc_sdk::auth::SasKey::new(&self.group_key)?.derive_device_key(device_id))
    }
}

/// The 200-byte JSON telemetry body every client sends (serialized per message).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Telemetry {
    /// Degrees Celsius.
    pub temperature: f64,
    /// Percent.
    pub humidity: f64,
    /// hPa.
    pub pressure: f64,
    /// Percent.
    pub battery: u8,
    /// A short status string.
    pub status: &'static str,
    /// Message sequence number (mod 1,000,000).
    pub seq: u64,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Padding to 200 bytes.
    pub pad: &'static str,
}

impl Telemetry {
    /// The message with sequence number `seq`: 200 bytes of JSON when serialized.
    pub fn new(seq: u64) -> Self {
        Telemetry {
            temperature: (215 + seq % 10) as f64 / 10.0,
            humidity: 48.25,
            pressure: 1013.2,
            battery: 87,
            status: "ok",
            seq: 100_000 + seq % 900_000,
            lat: 47.6423,
            lon: -122.1369,
            pad: "iotc-sdk benchmark padding to reach two hundred bytes ............",
        }
    }

    /// The serialized body (what a bare client sends).
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// How long a device may take to connect or answer before the bench gives up.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_is_about_200_bytes() {
        for seq in [0, 7, 123_456, 999_999, 1_000_000] {
            let n = Telemetry::new(seq).to_vec().len();
            assert_eq!(n, 200, "{seq}");
        }
    }
}
