//! With the `sdk` feature: a ready [`iotc_sdk::DeviceBuilder`] for a device of this emulator.

use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, DeviceBuilder};

use crate::Emulator;

/// Device builders (feature `sdk`).
impl Emulator {
    /// A [`DeviceBuilder`] for `device_id` over `protocol`, ready to connect to this emulator:
    /// its ID scope, the DPS endpoint of that protocol (MQTT port, AMQP port, or the HTTPS port
    /// for HTTPS and WebSockets), the HTTPS port, the key of the `SAS-IoT-Devices` group and
    /// TLS pinned to the emulator's CA. Add the model (`.model::<I>()`) and other settings,
    /// then `.connect()`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use iotc_emulator::{Emulator, EmulatorConfig};
    /// use iotc_sdk::transport::Protocol;
    /// let emulator = Emulator::start(EmulatorConfig::default()).await?;
    /// let device = emulator.device_builder("dev-1", Protocol::Mqtt)?.connect().await?;
    /// # drop(device); Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The SDK's error if the group key or CA is refused (they come from the emulator, so
    /// this means an SDK built without a TLS stack that can read them).
    pub fn device_builder(
        &self,
        device_id: &str,
        protocol: Protocol,
    ) -> Result<DeviceBuilder, iotc_sdk::Error> {
        let dps_endpoint = match protocol {
            Protocol::Mqtt => self.dps_endpoint(),
            Protocol::Amqp => self.dps_amqp_endpoint(),
            _ => self.dps_https_endpoint(),
        };
        Ok(iotc_sdk::Device::builder()
            .protocol(protocol)
            .id_scope(self.id_scope())
            .device_id(device_id)
            .credentials(Credentials::group_key(self.group_key())?)
            .dps_endpoint(dps_endpoint)
            .https_port(self.https_addr().port())
            .tls(TlsConfig::with_pinned_roots_pem(
                self.ca_cert_pem().as_bytes(),
            )?))
    }
}
