//! Every DTDL v2 model under `../shared/models/` (`iot-plugandplay-models/`,
//! `opendigitaltwins-dtdl/`, `dmr-sample/`) read with `InterfaceInfo::from_json` and written
//! back: the export must equal the original as DTDL reads it (`model::normalize`: a string is
//! the language map `{"en": string}`, the order of contents, fields, enum values, schemas,
//! `@context`, `@type` and `extends` carries no meaning, `"writable": false` is the default).
//!
//! The folder is the shared test data beside the project root; `IOTC_SHARED_MODELS` points
//! elsewhere. A missing folder is a failure, not a skip.

use std::path::{Path, PathBuf};

use iotc_sdk::model::{self, InterfaceInfo};
use serde_json::Value;

/// The sets of real models this test reads, under the shared models folder.
const SETS: &[&str] = &[
    "iot-plugandplay-models",
    "opendigitaltwins-dtdl",
    "dmr-sample",
];

pub(crate) fn shared_models() -> PathBuf {
    match std::env::var_os("IOTC_SHARED_MODELS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"),
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Every `.json` file of the three sets, with its parsed JSON, in path order.
pub(crate) fn every_v2_model() -> Vec<(PathBuf, Value)> {
    let root = shared_models();
    let mut files = Vec::new();
    for set in SETS {
        json_files(&root.join(set), &mut files);
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (path, value)
        })
        .collect()
}

/// Whether every interface of the document declares DTDL v2.
fn is_v2(value: &Value) -> bool {
    let interfaces: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    interfaces.iter().all(|i| match i.get("@context") {
        Some(Value::String(c)) => c == model::DTDL_V2_CONTEXT,
        Some(Value::Array(cs)) => cs.iter().any(|c| c == model::DTDL_V2_CONTEXT),
        _ => false,
    })
}

#[test]
fn every_real_model_round_trips_through_the_model_types() {
    let models = every_v2_model();
    // 9 + 2 + 261 files (see shared/models/SOURCES.md): all of them DTDL v2.
    assert_eq!(models.len(), 272, "expected the 272 files SOURCES.md lists");
    let mut failures = Vec::new();
    let mut interfaces = 0;
    for (path, original) in &models {
        assert!(is_v2(original), "{}: not DTDL v2", path.display());
        let parsed = match InterfaceInfo::from_value(original) {
            Ok(parsed) => parsed,
            Err(e) => {
                failures.push(format!("{}: parse error: {e}", path.display()));
                continue;
            }
        };
        interfaces += parsed.len();
        let exported: Value = serde_json::from_str(&model::export(&parsed)).unwrap();
        let original_list = match original {
            Value::Array(_) => original.clone(),
            one => Value::Array(vec![one.clone()]),
        };
        for difference in model::diff_values(&original_list, &exported) {
            failures.push(format!("{}: {difference}", path.display()));
        }
        // Reading the export again gives the same model.
        let again = InterfaceInfo::from_value(&exported).unwrap();
        if again != parsed {
            failures.push(format!(
                "{}: the export reads back differently",
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(interfaces >= 272, "only {interfaces} interfaces read");
}

#[test]
fn the_comparison_finds_what_differs() {
    let (_, original) = every_v2_model()
        .into_iter()
        .find(|(path, _)| path.ends_with("dmr-sample/dtmi/renesas/rx/ckrx65n/led-1.json"))
        .unwrap();
    let mut changed = original.clone();
    let contents = changed["contents"].as_array_mut().unwrap();
    let first = contents[0].as_object_mut().unwrap();
    let name = first["name"].as_str().unwrap().to_owned();
    first.remove("displayName");
    changed["schemas"] = Value::Array(Vec::new());
    let found = model::diff_values(&original, &changed);
    let paths: Vec<&str> = found.iter().map(|d| d.path.as_str()).collect();
    let expected_display = format!("contents/{name}/displayName");
    assert!(paths.contains(&expected_display.as_str()), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("schemas/")), "{paths:?}");
    // Spellings DTDL reads the same are equal.
    let mut respelled = original.clone();
    respelled["displayName"] = serde_json::json!({"en": original["displayName"]["en"].clone()});
    respelled["contents"].as_array_mut().unwrap().reverse();
    assert_eq!(model::diff_values(&original, &respelled), Vec::new());
}

#[test]
fn parse_errors_name_the_element() {
    let bad = r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Bad;1",
        "@type": "Interface", "contents": [
          {"@type": "Telemetry", "name": "ok", "schema": "double"},
          {"@type": "Property", "name": "level", "schema": {"@type": "Object", "fields": [
             {"name": "x", "schema": "notASchema"}]}}]}"#;
    let error = InterfaceInfo::from_json(bad).unwrap_err();
    assert_eq!(
        error.to_string(),
        "dtmi:com:example:Bad;1.contents[1] (level).schema.fields[0] (x).schema: unknown schema `notASchema`"
    );
    let unknown = r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Bad;1",
        "@type": "Interface", "contents": [{"@type": "Command", "name": "go", "writable": true}]}"#;
    assert!(matches!(
        InterfaceInfo::from_json(unknown),
        Err(model::ParseError::UnknownProperty { key, .. }) if key == "writable"
    ));
    let missing = r#"{"@context": "dtmi:dtdl:context;2", "@type": "Interface"}"#;
    assert_eq!(
        InterfaceInfo::from_json(missing).unwrap_err().to_string(),
        ": missing `@id`"
    );
}

#[test]
fn an_iot_central_template_and_inline_components_are_read() {
    let template = r#"{
      "@id": "dtmi:contoso:template;1", "@type": ["ModelDefinition", "DeviceModel"],
      "displayName": "Template", "@context": ["dtmi:iotcentral:context;2", "dtmi:dtdl:context;2"],
      "capabilityModel": {
        "@id": "dtmi:contoso:root;1", "@type": "Interface", "contents": [
          {"@type": "Component", "name": "sensor", "schema": {
            "@id": "dtmi:contoso:sensor;1", "@type": "Interface", "contents": [
              {"@type": ["Telemetry", "Event"], "name": "alarm", "schema": "string"},
              {"@type": ["Property", "Location"], "name": "where", "schema": "geopoint"}]}}]}}"#;
    let interfaces = InterfaceInfo::from_json(template).unwrap();
    let ids: Vec<&str> = interfaces.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["dtmi:contoso:root;1", "dtmi:contoso:sensor;1"]);
    assert_eq!(interfaces[0].context, interfaces[1].context);
    let Some(model::ContentInfo::Component(sensor)) = interfaces[0].content("sensor") else {
        panic!("no component")
    };
    assert_eq!(sensor.schema, "dtmi:contoso:sensor;1");
    let Some(model::ContentInfo::Property(place)) = interfaces[1].content("where") else {
        panic!("no property")
    };
    assert_eq!(place.schema, model::Schema::GeoPoint);
    assert_eq!(place.co_types, ["Location"]);
}

/// The validator's verdicts with the file paths taken out: the `FAIL <dtmi>` lines, each
/// message line (with `dir` written as `DIR`), and the final count.
fn verdicts(output: &str, dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    output
        .replace(&dir, "DIR")
        .lines()
        .filter(|line| {
            line.starts_with("FAIL") || line.starts_with("  [") || line.contains("models valid")
        })
        .map(|line| match line.find("  (") {
            Some(at) if line.starts_with("FAIL") => line[..at].to_owned(),
            _ => line.to_owned(),
        })
        .collect()
}

/// Microsoft's DTDL parser (strict, IoT Central terms allowed, DTDL v2 required) reads every
/// export exactly as it reads the original: the same models valid, the same messages for the
/// rest. Each set is parsed as a whole (as the repository layout resolves references); what
/// the parser rejects in the originals is listed in `docs/codegen.md`.
#[test]
fn the_dtdl_parser_reads_every_export_as_it_reads_the_original() {
    let Some(script) = crate::validator::validator_or_skip() else {
        return;
    };
    let root = shared_models();
    let out = tempfile::tempdir().unwrap();
    for (path, original) in every_v2_model() {
        let parsed = InterfaceInfo::from_value(&original).unwrap();
        let text = match original {
            Value::Array(_) => model::export(&parsed),
            _ => parsed[0].to_json_pretty(),
        };
        let target = out.path().join(path.strip_prefix(&root).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    for set in SETS {
        let options = ["--strict", "--allow-iotc-terms", "--require-v2"];
        let mut original_args: Vec<&std::ffi::OsStr> = options.iter().map(|o| o.as_ref()).collect();
        let mut export_args = original_args.clone();
        let original_dir = root.join(set).canonicalize().unwrap();
        let export_dir = out.path().join(set).canonicalize().unwrap();
        original_args.push(original_dir.as_os_str());
        export_args.push(export_dir.as_os_str());
        let (_, original) = crate::validator::run(&script, &original_args);
        let (_, exported) = crate::validator::run(&script, &export_args);
        let original = verdicts(&original, &original_dir);
        let exported = verdicts(&exported, &export_dir);
        assert!(
            original.last().is_some_and(|l| l.contains("models valid")),
            "{set}: no verdict from the validator:\n{}",
            original.join("\n")
        );
        let only_original: Vec<&String> =
            original.iter().filter(|l| !exported.contains(l)).collect();
        let only_export: Vec<&String> = exported.iter().filter(|l| !original.contains(l)).collect();
        assert!(
            only_original.is_empty() && only_export.is_empty(),
            "{set}: the parser reads the export differently\nonly for the original: \
             {only_original:#?}\nonly for the export: {only_export:#?}"
        );
        assert_eq!(original.last(), exported.last(), "{set}");
    }
}
