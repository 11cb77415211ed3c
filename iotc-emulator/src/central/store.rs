//! What IoT Central keeps that the hub does not: device records created through the API,
//! device-template documents, command history, relationships and enrollment-group records.
//! Serializable, so `--state-dir` can keep it across restarts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Commands kept per device, module, component and command name.
pub(crate) const HISTORY: usize = 20;

/// A device record made through the API (`PUT /api/devices/{id}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceRecord {
    pub(crate) display_name: Option<String>,
    /// The device template id the operator chose.
    pub(crate) template: Option<String>,
    pub(crate) simulated: bool,
    pub(crate) enabled: bool,
    pub(crate) etag: String,
}

/// A relationship made through the API (gateway to downstream device).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Relationship {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) source: String,
    pub(crate) target: String,
}

/// An enrollment group made through the API: X.509, or SAS with its own keys (besides the
/// emulator's own `SAS-IoT-Devices`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupRecord {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) kind: String,
    pub(crate) enabled: bool,
    /// `primary` / `secondary` CA certificates (PEM).
    pub(crate) certificates: BTreeMap<String, String>,
    /// A SAS group's primary and secondary keys (base64); `None` for an X.509 group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) symmetric_key: Option<(String, String)>,
    pub(crate) etag: String,
}

/// The IoT Central side of the state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Store {
    pub(crate) devices: BTreeMap<String, DeviceRecord>,
    /// Device-template documents (IoT Central's wrapper), by template id.
    pub(crate) templates: BTreeMap<String, Value>,
    /// Command invocations, newest last, by `{device}[/{module}]|{component}|{command}`.
    pub(crate) commands: BTreeMap<String, Vec<Value>>,
    pub(crate) relationships: Vec<Relationship>,
    pub(crate) groups: BTreeMap<String, GroupRecord>,
}

impl Store {
    /// The template whose capability model is `model_id`, else `model_id` itself when the
    /// emulator knows that interface (added from Rust or as plain DTDL).
    pub(crate) fn template_of_model(&self, model_id: &str) -> Option<String> {
        self.templates
            .iter()
            .find(|(_, doc)| capability_model_id(doc) == Some(model_id))
            .map(|(id, _)| id.clone())
    }

    /// Records a command invocation (at most [`HISTORY`] per key).
    pub(crate) fn record_command(&mut self, key: String, record: Value) {
        let list = self.commands.entry(key).or_default();
        if list.len() >= HISTORY {
            list.remove(0);
        }
        list.push(record);
    }
}

/// The `@id` of a template document's `capabilityModel`.
pub(crate) fn capability_model_id(doc: &Value) -> Option<&str> {
    doc.get("capabilityModel")
        .and_then(|m| m.get("@id"))
        .and_then(Value::as_str)
}

/// A fresh entity tag.
pub(crate) fn etag() -> String {
    format!("\"{}\"", crate::ids::random_hex(8))
}
