//! Edge-hub mode (protocol.md 8): an edge device whose modules and leaf devices connect to the
//! emulator's hub listener, and the routes their messages take: to another module's input or
//! `$upstream` (the service-side telemetry).
//!
//! Messages of every other device (and of modules of other devices) go straight upstream, as
//! they do when a device talks to IoT hub itself.

pub(crate) mod config;
pub(crate) mod routes;
mod routing;
pub(crate) mod workload;

pub use config::EdgeConfig;
pub(crate) use config::EdgeSettings;
pub use routes::RouteError;
pub(crate) use routing::{input_bag, route_telemetry};
