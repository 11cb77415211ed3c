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

/// A localizable string from its English text and its texts in other languages; `None` when
/// it has none.
pub fn text(english: Option<&str>, languages: &[(&str, &str)]) -> Option<model::LocalizedString> {
    let mut text = model::LocalizedString::new();
    if let Some(english) = english {
        text.insert(model::DEFAULT_LANGUAGE, english);
    }
    for (language, value) in languages {
        text.insert(*language, *value);
    }
    (!text.is_empty()).then_some(text)
}

/// Properties no context defines, from `(key, JSON text)` pairs; a text that is not JSON is
/// kept as a JSON string.
pub fn undefined(pairs: &[(&str, &str)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(key, json)| {
            let value = serde_json::from_str(json)
                .unwrap_or_else(|_| serde_json::Value::String((*json).to_owned()));
            ((*key).to_owned(), value)
        })
        .collect()
}

/// A `Map` schema with its key and value renamed (`map_key`, `map_value`); any other schema
/// unchanged.
pub fn map_names(schema: model::Schema, key: Option<&str>, value: Option<&str>) -> model::Schema {
    match schema {
        model::Schema::Map(mut map) => {
            if let Some(key) = key {
                key.clone_into(&mut map.key.name);
            }
            if let Some(value) = value {
                value.clone_into(&mut map.value.name);
            }
            model::Schema::Map(map)
        }
        other => other,
    }
}

/// Replaces every inline schema whose `@id` is one of the interface's `schemas` with a
/// reference to it (inside those schemas too, below their top level).
pub fn refer_schemas(interface: &mut model::InterfaceInfo) {
    let ids: Vec<String> = interface
        .schemas
        .iter()
        .filter_map(|s| s.id().map(str::to_owned))
        .collect();
    if ids.is_empty() {
        return;
    }
    for content in &mut interface.contents {
        match content {
            model::ContentInfo::Telemetry(t) => refer(&mut t.schema, &ids),
            model::ContentInfo::Property(p) => refer(&mut p.schema, &ids),
            model::ContentInfo::Command(c) => {
                for payload in c.request.iter_mut().chain(c.response.iter_mut()) {
                    refer(&mut payload.schema, &ids);
                }
            }
            model::ContentInfo::Component(_) => {}
        }
    }
    for schema in &mut interface.schemas {
        refer_inside(schema, &ids);
    }
}

fn refer(schema: &mut model::Schema, ids: &[String]) {
    if let Some(id) = schema.id() {
        if ids.iter().any(|known| known == id) {
            *schema = model::Schema::Ref(id.to_owned());
            return;
        }
    }
    refer_inside(schema, ids);
}

fn refer_inside(schema: &mut model::Schema, ids: &[String]) {
    match schema {
        model::Schema::Array(array) => refer(&mut array.element_schema, ids),
        model::Schema::Map(map) => refer(&mut map.value.schema, ids),
        model::Schema::Object(object) => {
            for field in &mut object.fields {
                refer(&mut field.schema, ids);
            }
        }
        _ => {}
    }
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
