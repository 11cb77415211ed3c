//! Support for the code that `iotc-sdk-derive` generates. Not public API: anything here may
//! change in any release.

pub use std::boxed::Box;
pub use std::collections::BTreeMap;
pub use std::option::Option;
pub use std::result::Result;
pub use std::string::String;
pub use std::vec::Vec;

pub use serde_json;

pub use crate::model;
pub use crate::model::traits::{Commands, DtdlSchema, Interface, Properties, Telemetry};
pub use crate::model::{CommandParseError, ComponentRef, NoCommands};

/// The JSON deserializer a `with = "..."` request function reads from.
pub type JsonDeserializer<'a> = serde_json::Deserializer<serde_json::de::SliceRead<'a>>;

/// An owned copy of a string literal.
pub fn string(text: &str) -> String {
    text.to_owned()
}

/// An owned copy of an optional string literal.
pub fn opt(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

/// An optional localizable string literal (the English text).
pub fn opt_text(text: Option<&str>) -> Option<model::LocalizedString> {
    text.map(model::LocalizedString::from)
}

/// The payload as JSON: an empty (or all-whitespace) payload reads as `null`.
fn json(payload: &[u8]) -> &[u8] {
    if payload.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        payload
    }
}

fn invalid(command: &str, error: serde_json::Error) -> CommandParseError {
    CommandParseError::InvalidRequest {
        command: command.to_owned(),
        message: error.to_string(),
    }
}

/// Deserializes the request of `command` from its JSON payload.
///
/// # Errors
///
/// [`CommandParseError::InvalidRequest`] when the payload does not deserialize.
pub fn parse_request<T: serde::de::DeserializeOwned>(
    command: &str,
    payload: &[u8],
) -> Result<T, CommandParseError> {
    serde_json::from_slice(json(payload)).map_err(|e| invalid(command, e))
}

/// Deserializes the request of `command` with a `#[serde(with)]`-style function.
///
/// # Errors
///
/// [`CommandParseError::InvalidRequest`] when the payload does not deserialize.
pub fn parse_request_with<T>(
    command: &str,
    payload: &[u8],
    deserialize: fn(&mut JsonDeserializer<'_>) -> Result<T, serde_json::Error>,
) -> Result<T, CommandParseError> {
    let mut deserializer = serde_json::Deserializer::from_slice(json(payload));
    let value = deserialize(&mut deserializer).map_err(|e| invalid(command, e))?;
    deserializer.end().map_err(|e| invalid(command, e))?;
    Ok(value)
}

/// The error for a command name the interface does not have.
///
/// # Errors
///
/// Always [`CommandParseError::Unknown`].
pub fn unknown_command<T>(name: &str) -> Result<T, CommandParseError> {
    Err(CommandParseError::Unknown(name.to_owned()))
}

/// Appends the interfaces in `more` whose DTMI is not in `list` yet.
pub fn push_interfaces(list: &mut Vec<model::InterfaceInfo>, more: Vec<model::InterfaceInfo>) {
    for interface in more {
        if !list.iter().any(|known| known.id == interface.id) {
            list.push(interface);
        }
    }
}
