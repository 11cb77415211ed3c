//! Semantic comparison of DTDL documents: do two models say the same thing to a parser and a
//! device, whatever their order, formatting and display strings?
//!
//! Both documents are brought to a canonical form, then compared key by key:
//!
//! * interfaces by `@id`; `contents` by `name`; Object `fields` by `name`; Enum `enumValues` by
//!   their `enumValue` (the wire value); `@type` and `@context` as sets;
//! * a schema given as a DTMI is replaced by its definition (from the interface's `schemas` or
//!   any other element with that `@id`), so `"schema": "dtmi:...:agentMetadata;1"` equals the
//!   same Object written inline;
//! * ignored: `displayName`, `description`, `comment` (strings or localized maps), the `@id` of
//!   every element below an interface, and `@type` where it only restates the default
//!   (`Field`, `EnumValue`, `MapKey`, `MapValue`, `CommandPayload`);
//! * defaults made explicit: a Property without `writable` is `"writable": false`;
//! * everything else (units, semantic types, schemas, request/response names, component names
//!   and schemas, map key/value names, unknown properties) is compared as it is.
//!
//! [`semantic_diff`] lists the differences; [`assert_semantically_equal`] fails a test with a
//! readable diff, after setting aside the differences a documented [`Exclusion`] covers.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Keys that only carry text for people.
const DISPLAY_KEYS: [&str; 3] = ["displayName", "description", "comment"];

/// How deep schema references may be followed before we call it a cycle.
const MAX_REFERENCE_DEPTH: usize = 32;

/// One difference between the generated and the official document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Difference {
    /// Where: `<interface @id>/contents/<name>/schema/fields/<name>/...`.
    pub(crate) path: String,
    /// The generated side's value, `None` when it has nothing there.
    pub(crate) generated: Option<Value>,
    /// The official side's value, `None` when it has nothing there.
    pub(crate) official: Option<Value>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.generated, &self.official) {
            (Some(g), None) => write!(f, "{}: only in generated: {}", self.path, short(g)),
            (None, Some(o)) => write!(
                f,
                "{}: missing in generated (official: {})",
                self.path,
                short(o)
            ),
            (Some(g), Some(o)) => write!(
                f,
                "{}: generated {} but official {}",
                self.path,
                short(g),
                short(o)
            ),
            (None, None) => write!(f, "{}: (no values)", self.path),
        }
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A difference the test accepts on purpose, with the reason (the feature the derives cannot
/// express). `path` is matched segment by segment against [`Difference::path`]: `*` matches
/// one segment, a final `**` any number of further segments (at least one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exclusion {
    /// The path pattern.
    pub(crate) path: &'static str,
    /// Why this difference is accepted.
    pub(crate) reason: &'static str,
}

impl Exclusion {
    /// Whether this exclusion covers the difference at `path`.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let pattern: Vec<&str> = self.path.split('/').collect();
        let segments: Vec<&str> = path.split('/').collect();
        let mut i = 0;
        for (n, p) in pattern.iter().enumerate() {
            if *p == "**" && n == pattern.len() - 1 {
                return segments.len() > i;
            }
            match segments.get(i) {
                Some(s) if *p == "*" || p == s => i += 1,
                _ => return false,
            }
        }
        i == segments.len()
    }
}

/// The canonical form of a DTDL document (one Interface or an array of them): a JSON object
/// from interface `@id` to canonical interface.
///
/// # Errors
///
/// A document that is not an interface or an array of interfaces, an interface without a
/// string `@id`, or a cycle of schema references.
pub(crate) fn canonicalize(document: &Value) -> Result<Value, String> {
    let interfaces: Vec<&Value> = match document {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![document],
        other => return Err(format!("not a DTDL document: {}", short(other))),
    };
    let mut definitions = BTreeMap::new();
    collect_definitions(document, &mut definitions);
    let canonicalizer = Canonicalizer { definitions };
    let mut out = Map::new();
    for interface in interfaces {
        let id = interface
            .get("@id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("interface without a string @id: {}", short(interface)))?;
        let canonical = canonicalizer.interface(interface, 0)?;
        if out.insert(id.to_owned(), canonical).is_some() {
            return Err(format!("interface {id} is defined twice in one document"));
        }
    }
    Ok(Value::Object(out))
}

/// The differences between two DTDL documents (each one Interface or an array of them), in
/// path order; empty when they are semantically equal.
///
/// # Errors
///
/// When either document cannot be canonicalized (see [`canonicalize`]).
pub(crate) fn semantic_diff(
    generated: &Value,
    official: &Value,
) -> Result<Vec<Difference>, String> {
    let generated = canonicalize(generated).map_err(|e| format!("generated: {e}"))?;
    let official = canonicalize(official).map_err(|e| format!("official: {e}"))?;
    let mut differences = Vec::new();
    diff_values("", &generated, &official, &mut differences);
    Ok(differences)
}

/// Asserts that `generated` and `official` are semantically equal, except for the differences
/// that `exclusions` cover. Excluded differences are printed (never dropped silently), and an
/// exclusion that covers no difference fails the test too (so the list stays minimal).
///
/// # Panics
///
/// On an uncovered difference, an unused exclusion, or a document that cannot be canonicalized.
pub(crate) fn assert_semantically_equal(
    what: &str,
    generated: &Value,
    official: &Value,
    exclusions: &[Exclusion],
) {
    let differences = match semantic_diff(generated, official) {
        Ok(differences) => differences,
        Err(e) => panic!("{what}: cannot compare: {e}"),
    };
    let mut used = vec![false; exclusions.len()];
    let mut unexplained = Vec::new();
    for difference in &differences {
        match exclusions.iter().position(|e| e.matches(&difference.path)) {
            Some(index) => {
                used[index] = true;
                println!(
                    "{what}: excluded ({}): {difference}",
                    exclusions[index].reason
                );
            }
            None => unexplained.push(difference),
        }
    }
    let unused: Vec<&Exclusion> = exclusions
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(e, _)| e)
        .collect();
    if unexplained.is_empty() && unused.is_empty() {
        return;
    }
    let mut report = format!("{what}: the generated model differs from the official one\n");
    for difference in &unexplained {
        report.push_str(&format!("  - {difference}\n"));
    }
    for exclusion in &unused {
        report.push_str(&format!(
            "  - exclusion `{}` ({}) covers no difference: remove it\n",
            exclusion.path, exclusion.reason
        ));
    }
    if !unexplained.is_empty() {
        let pretty = |v: &Value| {
            canonicalize(v)
                .and_then(|c| serde_json::to_string_pretty(&c).map_err(|e| e.to_string()))
                .unwrap_or_else(|e| e)
        };
        report.push_str(&format!(
            "canonical generated:\n{}\ncanonical official:\n{}\n",
            pretty(generated),
            pretty(official)
        ));
    }
    panic!("{report}");
}

/// Every element with a string `@id` below the top level (reusable `schemas` and inline
/// definitions), so that a schema DTMI can be replaced by its definition.
fn collect_definitions(value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_definitions(v, out)),
        Value::Object(map) => {
            if let Some(id) = map.get("@id").and_then(Value::as_str) {
                if is_complex_schema(value) {
                    out.entry(id.to_owned()).or_insert_with(|| value.clone());
                }
            }
            map.values().for_each(|v| collect_definitions(v, out));
        }
        _ => {}
    }
}

fn is_complex_schema(value: &Value) -> bool {
    types(value)
        .iter()
        .any(|t| matches!(t.as_str(), "Object" | "Enum" | "Map" | "Array"))
}

/// `@type` as a list (a string is a list of one).
fn types(value: &Value) -> Vec<String> {
    match value.get("@type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// `@type` (or `@context`) as a sorted, de-duplicated JSON array.
fn as_set(value: &Value) -> Value {
    let mut items: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    };
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

struct Canonicalizer {
    definitions: BTreeMap<String, Value>,
}

impl Canonicalizer {
    fn interface(&self, interface: &Value, depth: usize) -> Result<Value, String> {
        let Value::Object(map) = interface else {
            return Err(format!("not an interface: {}", short(interface)));
        };
        let mut out = Map::new();
        for (key, value) in map {
            match key.as_str() {
                k if DISPLAY_KEYS.contains(&k) => {}
                // Consumed: referenced schemas are resolved where they are used.
                "schemas" => {}
                "@type" | "@context" => {
                    out.insert(key.clone(), as_set(value));
                }
                "contents" => {
                    let items = value.as_array().ok_or("contents is not an array")?;
                    let mut contents = Map::new();
                    for item in items {
                        let name = item
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("(no name)");
                        insert_unique(&mut contents, name, self.content(item, depth)?);
                    }
                    out.insert(key.clone(), Value::Object(contents));
                }
                "extends" => {
                    let list = match value {
                        Value::Array(items) => items.clone(),
                        other => vec![other.clone()],
                    };
                    let mut ids = Vec::new();
                    for item in &list {
                        ids.push(match item {
                            Value::String(id) => Value::String(id.clone()),
                            inline => self.interface(inline, depth + 1)?,
                        });
                    }
                    ids.sort_by_key(Value::to_string);
                    out.insert(key.clone(), Value::Array(ids));
                }
                _ => {
                    out.insert(key.clone(), self.generic(value));
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn content(&self, content: &Value, depth: usize) -> Result<Value, String> {
        let Value::Object(map) = content else {
            return Err(format!("content is not an object: {}", short(content)));
        };
        let kinds = types(content);
        let is_component = kinds.iter().any(|t| t == "Component");
        let mut out = Map::new();
        for (key, value) in map {
            match key.as_str() {
                k if DISPLAY_KEYS.contains(&k) || k == "@id" => {}
                "@type" => {
                    out.insert(key.clone(), as_set(value));
                }
                "schema" if is_component => {
                    let schema = match value {
                        Value::String(id) => Value::String(id.clone()),
                        inline => self.interface(inline, depth + 1)?,
                    };
                    out.insert(key.clone(), schema);
                }
                "schema" => {
                    out.insert(key.clone(), self.schema(value, 0)?);
                }
                "request" | "response" => {
                    out.insert(key.clone(), self.part(value, &["CommandPayload"])?);
                }
                _ => {
                    out.insert(key.clone(), self.generic(value));
                }
            }
        }
        if kinds.iter().any(|t| t == "Property") && !out.contains_key("writable") {
            out.insert("writable".to_owned(), Value::Bool(false));
        }
        Ok(Value::Object(out))
    }

    /// A named part with a schema: a command payload, a field, a map key or value. `@type` is
    /// dropped when it is just the part's default type.
    fn part(&self, part: &Value, default_types: &[&str]) -> Result<Value, String> {
        let Value::Object(map) = part else {
            return Err(format!("expected an object: {}", short(part)));
        };
        let mut out = Map::new();
        for (key, value) in map {
            match key.as_str() {
                k if DISPLAY_KEYS.contains(&k) || k == "@id" => {}
                "@type" => {
                    let set = as_set(value);
                    let only_default = set.as_array().is_some_and(|items| {
                        items
                            .iter()
                            .all(|t| t.as_str().is_some_and(|t| default_types.contains(&t)))
                    });
                    if !only_default {
                        out.insert(key.clone(), set);
                    }
                }
                "schema" => {
                    out.insert(key.clone(), self.schema(value, 0)?);
                }
                _ => {
                    out.insert(key.clone(), self.generic(value));
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn schema(&self, schema: &Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(format!(
                "schema references nest deeper than {MAX_REFERENCE_DEPTH} (a cycle?)"
            ));
        }
        let map = match schema {
            Value::String(term) => {
                return match self.definitions.get(term) {
                    Some(definition) => self.schema(definition, depth + 1),
                    None => Ok(Value::String(term.clone())),
                };
            }
            Value::Object(map) => map,
            other => return Ok(other.clone()),
        };
        let kinds = types(schema);
        let kind = kinds.first().map(String::as_str).unwrap_or("");
        let mut out = Map::new();
        for (key, value) in map {
            match (kind, key.as_str()) {
                (_, k) if DISPLAY_KEYS.contains(&k) || k == "@id" => {}
                (_, "@type") => {
                    out.insert(key.clone(), as_set(value));
                }
                ("Object", "fields") => {
                    let items = value.as_array().ok_or("fields is not an array")?;
                    let mut fields = Map::new();
                    for item in items {
                        let name = item
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("(no name)");
                        insert_unique(&mut fields, name, self.part(item, &["Field"])?);
                    }
                    out.insert(key.clone(), Value::Object(fields));
                }
                ("Enum", "enumValues") => {
                    let items = value.as_array().ok_or("enumValues is not an array")?;
                    let mut values = Map::new();
                    for item in items {
                        let wire = item
                            .get("enumValue")
                            .map_or_else(|| "(no enumValue)".to_owned(), Value::to_string);
                        insert_unique(&mut values, &wire, self.part(item, &["EnumValue"])?);
                    }
                    out.insert(key.clone(), Value::Object(values));
                }
                ("Map", "mapKey") => {
                    out.insert(key.clone(), self.part(value, &["MapKey"])?);
                }
                ("Map", "mapValue") => {
                    out.insert(key.clone(), self.part(value, &["MapValue"])?);
                }
                ("Array", "elementSchema") => {
                    out.insert(key.clone(), self.schema(value, depth + 1)?);
                }
                _ => {
                    out.insert(key.clone(), self.generic(value));
                }
            }
        }
        Ok(Value::Object(out))
    }

    /// Anything else: display strings and nested `@id`s dropped, `@type`s as sets.
    fn generic(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !DISPLAY_KEYS.contains(&k.as_str()) && *k != "@id")
                    .map(|(k, v)| {
                        let v = if k == "@type" {
                            as_set(v)
                        } else {
                            self.generic(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.generic(v)).collect()),
            other => other.clone(),
        }
    }
}

/// Inserts under `key`, or `key#2`, `key#3`... when taken, so duplicates show up as differences.
fn insert_unique(map: &mut Map<String, Value>, key: &str, value: Value) {
    let mut name = key.to_owned();
    let mut n = 1;
    while map.contains_key(&name) {
        n += 1;
        name = format!("{key}#{n}");
    }
    map.insert(name, value);
}

fn diff_values(path: &str, generated: &Value, official: &Value, out: &mut Vec<Difference>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}/{key}")
        }
    };
    match (generated, official) {
        (Value::Object(g), Value::Object(o)) => {
            let mut keys: Vec<&String> = g.keys().chain(o.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                match (g.get(key), o.get(key)) {
                    (Some(gv), Some(ov)) => diff_values(&join(key), gv, ov, out),
                    (gv, ov) => out.push(Difference {
                        path: join(key),
                        generated: gv.cloned(),
                        official: ov.cloned(),
                    }),
                }
            }
        }
        (g, o) if g == o => {}
        (g, o) => out.push(Difference {
            path: path.to_owned(),
            generated: Some(g.clone()),
            official: Some(o.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn thermostat() -> Value {
        json!({
            "@context": "dtmi:dtdl:context;2",
            "@id": "dtmi:com:example:Thermostat;1",
            "@type": "Interface",
            "displayName": "Thermostat",
            "contents": [
                {
                    "@type": ["Telemetry", "Temperature"],
                    "name": "temperature",
                    "schema": "double",
                    "unit": "degreeCelsius"
                },
                {
                    "@type": ["Property", "Temperature"],
                    "name": "targetTemperature",
                    "schema": "double",
                    "unit": "degreeCelsius",
                    "writable": true
                },
                {
                    "@type": "Command",
                    "name": "getMaxMinReport",
                    "request": { "name": "since", "schema": "dateTime" },
                    "response": {
                        "name": "tempReport",
                        "schema": {
                            "@type": "Object",
                            "fields": [
                                { "name": "maxTemp", "schema": "double" },
                                { "name": "minTemp", "schema": "double" }
                            ]
                        }
                    }
                }
            ]
        })
    }

    fn paths(differences: &[Difference]) -> Vec<&str> {
        differences.iter().map(|d| d.path.as_str()).collect()
    }

    #[test]
    fn equal_to_itself() {
        assert_eq!(semantic_diff(&thermostat(), &thermostat()).unwrap(), vec![]);
    }

    #[test]
    fn order_display_strings_and_nested_ids_are_ignored() {
        let reordered = json!([{
            "@type": "Interface",
            "@id": "dtmi:com:example:Thermostat;1",
            "@context": ["dtmi:dtdl:context;2"],
            "displayName": { "en": "Thermostat", "de": "Thermostat" },
            "description": "Reports the temperature.",
            "comment": "for tests",
            "contents": [
                {
                    "@type": "Command",
                    "@id": "dtmi:com:example:Thermostat:getMaxMinReport;1",
                    "name": "getMaxMinReport",
                    "displayName": "Get report",
                    "response": {
                        "@type": "CommandPayload",
                        "name": "tempReport",
                        "schema": {
                            "@type": "Object",
                            "displayName": "Report",
                            "fields": [
                                { "@type": "Field", "name": "minTemp", "schema": "double" },
                                { "name": "maxTemp", "schema": "double", "displayName": "Max" }
                            ]
                        }
                    },
                    "request": { "name": "since", "schema": "dateTime", "description": "From" }
                },
                {
                    "@type": ["Temperature", "Property"],
                    "name": "targetTemperature",
                    "writable": true,
                    "unit": "degreeCelsius",
                    "schema": "double"
                },
                {
                    "@type": ["Telemetry", "Temperature"],
                    "name": "temperature",
                    "schema": "double",
                    "unit": "degreeCelsius"
                }
            ]
        }]);
        assert_eq!(semantic_diff(&reordered, &thermostat()).unwrap(), vec![]);
    }

    #[test]
    fn detects_a_changed_unit() {
        let mut changed = thermostat();
        changed["contents"][1]["unit"] = json!("degreeFahrenheit");
        let differences = semantic_diff(&changed, &thermostat()).unwrap();
        assert_eq!(
            paths(&differences),
            ["dtmi:com:example:Thermostat;1/contents/targetTemperature/unit"]
        );
        assert_eq!(differences[0].generated, Some(json!("degreeFahrenheit")));
        assert_eq!(differences[0].official, Some(json!("degreeCelsius")));
        let text = differences[0].to_string();
        assert!(text.contains("\"degreeFahrenheit\"") && text.contains("\"degreeCelsius\""));
    }

    #[test]
    fn detects_a_missing_field() {
        let mut changed = thermostat();
        changed["contents"][2]["response"]["schema"]["fields"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        let differences = semantic_diff(&changed, &thermostat()).unwrap();
        assert_eq!(
            paths(&differences),
            ["dtmi:com:example:Thermostat;1/contents/getMaxMinReport/response/schema/fields/minTemp"]
        );
        assert_eq!(differences[0].generated, None);
        assert!(differences[0].to_string().contains("missing in generated"));
    }

    #[test]
    fn detects_a_different_schema() {
        let mut changed = thermostat();
        changed["contents"][0]["schema"] = json!("float");
        changed["contents"][2]["request"]["schema"] = json!({
            "@type": "Array", "elementSchema": "dateTime"
        });
        let differences = semantic_diff(&changed, &thermostat()).unwrap();
        assert_eq!(
            paths(&differences),
            [
                "dtmi:com:example:Thermostat;1/contents/getMaxMinReport/request/schema",
                "dtmi:com:example:Thermostat;1/contents/temperature/schema",
            ]
        );
    }

    #[test]
    fn detects_changed_types_writable_names_and_extra_contents() {
        let mut changed = thermostat();
        changed["contents"][0]["@type"] = json!(["Telemetry", "Temprature"]);
        changed["contents"][1]
            .as_object_mut()
            .unwrap()
            .remove("writable");
        changed["contents"][2]["request"]["name"] = json!("from");
        changed["contents"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "@type": "Telemetry", "name": "humidity", "schema": "double" }));
        let differences = semantic_diff(&changed, &thermostat()).unwrap();
        assert_eq!(
            paths(&differences),
            [
                "dtmi:com:example:Thermostat;1/contents/getMaxMinReport/request/name",
                "dtmi:com:example:Thermostat;1/contents/humidity",
                "dtmi:com:example:Thermostat;1/contents/targetTemperature/writable",
                "dtmi:com:example:Thermostat;1/contents/temperature/@type",
            ]
        );
        assert_eq!(differences[1].official, None);
    }

    #[test]
    fn writable_false_is_the_default() {
        let a = json!({"@id": "dtmi:a:b;1", "@type": "Interface", "contents": [
            {"@type": "Property", "name": "p", "schema": "string"}]});
        let b = json!({"@id": "dtmi:a:b;1", "@type": "Interface", "contents": [
            {"@type": "Property", "name": "p", "schema": "string", "writable": false}]});
        assert_eq!(semantic_diff(&a, &b).unwrap(), vec![]);
    }

    #[test]
    fn schema_references_resolve_to_their_definitions() {
        let referenced = json!({
            "@id": "dtmi:a:b;1", "@type": "Interface",
            "contents": [{"@type": "Property", "name": "p", "schema": "dtmi:a:b:obj;1"}],
            "schemas": [{"@id": "dtmi:a:b:obj;1", "@type": "Object", "fields": [
                {"name": "x", "schema": "dtmi:a:b:kind;1"}]},
                {"@id": "dtmi:a:b:kind;1", "@type": "Enum", "valueSchema": "integer",
                 "enumValues": [{"name": "one", "enumValue": 1}, {"name": "two", "enumValue": 2}]}]
        });
        let inline = json!({
            "@id": "dtmi:a:b;1", "@type": "Interface",
            "contents": [{"@type": "Property", "name": "p", "schema": {"@type": "Object", "fields": [
                {"name": "x", "schema": {"@type": "Enum", "valueSchema": "integer", "enumValues": [
                    {"name": "two", "enumValue": 2}, {"@type": "EnumValue", "name": "one", "enumValue": 1}]}}]}}]
        });
        assert_eq!(semantic_diff(&inline, &referenced).unwrap(), vec![]);
    }

    #[test]
    fn enums_compare_by_value() {
        let enum_of = |values: Value| {
            json!({"@id": "dtmi:a:b;1", "@type": "Interface", "contents": [{
                "@type": "Telemetry", "name": "t",
                "schema": {"@type": "Enum", "valueSchema": "integer", "enumValues": values}}]})
        };
        let official =
            enum_of(json!([{"name": "a", "enumValue": 1}, {"name": "b", "enumValue": 2}]));
        let renamed =
            enum_of(json!([{"name": "a", "enumValue": 1}, {"name": "c", "enumValue": 2}]));
        let renumbered =
            enum_of(json!([{"name": "a", "enumValue": 1}, {"name": "b", "enumValue": 3}]));
        let as_strings =
            enum_of(json!([{"name": "a", "enumValue": "1"}, {"name": "b", "enumValue": "2"}]));
        assert_eq!(
            paths(&semantic_diff(&renamed, &official).unwrap()),
            ["dtmi:a:b;1/contents/t/schema/enumValues/2/name"]
        );
        assert_eq!(
            paths(&semantic_diff(&renumbered, &official).unwrap()),
            [
                "dtmi:a:b;1/contents/t/schema/enumValues/2",
                "dtmi:a:b;1/contents/t/schema/enumValues/3",
            ]
        );
        assert_eq!(semantic_diff(&as_strings, &official).unwrap().len(), 4);
    }

    #[test]
    fn components_compare_by_name_and_interface() {
        let with = |schema: &str| {
            json!({"@id": "dtmi:a:b;1", "@type": "Interface", "contents": [
                {"@type": "Component", "name": "thermostat1", "schema": schema}]})
        };
        assert_eq!(
            semantic_diff(
                &with("dtmi:com:example:Thermostat;1"),
                &with("dtmi:com:example:Thermostat;1")
            )
            .unwrap(),
            vec![]
        );
        assert_eq!(
            paths(
                &semantic_diff(
                    &with("dtmi:com:example:Thermostat;2"),
                    &with("dtmi:com:example:Thermostat;1")
                )
                .unwrap()
            ),
            ["dtmi:a:b;1/contents/thermostat1/schema"]
        );
    }

    #[test]
    fn documents_compare_interface_by_interface() {
        let other = json!({"@id": "dtmi:a:b;1", "@type": "Interface"});
        let differences = semantic_diff(
            &json!([thermostat(), other.clone()]),
            &json!([thermostat()]),
        )
        .unwrap();
        assert_eq!(paths(&differences), ["dtmi:a:b;1"]);
        assert_eq!(differences[0].official, None);
        assert!(semantic_diff(&json!([other.clone(), other]), &thermostat()).is_err());
        assert!(semantic_diff(&json!(42), &thermostat()).is_err());
    }

    #[test]
    fn duplicate_names_show_up() {
        let mut twice = thermostat();
        let copy = twice["contents"][0].clone();
        twice["contents"].as_array_mut().unwrap().push(copy);
        assert_eq!(
            paths(&semantic_diff(&twice, &thermostat()).unwrap()),
            ["dtmi:com:example:Thermostat;1/contents/temperature#2"]
        );
    }

    #[test]
    fn reference_cycles_are_an_error() {
        let cyclic = json!({"@id": "dtmi:a:b;1", "@type": "Interface",
            "contents": [{"@type": "Telemetry", "name": "t", "schema": "dtmi:a:b:x;1"}],
            "schemas": [{"@id": "dtmi:a:b:x;1", "@type": "Array", "elementSchema": "dtmi:a:b:x;1"}]});
        let error = semantic_diff(&cyclic, &cyclic).unwrap_err();
        assert!(error.contains("cycle"), "{error}");
    }

    #[test]
    fn exclusion_patterns() {
        let exclusion = Exclusion {
            path: "dtmi:a:b;1/contents/*/schema/mapKey/name",
            reason: "test",
        };
        assert!(exclusion.matches("dtmi:a:b;1/contents/Operation/schema/mapKey/name"));
        assert!(!exclusion.matches("dtmi:a:b;1/contents/Operation/schema/mapValue/name"));
        assert!(!exclusion.matches("dtmi:a:b;1/contents/Operation/schema/mapKey/name/x"));
        assert!(!exclusion.matches("dtmi:a:b;1/contents/Operation/schema/mapKey"));
        let rest = Exclusion {
            path: "dtmi:a:b;1/contents/service/**",
            reason: "test",
        };
        assert!(rest.matches("dtmi:a:b;1/contents/service/writable"));
        assert!(rest.matches("dtmi:a:b;1/contents/service/schema/fields/x"));
        assert!(!rest.matches("dtmi:a:b;1/contents/service"));
    }

    #[test]
    fn assert_passes_with_covering_exclusions() {
        let mut changed = thermostat();
        changed["contents"][1]["unit"] = json!("kelvin");
        assert_semantically_equal(
            "thermostat",
            &changed,
            &thermostat(),
            &[Exclusion {
                path: "dtmi:com:example:Thermostat;1/contents/targetTemperature/unit",
                reason: "test",
            }],
        );
    }

    #[test]
    #[should_panic(expected = "contents/targetTemperature/unit: generated \"kelvin\"")]
    fn assert_fails_with_a_readable_diff() {
        let mut changed = thermostat();
        changed["contents"][1]["unit"] = json!("kelvin");
        assert_semantically_equal("thermostat", &changed, &thermostat(), &[]);
    }

    #[test]
    #[should_panic(expected = "covers no difference")]
    fn assert_fails_on_an_unused_exclusion() {
        assert_semantically_equal(
            "thermostat",
            &thermostat(),
            &thermostat(),
            &[Exclusion {
                path: "dtmi:com:example:Thermostat;1/contents/temperature/unit",
                reason: "stale",
            }],
        );
    }
}
