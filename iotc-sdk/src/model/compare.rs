//! Comparing DTDL documents the way DTDL reads them: [`normalize`] and [`differences`], used to
//! check a device's interfaces against the template it must implement.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::{InterfaceInfo, ParseError, DEFAULT_LANGUAGE};

/// Arrays whose order DTDL ignores, and the property that names their elements.
const KEYED: &[(&str, &str)] = &[
    ("contents", "name"),
    ("fields", "name"),
    ("enumValues", "name"),
    ("schemas", "@id"),
];

/// Properties that hold a localizable string.
const LOCALIZED: &[&str] = &["displayName", "description"];

/// Properties JSON-LD reads the same as a one-element array and whose order does not matter.
const SETS: &[&str] = &["@context", "@type", "extends"];

/// A DTDL document (one interface, an array, or anything inside one) in a form where two
/// spellings that DTDL reads the same are equal JSON:
///
/// * a string in `displayName`/`description` becomes the language map `{"en": string}`;
/// * `@context`, `@type` and `extends` become sorted arrays (a single value is a one-element
///   array, and their order carries no meaning);
/// * `contents`, `fields` and `enumValues` become objects keyed by `name`, and `schemas` and
///   a document's interfaces become objects keyed by `@id` (their order carries no meaning);
/// * `"writable": false` is dropped (it is the default).
pub fn normalize(value: &Value) -> Value {
    match value {
        Value::Array(items)
            if items.iter().all(|i| i.get("@id").is_some()) && !items.is_empty() =>
        {
            keyed(items, "@id")
        }
        other => normalize_value(other),
    }
}

fn keyed(items: &[Value], key: &str) -> Value {
    let mut out = Map::new();
    for (i, item) in items.iter().enumerate() {
        let name = match item.get(key).and_then(Value::as_str) {
            Some(name) => name.to_owned(),
            None => format!("#{i}"),
        };
        out.insert(name, normalize_value(item));
    }
    Value::Object(out)
}

fn normalize_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key_str = key.as_str();
                if key_str == "writable" && value == &Value::Bool(false) {
                    continue;
                }
                let normalized = if let Some((_, name)) = KEYED.iter().find(|(k, _)| *k == key_str)
                {
                    match value {
                        Value::Array(items) => keyed(items, name),
                        other => normalize_value(other),
                    }
                } else if LOCALIZED.contains(&key_str) {
                    match value {
                        Value::String(text) => {
                            let mut map = Map::new();
                            map.insert(DEFAULT_LANGUAGE.to_owned(), Value::String(text.clone()));
                            Value::Object(map)
                        }
                        other => other.clone(),
                    }
                } else if SETS.contains(&key_str) {
                    let mut items = match value {
                        Value::Array(items) => items.iter().map(normalize_value).collect(),
                        other => vec![normalize_value(other)],
                    };
                    items.sort_by_key(|v| v.to_string());
                    Value::Array(items)
                } else {
                    normalize_value(value)
                };
                out.insert(key.clone(), normalized);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize_value).collect()),
        other => other.clone(),
    }
}

/// One difference between two DTDL documents, after [`normalize`].
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// Where: the interface's `@id`, then property names and element names
    /// (`dtmi:com:example:Thermostat;1/contents/targetTemperature/writable`).
    pub path: String,
    /// The value in the expected document (the template), if it has one there.
    pub expected: Option<Value>,
    /// The value in the actual document (the device's interfaces), if it has one there.
    pub actual: Option<Value>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.expected, &self.actual) {
            (Some(expected), None) => write!(f, "{}: missing (template has {expected})", self.path),
            (None, Some(actual)) => write!(
                f,
                "{}: not in the template (device has {actual})",
                self.path
            ),
            (Some(expected), Some(actual)) => {
                write!(
                    f,
                    "{}: template has {expected}, device has {actual}",
                    self.path
                )
            }
            (None, None) => write!(f, "{}", self.path),
        }
    }
}

/// The differences between two DTDL documents (or values inside them) once both are
/// [`normalize`]d; empty when DTDL reads them the same.
pub fn diff_values(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff(
        String::new(),
        &normalize(expected),
        &normalize(actual),
        &mut out,
    );
    out
}

fn diff(path: String, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: BTreeMap<&str, ()> = BTreeMap::new();
            keys.extend(e.keys().map(|k| (k.as_str(), ())));
            keys.extend(a.keys().map(|k| (k.as_str(), ())));
            for key in keys.keys() {
                let at = if path.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{path}/{key}")
                };
                match (e.get(*key), a.get(*key)) {
                    (Some(e), Some(a)) => diff(at, e, a, out),
                    (e, a) => out.push(Difference {
                        path: at,
                        expected: e.cloned(),
                        actual: a.cloned(),
                    }),
                }
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(Difference {
            path,
            expected: Some(e.clone()),
            actual: Some(a.clone()),
        }),
    }
}

/// The differences between a device's interfaces (e.g. `MyDevice::interfaces()` from
/// `#[derive(Interface)]`) and a DTDL template document (one interface, an array, or an IoT
/// Central device template), as DTDL reads them (see [`normalize`]); empty when the device
/// implements exactly the template.
///
/// ```
/// use iotc_sdk::model::{differences, InterfaceInfo, Schema, TelemetryInfo};
/// let device = InterfaceInfo::new("dtmi:com:example:T;1")
///     .with_content(TelemetryInfo::new("t", Schema::Float));
/// let template = r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:T;1",
///   "@type": "Interface", "contents": [{"@type": "Telemetry", "name": "t", "schema": "double"}]}"#;
/// let found = differences(&[device], template).unwrap();
/// assert_eq!(found[0].path, "dtmi:com:example:T;1/contents/t/schema");
/// ```
///
/// # Errors
///
/// [`ParseError`] when the template is not a DTDL document the model types can read.
pub fn differences(
    interfaces: &[InterfaceInfo],
    template_json: &str,
) -> Result<Vec<Difference>, ParseError> {
    let template = InterfaceInfo::from_json(template_json)?;
    let expected = serde_json::to_value(&template).unwrap_or_default();
    let actual = serde_json::to_value(interfaces).unwrap_or_default();
    Ok(diff_values(&expected, &actual))
}
