//! # iotc-sdk
//!
//! A typed, async device SDK for Azure IoT Central: provision through the Device Provisioning
//! Service (DPS), connect to the assigned IoT hub, send telemetry, report properties, accept
//! writable properties and answer commands.
//!
//! ```no_run
//! use iotc_sdk::{Credentials, Device, Event};
//!
//! # async fn run() -> Result<(), iotc_sdk::Error> {
//! let device = Device::builder()
//!     .id_scope("0ne00000A0A")
//!     .device_id("thermostat-01")
//!     .credentials(Credentials::group_key("bmIvVU1KbWZVRUpyQ08vcnpLSWJJdWQ0WllaK3oyUTRkOURZ")?)
//!     .model_id("dtmi:com:example:Thermostat;1")
//!     .connect()
//!     .await?;
//!
//! device.send_telemetry(&serde_json::json!({ "temperature": 21.5 })).await?;
//! device.report_properties(&serde_json::json!({ "maxTempSinceLastReboot": 30.0 })).await?;
//!
//! while let Some(event) = device.next_event().await {
//!     match event {
//!         Event::Command(command) => command.respond(200, &serde_json::json!({})).await?,
//!         Event::WritableProperties(update) => {
//!             for property in update.properties() {
//!                 device.acknowledge(property, 200, Some("applied")).await?;
//!             }
//!         }
//!         Event::CloudMessage(message) => println!("{:?}", message.body()),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! See the repository's `README.md` and `docs/` for the guide, and `examples/` for runnable
//! starting points that work offline against `iotc-emulator`.
//!
//! # Cargo features
//!
//! MQTT over TLS is always built. On by default:
//!
//! - `tls-native`: the TLS stack (or `tls-rustls` instead, see [`tls`]);
//! - `derive`: the derive macros of device models;
//! - `amqp`: AMQP 1.0 ([`Protocol::Amqp`]; [`Protocol::AmqpWs`] needs `websocket` too);
//! - `https`: [`Protocol::Https`], DPS over HTTPS and `Device::upload_file`;
//! - `websocket`: MQTT over WebSockets ([`Protocol::MqttWs`]);
//! - `edge`: IoT Edge modules (the `edge` module, `DeviceBuilder::from_edge_environment`).
//!
//! `default-features = false, features = ["tls-native"]` is the minimal MQTT-only build.
//! Connecting with a protocol whose feature is off fails at once with
//! [`Error::Unsupported`] ([`Protocol::is_available`]).
#![warn(missing_docs)]
#![deny(unreachable_pub)]

pub mod auth;
pub mod device;
mod dtmi;
#[cfg(feature = "edge")]
pub mod edge;
mod endpoint;
mod error;
mod fuzzing;
pub mod gateway;
pub mod message;
pub mod model;
pub mod pnp;
pub mod provisioning;
pub mod proxy;
pub mod retry;
pub mod tls;
pub mod transport;

#[doc(hidden)]
#[path = "model/private.rs"]
pub mod _private;

pub use auth::Credentials;
pub use device::{Command, Device, DeviceBuilder, Event};
pub use dtmi::Dtmi;
pub use error::{Error, Result};
pub use fuzzing::__fuzz;
pub use message::{CloudMessage, Message, Settlement};
pub use model::traits::{Interface, Telemetry};
pub use model::{CommandParseError, Commands, ComponentRef, DtdlSchema, NoCommands, Properties};
pub use pnp::{WritableProperty, WritablePropertyUpdate};
pub use provisioning::{ProvisioningClient, Registration};
pub use proxy::ProxyConfig;
pub use transport::Protocol;

#[cfg(feature = "derive")]
pub use iotc_sdk_derive::{skip_none, Commands, DtdlSchema, Interface, Properties, Telemetry};
