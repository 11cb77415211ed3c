//! Device templates: what a device's model says it sends and accepts, and the check IoT
//! Central applies when data arrives. Data that does not fit the model is "unmodeled": IoT
//! Central still stores it but shows it apart, and so does the emulator
//! ([`Emulator::unmodeled`](crate::Emulator::unmodeled)).
//!
//! The check follows DTDL v2 (dtdl.md §3–4 and §12): telemetry bodies are JSON objects keyed by
//! telemetry names of the component named in `$.sub`; reported properties are keyed by
//! property names (components wrapped with `"__t":"c"`), writable ones reported as
//! acknowledgements `{"value":…,"ac":…,"av":…}`; command responses follow the command's
//! `response` schema.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::types::{UnmodeledData, UnmodeledKind};

/// The interfaces the emulator knows, by `@id`.
pub(crate) type Interfaces = BTreeMap<String, Value>;

/// Names IoT Central ignores in telemetry (protocol.md §7.5).
const RESERVED: &[&str] = &[
    "EventEnqueuedUtcTime",
    "EventProcessedUtcTime",
    "PartitionId",
    "EventHub",
    "User",
    "$metadata",
    "$version",
];

/// Adds every interface of a model document (one interface or an array of them). Inherited
/// contents (`extends`, inline or by `@id` from this document or known interfaces) are copied
/// into each interface, so the checks see them.
pub(crate) fn add_document(
    interfaces: &mut Interfaces,
    document: &Value,
) -> Result<String, String> {
    let items: Vec<&Value> = match document {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut first = None;
    for item in &items {
        let id = item
            .get("@id")
            .and_then(Value::as_str)
            .ok_or("an interface has no string \"@id\"")?;
        if !has_type(item, "Interface") {
            return Err(format!("`{id}` is not an Interface"));
        }
        // Inline component interfaces become interfaces of their own.
        for content in contents(item) {
            if has_type(content, "Component") {
                if let Some(inline) = content.get("schema").filter(|s| s.is_object()) {
                    add_document(interfaces, inline)?;
                }
            }
        }
        let flat = flatten_extends(interfaces, &items, item, 0)?;
        interfaces.insert(id.to_owned(), flat);
        first.get_or_insert_with(|| id.to_owned());
    }
    first.ok_or_else(|| "the document holds no interface".to_owned())
}

/// `interface` with the contents of the interfaces it extends appended (recursively, at most
/// 10 levels, as DTDL v2 allows).
fn flatten_extends(
    known: &Interfaces,
    siblings: &[&Value],
    interface: &Value,
    depth: usize,
) -> Result<Value, String> {
    let parents: Vec<&Value> = match interface.get("extends") {
        None => return Ok(interface.clone()),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
    };
    if depth >= 10 {
        return Err("`extends` nests deeper than 10 levels".into());
    }
    let mut out = interface.clone();
    let mut inherited = Vec::new();
    for parent in parents {
        let resolved = match parent {
            Value::String(id) => siblings
                .iter()
                .find(|s| s.get("@id").and_then(Value::as_str) == Some(id.as_str()))
                .copied()
                .or_else(|| known.get(id))
                .ok_or_else(|| format!("extends `{id}`, which is not in the document"))?
                .clone(),
            inline @ Value::Object(_) => inline.clone(),
            other => return Err(format!("invalid `extends` value {other}")),
        };
        let flat = flatten_extends(known, siblings, &resolved, depth + 1)?;
        inherited.extend(contents(&flat).cloned());
        if let Some(schemas) = flat.get("schemas").and_then(Value::as_array) {
            let mine = out.as_object_mut().map(|o| {
                o.entry("schemas")
                    .or_insert_with(|| Value::Array(Vec::new()))
            });
            if let Some(Value::Array(list)) = mine {
                list.extend(schemas.iter().cloned());
            }
        }
    }
    if let Some(obj) = out.as_object_mut() {
        let list = obj
            .entry("contents")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.extend(inherited);
        }
    }
    Ok(out)
}

/// Whether a DTDL element has `kind` among its `@type`s.
pub(crate) fn is_type(element: &Value, kind: &str) -> bool {
    has_type(element, kind)
}

fn has_type(element: &Value, kind: &str) -> bool {
    match element.get("@type") {
        Some(Value::String(t)) => t == kind,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(kind)),
        _ => false,
    }
}

fn contents(interface: &Value) -> impl Iterator<Item = &Value> {
    interface
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn find<'a>(interface: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    contents(interface)
        .find(|c| has_type(c, kind) && c.get("name").and_then(Value::as_str) == Some(name))
}

/// Checks incoming data against the template of one device.
pub(crate) struct Checker<'a> {
    interfaces: &'a Interfaces,
    root: &'a Value,
    device_id: &'a str,
}

impl<'a> Checker<'a> {
    /// The checker for a device with `model_id`, if the emulator has that template.
    pub(crate) fn new(
        interfaces: &'a Interfaces,
        model_id: Option<&str>,
        device_id: &'a str,
    ) -> Option<Self> {
        let root = interfaces.get(model_id?)?;
        Some(Checker {
            interfaces,
            root,
            device_id,
        })
    }

    /// The interface of `component` (the root interface for `None`).
    fn interface(&self, component: Option<&str>) -> Result<&'a Value, String> {
        let Some(name) = component else {
            return Ok(self.root);
        };
        let element = find(self.root, "Component", name)
            .ok_or_else(|| format!("the model has no component `{name}`"))?;
        match element.get("schema") {
            Some(Value::String(id)) => self
                .interfaces
                .get(id)
                .ok_or_else(|| format!("the interface `{id}` of component `{name}` is not known")),
            Some(inline @ Value::Object(_)) => Ok(inline),
            _ => Err(format!("component `{name}` has no schema")),
        }
    }

    fn item(
        &self,
        kind: UnmodeledKind,
        component: Option<&str>,
        name: &str,
        value: &Value,
        reason: String,
    ) -> UnmodeledData {
        UnmodeledData {
            device_id: self.device_id.to_owned(),
            kind,
            component: component.map(str::to_owned),
            name: name.to_owned(),
            value: value.clone(),
            reason,
            time: time::OffsetDateTime::now_utc(),
        }
    }

    /// Telemetry: a JSON object whose members are telemetry of the component.
    pub(crate) fn telemetry(&self, component: Option<&str>, body: &[u8]) -> Vec<UnmodeledData> {
        let kind = UnmodeledKind::Telemetry;
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                let text = Value::String(String::from_utf8_lossy(body).into_owned());
                return vec![self.item(kind, component, "", &text, "the body is not JSON".into())];
            }
        };
        let Value::Object(members) = &value else {
            return vec![self.item(
                kind,
                component,
                "",
                &value,
                "the body is not a JSON object".into(),
            )];
        };
        let interface = match self.interface(component) {
            Ok(i) => i,
            Err(reason) => return vec![self.item(kind, component, "", &value, reason)],
        };
        let mut out = Vec::new();
        for (name, v) in members
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        {
            let reason = match find(interface, "Telemetry", name) {
                None => Some(format!("`{name}` is not a telemetry of the model")),
                Some(t) => check_element_schema(interface, t, v).err(),
            };
            if let Some(reason) = reason {
                out.push(self.item(kind, component, name, v, reason));
            }
        }
        out
    }

    /// A reported-property patch (root members, and component objects marked `"__t":"c"`).
    pub(crate) fn reported(&self, patch: &Map<String, Value>) -> Vec<UnmodeledData> {
        let mut out = Vec::new();
        for (key, value) in patch {
            let is_component = value.get("__t").and_then(Value::as_str) == Some("c");
            if is_component {
                let Value::Object(members) = value else {
                    continue;
                };
                for (name, v) in members.iter().filter(|(k, _)| k.as_str() != "__t") {
                    self.reported_property(Some(key), name, v, &mut out);
                }
            } else {
                self.reported_property(None, key, value, &mut out);
            }
        }
        out
    }

    fn reported_property(
        &self,
        component: Option<&str>,
        name: &str,
        value: &Value,
        out: &mut Vec<UnmodeledData>,
    ) {
        let kind = UnmodeledKind::Property;
        if value.is_null() {
            return; // a deletion
        }
        let interface = match self.interface(component) {
            Ok(i) => i,
            Err(reason) => return out.push(self.item(kind, component, name, value, reason)),
        };
        // A long-running command reports a property named after the command (protocol.md §7.4).
        if find(interface, "Command", name).is_some() {
            return;
        }
        let Some(property) = find(interface, "Property", name) else {
            return out.push(self.item(
                kind,
                component,
                name,
                value,
                format!("`{name}` is not a property of the model"),
            ));
        };
        let writable = property
            .get("writable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let checked = if writable {
            match value.get("value") {
                Some(v) if value.get("ac").is_some_and(Value::is_i64) && value.get("av").is_some_and(Value::is_u64) => {
                    check_element_schema(interface, property, v)
                }
                _ => Err("a writable property must be reported as an acknowledgement {\"value\",\"ac\",\"av\"}".into()),
            }
        } else {
            check_element_schema(interface, property, value)
        };
        if let Err(reason) = checked {
            out.push(self.item(kind, component, name, value, reason));
        }
    }

    /// A command response (status 2xx only: error answers carry free-form bodies).
    pub(crate) fn command_response(
        &self,
        method_name: &str,
        status: i32,
        payload: &Value,
    ) -> Vec<UnmodeledData> {
        let kind = UnmodeledKind::CommandResponse;
        if !(200..300).contains(&status) {
            return Vec::new();
        }
        let (component, name) = match method_name.split_once('*') {
            Some((c, n)) => (Some(c), n),
            None => (None, method_name),
        };
        let interface = match self.interface(component) {
            Ok(i) => i,
            Err(reason) => return vec![self.item(kind, component, name, payload, reason)],
        };
        let Some(command) = find(interface, "Command", name) else {
            return vec![self.item(
                kind,
                component,
                name,
                payload,
                format!("`{name}` is not a command of the model"),
            )];
        };
        let result = match command.get("response").and_then(|r| r.get("schema")) {
            Some(schema) => check_schema(interface, schema, payload, 0),
            None if payload.is_null() => Ok(()),
            None => Err("the command has no response in the model, but one was sent".into()),
        };
        match result {
            Ok(()) => Vec::new(),
            Err(reason) => vec![self.item(kind, component, name, payload, reason)],
        }
    }
}

/// Whether `value` is a GeoJSON geometry of `kind` (RFC 7946 §3.1: a position is 2 or 3 numbers; a LineString has at least
/// 2 positions; a Polygon ring at least 4, closed).
fn geojson(value: &Value, kind: &str) -> bool {
    if value.get("type").and_then(Value::as_str) != Some(kind) {
        return false;
    }
    let Some(coordinates) = value.get("coordinates") else {
        return false;
    };
    match kind {
        "Point" => is_position(coordinates),
        "MultiPoint" => array_of(coordinates, 0, is_position),
        "LineString" => is_line(coordinates),
        "MultiLineString" => array_of(coordinates, 0, is_line),
        "Polygon" => is_polygon(coordinates),
        "MultiPolygon" => array_of(coordinates, 0, is_polygon),
        _ => false,
    }
}

fn is_position(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.iter().all(Value::is_number))
}

fn array_of(v: &Value, min: usize, each: fn(&Value) -> bool) -> bool {
    v.as_array()
        .is_some_and(|items| items.len() >= min && items.iter().all(each))
}

fn is_line(v: &Value) -> bool {
    array_of(v, 2, is_position)
}

fn is_ring(v: &Value) -> bool {
    array_of(v, 4, is_position) && v.as_array().is_some_and(|r| r.first() == r.last())
}

fn is_polygon(v: &Value) -> bool {
    array_of(v, 1, is_ring)
}

fn check_element_schema(interface: &Value, element: &Value, value: &Value) -> Result<(), String> {
    match element.get("schema") {
        Some(schema) => check_schema(interface, schema, value, 0),
        None => Err("the model element has no schema".into()),
    }
}

/// Whether `value` is a valid JSON encoding of `schema` (dtdl.md §4 and §12.6).
fn check_schema(
    interface: &Value,
    schema: &Value,
    value: &Value,
    depth: usize,
) -> Result<(), String> {
    if depth > 10 {
        return Err("schema nesting too deep".into());
    }
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("expected {what}, got {value}"))
        }
    };
    match schema {
        Value::String(name) => match name.as_str() {
            "boolean" => expect(value.is_boolean(), "a boolean"),
            "integer" => expect(
                value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                "a 32-bit integer",
            ),
            "long" => expect(value.is_i64() || value.is_u64(), "an integer"),
            "double" | "float" => expect(value.is_number(), "a number"),
            "string" => expect(value.is_string(), "a string"),
            "dateTime" => expect(
                value.as_str().is_some_and(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .is_ok()
                }),
                "an RFC 3339 date-time string",
            ),
            "date" => expect(
                value.as_str().is_some_and(|s| {
                    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                        .is_ok()
                }),
                "a date string (YYYY-MM-DD)",
            ),
            "time" => expect(
                value
                    .as_str()
                    .is_some_and(|s| s.len() >= 8 && s.as_bytes().get(2) == Some(&b':')),
                "a time string (hh:mm:ss)",
            ),
            "duration" => expect(
                value.as_str().is_some_and(|s| s.starts_with('P')),
                "an ISO 8601 duration string",
            ),
            "geopoint" => expect(
                value.get("lat").is_some_and(Value::is_number)
                    && value.get("lon").is_some_and(Value::is_number),
                "a geopoint {lat, lon}",
            ),
            "point" => expect(geojson(value, "Point"), "a GeoJSON Point"),
            "multiPoint" => expect(geojson(value, "MultiPoint"), "a GeoJSON MultiPoint"),
            "lineString" => expect(geojson(value, "LineString"), "a GeoJSON LineString"),
            "multiLineString" => expect(
                geojson(value, "MultiLineString"),
                "a GeoJSON MultiLineString",
            ),
            "polygon" => expect(geojson(value, "Polygon"), "a GeoJSON Polygon"),
            "multiPolygon" => expect(geojson(value, "MultiPolygon"), "a GeoJSON MultiPolygon"),
            "vector" => expect(
                ["x", "y", "z"]
                    .iter()
                    .all(|k| value.get(k).is_some_and(Value::is_number)),
                "a vector {x, y, z}",
            ),
            id if id.starts_with("dtmi:") => {
                let definition = interface
                    .get("schemas")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|s| s.get("@id").and_then(Value::as_str) == Some(id))
                    .ok_or_else(|| format!("schema `{id}` is not defined in the interface"))?;
                check_schema(interface, definition, value, depth + 1)
            }
            other => Err(format!("unsupported schema `{other}`")),
        },
        Value::Object(_) => {
            if has_type(schema, "Object") {
                let Value::Object(members) = value else {
                    return expect(false, "an object");
                };
                let fields = schema
                    .get("fields")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for (key, v) in members {
                    let field = fields
                        .iter()
                        .find(|f| f.get("name").and_then(Value::as_str) == Some(key.as_str()))
                        .ok_or_else(|| format!("`{key}` is not a field of the object"))?;
                    let field_schema = field.get("schema").ok_or("a field has no schema")?;
                    check_schema(interface, field_schema, v, depth + 1)
                        .map_err(|e| format!("{key}: {e}"))?;
                }
                Ok(())
            } else if has_type(schema, "Enum") {
                let values = schema
                    .get("enumValues")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                expect(
                    values.iter().any(|v| v.get("enumValue") == Some(value)),
                    "one of the enum's values",
                )
            } else if has_type(schema, "Map") {
                let Value::Object(members) = value else {
                    return expect(false, "an object (map)");
                };
                let value_schema = schema
                    .get("mapValue")
                    .and_then(|v| v.get("schema"))
                    .ok_or("the map has no mapValue schema")?;
                for (key, v) in members {
                    check_schema(interface, value_schema, v, depth + 1)
                        .map_err(|e| format!("{key}: {e}"))?;
                }
                Ok(())
            } else if has_type(schema, "Array") {
                let Value::Array(items) = value else {
                    return expect(false, "an array");
                };
                let element = schema
                    .get("elementSchema")
                    .ok_or("the array has no elementSchema")?;
                items
                    .iter()
                    .try_for_each(|item| check_schema(interface, element, item, depth + 1))
            } else {
                Err(format!("unsupported schema {schema}"))
            }
        }
        _ => Err(format!("unsupported schema {schema}")),
    }
}

#[cfg(test)]
mod model_corpus;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn interfaces() -> Interfaces {
        let thermostat = json!({
            "@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface",
            "contents": [
                {"@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double", "unit": "degreeCelsius"},
                {"@type": "Property", "name": "targetTemperature", "schema": "double", "writable": true},
                {"@type": "Property", "name": "maxTempSinceLastReboot", "schema": "double"},
                {"@type": "Command", "name": "getMaxMinReport",
                 "request": {"name": "since", "schema": "dateTime"},
                 "response": {"name": "tempReport", "schema": {"@type": "Object", "fields": [
                     {"name": "maxTemp", "schema": "double"}, {"name": "startTime", "schema": "dateTime"}]}}}
            ]
        });
        let controller = json!([{
            "@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:TemperatureController;1", "@type": "Interface",
            "contents": [
                {"@type": "Telemetry", "name": "workingSet", "schema": "double"},
                {"@type": "Property", "name": "serialNumber", "schema": "string"},
                {"@type": "Command", "name": "reboot", "request": {"name": "delay", "schema": "integer"}},
                {"@type": "Component", "name": "thermostat1", "schema": "dtmi:com:example:Thermostat;1"},
                {"@type": "Telemetry", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
                    "enumValues": [{"name": "on", "enumValue": "on"}, {"name": "off", "enumValue": "off"}]}},
                {"@type": "Telemetry", "name": "counts", "schema": {"@type": "Map",
                    "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": "long"}}},
                {"@type": "Telemetry", "name": "series", "schema": {"@type": "Array", "elementSchema": "double"}}
            ]
        }, thermostat]);
        let mut all = Interfaces::new();
        add_document(&mut all, &controller).unwrap();
        all
    }

    fn names(items: &[UnmodeledData]) -> Vec<(Option<&str>, &str)> {
        items
            .iter()
            .map(|i| (i.component.as_deref(), i.name.as_str()))
            .collect()
    }

    #[test]
    fn telemetry_fits_or_is_unmodeled() {
        let all = interfaces();
        let c = Checker::new(&all, Some("dtmi:com:example:TemperatureController;1"), "d").unwrap();
        assert!(c
            .telemetry(
                None,
                br#"{"workingSet": 12.5, "mode": "on", "counts": {"a": 1}, "series": [1, 2.5]}"#
            )
            .is_empty());
        assert!(c
            .telemetry(Some("thermostat1"), br#"{"temperature": 21}"#)
            .is_empty());
        let bad = c.telemetry(None, br#"{"workingSet": "lots", "mode": "auto", "humidity": 3, "series": [1, "x"], "$version": 1}"#);
        assert_eq!(
            names(&bad),
            vec![
                (None, "humidity"),
                (None, "mode"),
                (None, "series"),
                (None, "workingSet")
            ]
        );
        assert_eq!(
            names(&c.telemetry(Some("thermostat2"), br#"{"temperature": 21}"#)),
            vec![(Some("thermostat2"), "")]
        );
        assert_eq!(c.telemetry(None, b"not json").len(), 1);
        // The root has no `temperature`: only the component does.
        assert_eq!(
            names(&c.telemetry(None, br#"{"temperature": 21}"#)),
            vec![(None, "temperature")]
        );
    }

    #[test]
    fn reported_properties_and_acks() {
        let all = interfaces();
        let c = Checker::new(&all, Some("dtmi:com:example:TemperatureController;1"), "d").unwrap();
        let ok = json!({"serialNumber": "SN1", "thermostat1": {"__t": "c", "maxTempSinceLastReboot": 30.5,
            "targetTemperature": {"value": 21.0, "ac": 200, "av": 3, "ad": "ok"}}});
        assert!(c.reported(ok.as_object().unwrap()).is_empty());
        let bad = json!({"serialNumber": 5, "colour": "red", "thermostat1": {"__t": "c", "targetTemperature": 21.0}});
        assert_eq!(
            names(&c.reported(bad.as_object().unwrap())),
            vec![
                (None, "colour"),
                (None, "serialNumber"),
                (Some("thermostat1"), "targetTemperature")
            ]
        );
        assert!(c
            .reported(json!({"serialNumber": null}).as_object().unwrap())
            .is_empty());
    }

    #[test]
    fn command_responses_follow_the_response_schema() {
        let all = interfaces();
        let c = Checker::new(&all, Some("dtmi:com:example:TemperatureController;1"), "d").unwrap();
        let good = json!({"maxTemp": 30.0, "startTime": "2024-01-01T00:00:00Z"});
        assert!(c
            .command_response("thermostat1*getMaxMinReport", 200, &good)
            .is_empty());
        let bad = json!({"maxTemp": "hot"});
        assert_eq!(
            c.command_response("thermostat1*getMaxMinReport", 200, &bad)
                .len(),
            1
        );
        assert!(c
            .command_response("thermostat1*getMaxMinReport", 500, &bad)
            .is_empty());
        assert!(c.command_response("reboot", 200, &Value::Null).is_empty());
        assert_eq!(c.command_response("reboot", 200, &json!({"x": 1})).len(), 1);
        assert_eq!(
            c.command_response("selfDestruct", 200, &Value::Null).len(),
            1
        );
    }

    #[test]
    fn unknown_models_are_not_checked() {
        let all = interfaces();
        assert!(Checker::new(&all, Some("dtmi:com:example:Other;1"), "d").is_none());
        assert!(Checker::new(&all, None, "d").is_none());
        let mut none = Interfaces::new();
        assert!(
            add_document(&mut none, &json!({"@id": "dtmi:x;1", "@type": "Telemetry"})).is_err()
        );
        assert!(add_document(&mut none, &json!([])).is_err());
    }
}
