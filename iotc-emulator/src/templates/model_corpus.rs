//! The template checker on every model in `../shared/models/` (beside the project root): each
//! folder's models are loaded as templates; for every telemetry and property of every
//! interface one value generated from its schema must be judged right and one wrong-typed
//! value must be reported as unmodeled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{add_document, contents, has_type, Checker, Interfaces};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Loads a folder's models; `extends` targets may come later, so retry until no progress.
fn load(dir: &Path) -> Interfaces {
    let mut files = Vec::new();
    json_files(dir, &mut files);
    files.sort();
    let mut pending: Vec<(PathBuf, Value)> = files
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            (f, v)
        })
        .collect();
    for (f, v) in &pending {
        crate::model_check::validate_document(v)
            .unwrap_or_else(|e| panic!("{} refused: {e}", f.display()));
    }
    let mut all = Interfaces::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut errors = Vec::new();
        pending.retain(|(f, v)| match add_document(&mut all, v) {
            Ok(_) => false,
            Err(e) => {
                errors.push(format!("{}: {e}", f.display()));
                true
            }
        });
        assert!(
            pending.len() < before,
            "models that do not load: {errors:?}"
        );
    }
    all
}

/// A value that fits `schema` (resolving DTMIs in the interface's `schemas`).
fn good(interface: &Value, schema: &Value) -> Value {
    match schema {
        Value::String(s) => match s.as_str() {
            "boolean" => json!(true),
            "integer" | "long" | "byte" | "short" | "unsignedByte" | "unsignedShort"
            | "unsignedInteger" | "unsignedLong" => json!(7),
            "double" | "float" | "decimal" => json!(2.5),
            "string" | "uuid" | "bytes" => json!("text"),
            "dateTime" => json!("2024-05-01T12:30:00Z"),
            "date" => json!("2024-05-01"),
            "time" => json!("12:30:00"),
            "duration" => json!("PT5M"),
            "geopoint" => json!({"lat": 47.6, "lon": -122.1, "alt": 10.0}),
            "vector" => json!({"x": 1.0, "y": 2.0, "z": 3.0}),
            "point" => json!({"type": "Point", "coordinates": [-122.1, 47.6]}),
            "multiPoint" => json!({"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}),
            "lineString" => json!({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}),
            "multiLineString" => {
                json!({"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]]]})
            }
            "polygon" => {
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
            }
            "multiPolygon" => json!({"type": "MultiPolygon",
                "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]}),
            id => {
                let def = interface
                    .get("schemas")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|d| d.get("@id").and_then(Value::as_str) == Some(id))
                    .unwrap_or_else(|| panic!("schema {id} not in the interface"));
                good(interface, def)
            }
        },
        obj if has_type(obj, "Object") => {
            let mut out = serde_json::Map::new();
            for f in obj["fields"].as_array().unwrap() {
                out.insert(
                    f["name"].as_str().unwrap().to_owned(),
                    good(interface, &f["schema"]),
                );
            }
            Value::Object(out)
        }
        obj if has_type(obj, "Enum") => obj["enumValues"][0]["enumValue"].clone(),
        obj if has_type(obj, "Map") => {
            json!({"key1": good(interface, &obj["mapValue"]["schema"])})
        }
        obj if has_type(obj, "Array") => json!([good(interface, &obj["elementSchema"])]),
        other => panic!("no generator for {other}"),
    }
}

/// A value of the wrong JSON type for `schema`.
fn wrong(interface: &Value, schema: &Value) -> Value {
    match schema {
        Value::String(s) => match s.as_str() {
            "string" | "uuid" | "bytes" | "dateTime" | "date" | "time" | "duration" => json!(12345),
            "boolean" | "integer" | "long" | "double" | "float" | "decimal" | "byte" | "short"
            | "unsignedByte" | "unsignedShort" | "unsignedInteger" | "unsignedLong" => {
                json!("wrong")
            }
            "geopoint" | "vector" | "point" | "multiPoint" | "lineString" | "multiLineString"
            | "polygon" | "multiPolygon" => json!({"type": "Point", "coordinates": "here"}),
            _ => json!(12345),
        },
        obj if has_type(obj, "Enum") => json!("not-one-of-the-enum-values"),
        obj if has_type(obj, "Array") => json!(12345),
        _ => {
            let _ = interface;
            json!(12345)
        }
    }
}

#[test]
fn every_shared_model_judges_generated_values() {
    let root = corpus();
    assert!(
        root.is_dir(),
        "{} is missing: the test data beside the project root",
        root.display()
    );
    let mut models = 0;
    let mut checked = 0;
    let mut geospatial = 0;
    for folder in std::fs::read_dir(&root).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let all = load(&folder);
        for (id, interface) in &all {
            models += 1;
            let checker = Checker::new(&all, Some(id), "d").unwrap();
            for item in contents(interface) {
                let name = item["name"].as_str().unwrap();
                let Some(schema) = item.get("schema") else {
                    continue;
                };
                let is_telemetry = has_type(item, "Telemetry");
                if !is_telemetry && !has_type(item, "Property") {
                    continue;
                }
                if schema.as_str().is_some_and(|s| {
                    [
                        "point",
                        "multiPoint",
                        "lineString",
                        "multiLineString",
                        "polygon",
                        "multiPolygon",
                        "geopoint",
                    ]
                    .contains(&s)
                }) {
                    geospatial += 1;
                }
                let writable = item.get("writable").and_then(Value::as_bool) == Some(true);
                let judge = |v: Value| {
                    if is_telemetry {
                        checker.telemetry(None, json!({ name: v }).to_string().as_bytes())
                    } else {
                        let v = if writable {
                            json!({"value": v, "ac": 200, "av": 1})
                        } else {
                            v
                        };
                        checker.reported(json!({ name: v }).as_object().unwrap())
                    }
                };
                let right = judge(good(interface, schema));
                assert!(right.is_empty(), "{id} {name}: {right:?}");
                let bad = judge(wrong(interface, schema));
                assert_eq!(bad.len(), 1, "{id} {name}: a wrong value was accepted");
                checked += 1;
            }
        }
    }
    eprintln!("{models} interfaces, {checked} telemetry/property values, {geospatial} geospatial");
    assert!(models > 250, "only {models} interfaces loaded");
    assert!(checked > 1000, "only {checked} values checked");
    assert!(geospatial > 0, "no geospatial schema in the corpus");
}
