//! Configuration of the edge-hub mode and the settings in force after start.

use std::path::PathBuf;

use super::routes::{Route, RouteError};

/// Configuration of the edge-hub mode ([`EmulatorConfig::edge`](crate::EmulatorConfig::edge)).
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// The edge device's id. It is registered at start (its key derived from the group key,
    /// like a device of the default enrollment group); its modules are added with
    /// [`Emulator::add_module`](crate::Emulator::add_module), its leaf devices with
    /// [`Emulator::add_leaf_device`](crate::Emulator::add_leaf_device).
    pub device_id: String,
    /// Routes in the IoT Edge route language, the subset `docs/emulator.md` lists (`FROM
    /// /messages/* [WHERE NOT IS_DEFINED($connectionModuleId)] INTO …`, `FROM
    /// /messages/modules/{m}/outputs/{o|*} INTO …`, sinks `$upstream` and
    /// `BrokeredEndpoint("/modules/{m}/inputs/{i}")`); anything else fails the start with
    /// [`EmulatorError::Route`](crate::EmulatorError::Route). Empty: every message goes
    /// `$upstream`.
    pub routes: Vec<String>,
    /// Where to serve the IoT Edge workload API (HTTP over a Unix socket): token signing with
    /// the module keys and the trust bundle (the emulator's CA). `None`: no workload API.
    pub workload_socket: Option<PathBuf>,
}

/// The edge settings in force after start.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSettings {
    pub(crate) device_id: String,
    pub(crate) routes: Vec<Route>,
}

impl EdgeSettings {
    /// Checks the edge device id and parses the routes.
    pub(crate) fn from_config(config: &EdgeConfig) -> Result<EdgeSettings, RouteError> {
        let routes = config
            .routes
            .iter()
            .map(|r| Route::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EdgeSettings {
            device_id: config.device_id.clone(),
            routes,
        })
    }
}
