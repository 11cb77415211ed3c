//! A local Azure IoT Central: the device-facing side of the Device Provisioning Service (DPS)
//! and IoT hub over MQTT 3.1.1 and AMQP 1.0 with TLS, plus a service-side API for tests.
//!
//! It behaves like the real service closely enough that the official Azure IoT device SDKs
//! connect to it unchanged, given the host names and the generated CA
//! ([`Emulator::ca_cert_pem`]). The wire behaviour follows `protocol.md` (sections 1 to 5).
//!
//! ```no_run
//! use std::time::Duration;
//! use iotc_emulator::{C2dMessage, Emulator, EmulatorConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! // Give a device: emulator.dps_endpoint(), emulator.id_scope(), emulator.ca_cert_pem() and
//! // its key emulator.derive_device_key("thermostat-01") (group enrollment SAS-IoT-Devices).
//! let mut telemetry = emulator.telemetry();
//! let msg = telemetry.recv().await.ok_or("emulator stopped")?;
//! println!("{} sent {:?}", msg.device_id, msg.body_json());
//! emulator.update_desired("thermostat-01", serde_json::json!({"targetTemperature": 21.5})).await?;
//! let answer = emulator
//!     .invoke_command("thermostat-01", "reboot", serde_json::json!({"delay": 1}), Duration::from_secs(30))
//!     .await?;
//! assert_eq!(answer.status, 200);
//! emulator.send_c2d("thermostat-01", C2dMessage::new("hello")).await?;
//! # Ok(()) }
//! ```
//!
//! # Important notes
//!
//! - **One listener or two.** By default DPS and hub share one TLS listener; the CONNECT
//!   username tells them apart (`{scope}/registrations/{id}/api-version=…` is DPS).
//! - **Port rule.** DPS announces `assignedHub` as `{hub_hostname}:{port}` when the hub does not
//!   listen on 8883 (the iotc-sdk splits it; the official SDKs hard-code 8883 and need the hub on
//!   8883), and as the bare host name on 8883. Usernames and SAS audiences use the host name
//!   alone; `{host}:{port}` is accepted too.
//! - **Enrollments.** The default SAS group `SAS-IoT-Devices` (key [`Emulator::group_key`],
//!   device keys derived per registration id), individual SAS enrollments and X.509 groups.
//!   A device must be provisioned through DPS before the hub accepts it.
//! - **Fault injection.** Devices can ask for faults the way IoT hub's fault-injection hook
//!   does (telemetry with `AzIoTHub_FaultOperationType` and friends: `KillTcp`,
//!   `ShutDownMqtt`, `InvokeThrottling`, `InvokeMaxMessageQuota`, `InvokeAuthError`; the AMQP
//!   types do nothing on MQTT). Tests inject faults from the service side:
//!   [`Emulator::disconnect_device`], [`Emulator::refuse_connections`],
//!   [`Emulator::throttle`], [`Emulator::expire_tokens_after`], [`Emulator::delay_acks`],
//!   [`Emulator::drop_acks`], [`Emulator::clear_faults`], and count connection attempts with
//!   [`Emulator::connection_attempts`] / [`Emulator::dps_attempts`]. All fault state belongs
//!   to one emulator. Details: `docs/emulator.md`, section "Fault injection".
//! - **Hostile clients.** A connection must complete its CONNECT within
//!   [`EmulatorConfig::handshake_timeout`] (default 15 s) or it is closed; garbage, half-open
//!   and slow-loris connections do not disturb other devices.
//! - **Edge-hub mode** ([`EdgeConfig`]): module identities ([`Emulator::add_module`]), leaf
//!   devices ([`Emulator::add_leaf_device`]), routes from module outputs and leaf devices to
//!   module inputs and `$upstream`, and the IoT Edge workload API on a Unix socket, over MQTT
//!   and AMQP.
//! - **Several hubs and failover** ([`EmulatorConfig::hubs`]): DPS spreads devices over N
//!   hubs, each refusing the others' devices; [`Emulator::manual_failover`] and
//!   [`Emulator::manual_failback`] move a device as `az iot central device manual-failover`
//!   does (`docs/emulator.md`, "Hubs and failover").
//! - **AMQP 1.0** on its own port ([`Emulator::amqp_port`], [`Emulator::dps_amqp_endpoint`]):
//!   CBS put-token with renewal, the hub links and DPS (`docs/emulator.md`).
//! - **Not emulated (yet):** routes for HTTPS leaf devices, shared
//!   access policies (`skn` on hub tokens).
#![warn(missing_docs)]

mod amqp;
pub mod central;
mod credentials;
mod device;
mod edge;
mod emulator;
mod enrollments;
mod error;
mod fault;
mod files;
mod https;
mod hubs;
mod ids;
mod merge;
mod model_check;
mod mqtt;
mod sas;
#[cfg(feature = "sdk")]
mod sdk;
mod service;
pub mod service_http;
mod state;
mod templates;
mod tls;
mod types;
mod web;
mod wire;

pub use central::Central;
pub use edge::EdgeConfig;
pub use edge::RouteError;
pub use emulator::{Emulator, EmulatorConfig};
pub use error::{EmulatorError, ServiceError};
pub use fault::RefuseCode;
pub use service::failover::HubInfo;
pub use types::{
    AuthKind, C2dMessage, DeviceInfo, DeviceProtocol, FileUploadNotification, MethodResponse,
    RegistrationInfo, TelemetryMessage, TelemetryReceiver, Twin, UnmodeledData, UnmodeledKind,
    UploadedBlob,
};
