//! The routes an edge device's messages take: to another module's input or `$upstream`.

use std::sync::Arc;

use super::routes::{self, Origin, Sink};
use crate::device::hub as device_hub;
use crate::ids::identity_key;
use crate::state::{Outbound, Shared};
use crate::types::TelemetryMessage;

/// Hands a telemetry message to the service side, through the edge routes when it comes from
/// a module of the edge device or from one of its leaf devices.
pub(crate) fn route_telemetry(shared: &Arc<Shared>, msg: TelemetryMessage) {
    let Some(edge) = &shared.settings.edge else {
        return device_hub::publish_telemetry(shared, msg);
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
        return device_hub::publish_telemetry(shared, msg);
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
            Sink::Upstream => device_hub::publish_telemetry(shared, (*message).clone()),
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
