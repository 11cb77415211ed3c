//! Edge-hub mode (protocol.md 8): an edge device whose modules and leaf devices connect to the
//! emulator's hub listener, and the routes their messages take: to another module's input or
//! `$upstream` (the service-side telemetry).
//!
//! Messages of every other device (and of modules of other devices) go straight upstream, as
//! they do when a device talks to IoT hub itself.

use std::path::PathBuf;
use std::sync::Arc;

use crate::device_ops;
use crate::routes::{self, Origin, Route, RouteError, Sink};
use crate::state::{identity_key, Outbound, Shared};
use crate::types::TelemetryMessage;

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

/// Hands a telemetry message to the service side, through the edge routes when it comes from
/// a module of the edge device or from one of its leaf devices.
pub(crate) fn route_telemetry(shared: &Arc<Shared>, msg: TelemetryMessage) {
    let Some(edge) = &shared.settings.edge else {
        return device_ops::publish_telemetry(shared, msg);
    };
    let module = msg.module_id.as_deref();
    let through_edge = if module.is_some() {
        msg.device_id == edge.device_id
    } else {
        shared
            .lock()
            .devices
            .get(&msg.device_id)
            .is_some_and(|d| d.parent.as_deref() == Some(edge.device_id.as_str()))
    };
    if !through_edge {
        return device_ops::publish_telemetry(shared, msg);
    }
    let origin = Origin {
        module,
        output: msg.system_properties.get("on").map(String::as_str),
    };
    let sinks = routes::sinks(&edge.routes, origin);
    if sinks.is_empty() {
        tracing::debug!(device_id = %msg.device_id, module_id = module.unwrap_or(""), "no route matches: message dropped");
        return;
    }
    let message = Arc::new(msg);
    for sink in sinks {
        match sink {
            Sink::Upstream => device_ops::publish_telemetry(shared, (*message).clone()),
            Sink::ModuleInput { module, input } => {
                let key = identity_key(&edge.device_id, Some(&module));
                let tx = shared
                    .lock()
                    .devices
                    .get(&key)
                    .and_then(|d| d.conn.as_ref())
                    .filter(|c| c.subs.inputs)
                    .map(|c| c.tx.clone());
                let delivered = tx.is_some_and(|tx| {
                    tx.try_send(Outbound::Input {
                        input: input.clone(),
                        message: message.clone(),
                    })
                    .is_ok()
                });
                if !delivered {
                    // edgeHub would store the message and forward it later; the emulator
                    // does not buffer (docs/edge.md).
                    tracing::info!(
                        module,
                        input,
                        "module input not connected: routed message dropped"
                    );
                }
            }
        }
    }
}

/// The property bag of a message delivered to a module input: the sender (`$.cdid`, and
/// `$.cmid` for a module), its message properties, then its application properties
/// (protocol.md 8.4).
pub(crate) fn input_bag(message: &TelemetryMessage) -> String {
    let mut system: Vec<(&str, String)> = Vec::new();
    for key in ["mid", "cid", "ct", "ce", "ctime", "sub"] {
        if let Some(v) = message.system_properties.get(key) {
            system.push((key, v.clone()));
        }
    }
    system.push(("cdid", message.device_id.clone()));
    if let Some(m) = &message.module_id {
        system.push(("cmid", m.clone()));
    }
    crate::wire::encode_property_bag(&system, &message.application_properties)
}
