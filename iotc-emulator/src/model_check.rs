//! Checks a DTDL model document before it becomes a device template: what a template upload
//! is refused for, with the reason and where (`contents[3] (`temperature`): …`).
//!
//! It covers the structure the emulator relies on (dtdl.md §3 and §4): interfaces with a DTMI
//! `@id`, contents of a known type with a valid `name`, no duplicate names, and schemas that
//! are DTDL primitives (v2 and v3), IoT Central's `geopoint` and `vector`, the geospatial
//! schemas, complex schemas with their required members, or DTMIs of schemas the interface
//! defines or components it references. It is not a full DTDL parser: semantic types, units
//! and context versions are not checked.

use serde_json::Value;

use crate::templates::is_type;

/// Primitive and IoT Central schema names.
const PRIMITIVES: &[&str] = &[
    "boolean",
    "date",
    "dateTime",
    "double",
    "duration",
    "float",
    "integer",
    "long",
    "string",
    "time",
    // DTDL v3
    "byte",
    "bytes",
    "decimal",
    "short",
    "uuid",
    "unsignedByte",
    "unsignedShort",
    "unsignedInteger",
    "unsignedLong",
    // geospatial
    "point",
    "multiPoint",
    "lineString",
    "multiLineString",
    "polygon",
    "multiPolygon",
    // IoT Central
    "geopoint",
    "vector",
];

/// Content kinds of an interface.
const KINDS: &[&str] = &[
    "Telemetry",
    "Property",
    "Command",
    "Component",
    "Relationship",
];

/// `Ok` when `document` (one interface or an array of interfaces) is a model the emulator can
/// use as a template, else the first problem found.
pub(crate) fn validate_document(document: &Value) -> Result<(), String> {
    let items: Vec<&Value> = match document {
        Value::Array(items) if items.is_empty() => return Err("the model array is empty".into()),
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    for (i, item) in items.iter().enumerate() {
        let at = if items.len() > 1 {
            format!("[{i}]")
        } else {
            String::new()
        };
        interface(item, 0)
            .map_err(|e| format!("{at}{}{e}", if at.is_empty() { "" } else { ": " }))?;
    }
    Ok(())
}

fn is_dtmi(s: &str) -> bool {
    s.strip_prefix("dtmi:").is_some_and(|rest| {
        let (path, version) = rest.split_once(';').unwrap_or((rest, "1"));
        !path.is_empty()
            && path.split(':').all(|seg| {
                seg.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            && version
                .split('.')
                .all(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
    })
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && b.last() != Some(&b'_')
}

fn interface(item: &Value, depth: usize) -> Result<(), String> {
    if depth > 10 {
        return Err("interfaces nest deeper than 10 levels".into());
    }
    if !item.is_object() {
        return Err(format!("expected an Interface object, got {item}"));
    }
    let id = item
        .get("@id")
        .and_then(Value::as_str)
        .ok_or("the interface has no string \"@id\"")?;
    if !is_dtmi(id) {
        return Err(format!(
            "\"@id\" {id:?} is not a DTMI (dtmi:segment:…;version)"
        ));
    }
    if !is_type(item, "Interface") {
        return Err(format!("`{id}` has no \"@type\": \"Interface\""));
    }
    let defined: Vec<&str> = item
        .get("schemas")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("@id").and_then(Value::as_str))
        .collect();
    if let Some(schemas) = item.get("schemas") {
        let list = schemas.as_array().ok_or("\"schemas\" is not an array")?;
        for (i, s) in list.iter().enumerate() {
            schema(s, &defined, 0).map_err(|e| format!("schemas[{i}]: {e}"))?;
        }
    }
    if let Some(extends) = item.get("extends") {
        let parents: Vec<&Value> = match extends {
            Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        for p in parents {
            match p {
                Value::String(s) if is_dtmi(s) => {}
                Value::Object(_) => interface(p, depth + 1).map_err(|e| format!("extends: {e}"))?,
                other => return Err(format!("invalid \"extends\" {other}")),
            }
        }
    }
    let Some(contents) = item.get("contents") else {
        return Ok(());
    };
    let contents = contents.as_array().ok_or("\"contents\" is not an array")?;
    let mut names = std::collections::BTreeSet::new();
    for (i, c) in contents.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let at = format!("contents[{i}] (`{name}`)");
        content(c, &defined, depth).map_err(|e| format!("{at}: {e}"))?;
        if !names.insert(name) {
            return Err(format!("{at}: the name is used twice in `{id}`"));
        }
    }
    Ok(())
}

fn content(c: &Value, defined: &[&str], depth: usize) -> Result<(), String> {
    let kind = KINDS
        .iter()
        .find(|k| is_type(c, k))
        .ok_or("\"@type\" has none of Telemetry, Property, Command, Component, Relationship")?;
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .ok_or("no string \"name\"")?;
    if !valid_name(name) {
        return Err(format!(
            "invalid name {name:?}: letters, digits and '_', starting with a letter, at most 64"
        ));
    }
    match *kind {
        "Telemetry" | "Property" => {
            let s = c.get("schema").ok_or("no \"schema\"")?;
            schema(s, defined, 0)?;
            if let Some(w) = c.get("writable") {
                if !w.is_boolean() {
                    return Err("\"writable\" is not a boolean".into());
                }
            }
            Ok(())
        }
        "Command" => {
            for part in ["request", "response"] {
                if let Some(p) = c.get(part) {
                    let pname = p.get("name").and_then(Value::as_str).unwrap_or("");
                    if !valid_name(pname) {
                        return Err(format!("the {part} has no valid \"name\""));
                    }
                    let s = p
                        .get("schema")
                        .ok_or_else(|| format!("the {part} has no \"schema\""))?;
                    schema(s, defined, 0).map_err(|e| format!("{part}: {e}"))?;
                }
            }
            Ok(())
        }
        "Component" => match c.get("schema") {
            Some(Value::String(s)) if is_dtmi(s) => Ok(()),
            Some(inline @ Value::Object(_)) => interface(inline, depth + 1),
            Some(other) => Err(format!(
                "a component's schema must be an interface DTMI, got {other}"
            )),
            None => Err("no \"schema\"".into()),
        },
        _ => Ok(()),
    }
}

fn schema(s: &Value, defined: &[&str], depth: usize) -> Result<(), String> {
    if depth > 5 {
        return Err("complex schemas nest deeper than 5 levels".into());
    }
    match s {
        Value::String(name) if PRIMITIVES.contains(&name.as_str()) => Ok(()),
        Value::String(id) if is_dtmi(id) => {
            if defined.contains(&id.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "schema `{id}` is not defined in the interface's \"schemas\""
                ))
            }
        }
        Value::String(other) => Err(format!("unknown schema `{other}`")),
        Value::Object(_) => {
            let sub = |v: Option<&Value>, what: &str| -> Result<(), String> {
                let v = v.ok_or_else(|| format!("no {what}"))?;
                schema(v, defined, depth + 1).map_err(|e| format!("{what}: {e}"))
            };
            if is_type(s, "Object") {
                let fields = s
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or("an Object schema needs a \"fields\" array")?;
                for f in fields {
                    let n = f.get("name").and_then(Value::as_str).unwrap_or("");
                    if !valid_name(n) {
                        return Err(format!("invalid field name {n:?}"));
                    }
                    sub(f.get("schema"), &format!("the schema of field `{n}`"))?;
                }
                Ok(())
            } else if is_type(s, "Enum") {
                let vs = s.get("valueSchema").and_then(Value::as_str);
                if !matches!(vs, Some("integer" | "string")) {
                    return Err("an Enum's \"valueSchema\" must be integer or string".into());
                }
                let values = s
                    .get("enumValues")
                    .and_then(Value::as_array)
                    .ok_or("an Enum schema needs an \"enumValues\" array")?;
                for v in values {
                    let ok = match (vs, v.get("enumValue")) {
                        (Some("integer"), Some(x)) => x.is_i64(),
                        (Some("string"), Some(x)) => x.is_string(),
                        _ => false,
                    };
                    if !ok
                        || !v
                            .get("name")
                            .and_then(Value::as_str)
                            .is_some_and(valid_name)
                    {
                        return Err(format!("invalid enum value {v}"));
                    }
                }
                Ok(())
            } else if is_type(s, "Map") {
                let key = s.get("mapKey").ok_or("a Map schema needs \"mapKey\"")?;
                if key.get("schema").and_then(Value::as_str) != Some("string") {
                    return Err("a Map's key schema must be string".into());
                }
                sub(
                    s.get("mapValue").and_then(|v| v.get("schema")),
                    "the mapValue schema",
                )
            } else if is_type(s, "Array") {
                sub(s.get("elementSchema"), "\"elementSchema\"")
            } else {
                Err(format!("unknown complex schema {s}"))
            }
        }
        other => Err(format!("invalid schema {other}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn good_models_pass() {
        let m = json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
            {"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double"},
            {"@type": "Telemetry", "name": "where", "schema": "point"},
            {"@type": "Property", "name": "p", "writable": true, "schema": {"@type": "Map",
                "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": "dtmi:a:S;1"}}},
            {"@type": "Command", "name": "c", "request": {"name": "r", "schema": "integer"}},
            {"@type": "Component", "name": "comp", "schema": "dtmi:a:C;1"}
        ], "schemas": [{"@id": "dtmi:a:S;1", "@type": "Object", "fields": [{"name": "x", "schema": "string"}]}]});
        assert_eq!(validate_document(&m), Ok(()));
    }

    #[test]
    fn bad_models_name_the_problem() {
        let cases = [
            (json!({"@id": "x", "@type": "Interface"}), "is not a DTMI"),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Telemetry"}),
                "\"Interface\"",
            ),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
                {"@type": "Telemetry", "name": "t", "schema": "dobule"}]}),
                "contents[0] (`t`): unknown schema `dobule`",
            ),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
                {"@type": "Telemetry", "name": "t", "schema": "double"},
                {"@type": "Property", "name": "t", "schema": "double"}]}),
                "used twice",
            ),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
                {"@type": "Telemetry", "name": "1t", "schema": "double"}]}),
                "invalid name",
            ),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
                {"@type": "Widget", "name": "w"}]}),
                "\"@type\" has none",
            ),
            (
                json!({"@id": "dtmi:a:B;1", "@type": "Interface", "contents": [
                {"@type": "Telemetry", "name": "e", "schema": {"@type": "Enum", "valueSchema": "integer",
                    "enumValues": [{"name": "a", "enumValue": "x"}]}}]}),
                "invalid enum value",
            ),
            (json!([]), "empty"),
        ];
        for (doc, want) in cases {
            let err = validate_document(&doc).expect_err("must be refused");
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
    }
}
