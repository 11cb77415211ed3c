//! Helpers shared by the fuzz targets in `fuzz_targets/`: command enums derived the way an
//! application derives them, a JSON merge patch (how IoT hub applies a reported patch), and
//! the checks that several targets make.

use iotc_sdk::Commands;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The commands of `dtmi:com:example:Thermostat;1` (as in `examples/src/models/thermostat.rs`):
/// one command whose request is an RFC 3339 date-time read with `with`.
#[derive(Clone, Debug, PartialEq, Commands)]
pub enum ThermostatCommand {
    /// Returns the max, min and average temperature since a time.
    #[iotc(request(name = "since", with = "time::serde::rfc3339"))]
    GetMaxMinReport(OffsetDateTime),
}

/// The root commands of `dtmi:com:example:TemperatureController;1`, plus a command without a
/// request and one with an object request.
#[derive(Clone, Debug, PartialEq, Commands)]
pub enum ControllerCommand {
    /// Reboots after a delay in seconds.
    #[iotc(request(name = "delay"))]
    Reboot(i32),
    /// No request.
    Ping,
    /// An object request.
    #[iotc(request(name = "settings"))]
    Configure(Settings),
}

/// The request of [`ControllerCommand::Configure`].
#[derive(Clone, Debug, PartialEq, serde::Deserialize, iotc_sdk::DtdlSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// A name.
    pub name: String,
    /// A number.
    pub level: f64,
    /// An optional flag.
    pub enabled: Option<bool>,
}

/// RFC 7386 JSON merge patch: what IoT hub does with a reported-properties patch (protocol.md
/// §4.6: members replace, `null` deletes, objects merge recursively).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Whether `text` could be a secret (a key or a signature) whose appearance in an error
/// message would be a leak rather than a coincidence with the message's fixed wording: at least
/// 20 characters, no space or backtick (every fixed word of the messages that is that long is
/// in backticks or between spaces), and a digit, `+`, `/` or `%` in it.
pub fn looks_secret(text: &str) -> bool {
    text.len() >= 20
        && !text.contains([' ', '`'])
        && text.contains(|c: char| c.is_ascii_digit() || matches!(c, '+' | '/' | '%'))
}
