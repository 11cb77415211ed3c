//! The service side of the emulator: what IoT Central and the IoT hub service API do, as
//! methods of [`Emulator`](crate::Emulator), independent of the transport a device uses.
//!
//! | Module | Surface |
//! | --- | --- |
//! | [`registry`] | devices, one device, downstream devices, DPS registrations |
//! | [`telemetry`] | the telemetry stream and recent messages |
//! | [`twins`] | twins, desired-property updates |
//! | [`commands`] | direct methods (commands) |
//! | [`c2d`] | cloud-to-device messages |
//! | [`templates`] | device templates and unmodeled data |
//! | [`files`] | uploaded files and upload notifications |
//! | [`failover`] | the hubs, manual failover and failback, the DPS registration counter |
//! | [`faults`] | service-side fault injection and connection counters |
//! | [`modules`] | edge-hub mode: modules and leaf devices |
//!
//! Each operation reads or changes the shared state and, when a device must hear of it,
//! queues an [`Outbound`](crate::state::Outbound) item on the device's connection, which its
//! front end (MQTT, AMQP or HTTPS) turns into its wire format.

mod c2d;
mod commands;
pub(crate) mod failover;
mod faults;
mod files;
mod modules;
mod registry;
mod telemetry;
mod templates;
mod twins;
