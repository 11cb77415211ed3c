//! DTDL → Rust → compile → export, for every DTDL v2 model in the shared sample
//! (`iot-plugandplay-models/`, `opendigitaltwins-dtdl/`, `dmr-sample/` beside the project
//! root; `IOTC_SHARED_MODELS` points elsewhere): all models are generated into ONE crate,
//! built once (with `-D warnings`, and clippy-clean) in `target/codegen-roundtrip`, and its
//! `interfaces()` must equal every original interface as DTDL reads it
//! (`iotc_sdk::model::diff_values`).
//! The interfaces the generator cannot express yet are listed in `EXPECTED_SKIPPED` (and in
//! `docs/codegen.md`); the list must match exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use iotc_sdk::model::{self, InterfaceInfo};
use serde_json::Value;

const SETS: &[&str] = &[
    "iot-plugandplay-models",
    "opendigitaltwins-dtdl",
    "dmr-sample",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shared_models() -> PathBuf {
    match std::env::var_os("IOTC_SHARED_MODELS") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join("../shared/models"),
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

fn every_model_file() -> Vec<PathBuf> {
    let root = shared_models();
    let mut files = Vec::new();
    for set in SETS {
        json_files(&root.join(set), &mut files);
    }
    assert_eq!(files.len(), 272, "expected the 272 files of SOURCES.md");
    files
}

/// The interfaces the generator leaves out, with the reason it gives.
const EXPECTED_SKIPPED: &[(&str, &str)] = &[
    (
        "dtmi:MeshSystems:ble:rdisensor;1",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:MeshSystems:ble:rhtsensor;1",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:MeshSystems:ble:rmovsensor;2",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:MeshSystems:ble:rtsensor;1",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:MeshSystems:ble:sensormanager;2",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:Redeye:redeye_1_plus;2",
        "`@id`/display strings/comment on an Array schema",
    ),
    (
        "dtmi:azure:iot:deviceUpdate;1",
        "`@id`/display strings/comment on a Map, its key or value",
    ),
    (
        "dtmi:technicolor:owm0131tch;1",
        "component `rmovsensor`: `dtmi:MeshSystems:ble:rmovsensor;2` not generated",
    ),
];

#[test]
fn generation_is_deterministic() {
    let files = every_model_file();
    let a = iotc_codegen::Builder::new()
        .files(files.clone())
        .skip_unsupported(true)
        .generate()
        .unwrap();
    let b = iotc_codegen::Builder::new()
        .files(files)
        .skip_unsupported(true)
        .generate()
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn every_model_round_trips_through_generated_rust() {
    let files = every_model_file();
    let crate_dir = workspace().join("target/codegen-roundtrip/crate");
    let _ = std::fs::remove_dir_all(crate_dir.join("src"));
    let output = iotc_codegen::Builder::new()
        .files(files.clone())
        .skip_unsupported(true)
        .write_to(&crate_dir.join("src/models"))
        .unwrap();
    let skipped: Vec<(String, String)> = output.skipped.clone().into_iter().collect();
    let expected: Vec<(String, String)> = EXPECTED_SKIPPED
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let listed: String = skipped
        .iter()
        .map(|(id, why)| format!("    ({id:?}, {why:?}),\n"))
        .collect();
    assert_eq!(
        skipped, expected,
        "the interfaces left out changed; now:\n{listed}"
    );

    let sdk = workspace().join("iotc-sdk").canonicalize().unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"codegen-roundtrip\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\niotc-sdk = {{ path = {:?}, default-features = false, features = [\"derive\", \"tls-native\"] }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n[workspace]\n",
            sdk.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        crate_dir.join("src/main.rs"),
        "//! Prints every generated interface as DTDL.\n\nmod models;\n\n\
         fn main() {\n    println!(\"{}\", iotc_sdk::model::export(&models::interfaces()));\n}\n",
    )
    .unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let run = Command::new(&cargo)
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target/codegen-roundtrip/target"),
        )
        .env("RUSTFLAGS", "-D warnings")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the generated crate does not build or run:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Clippy-clean too (the check reuses the build above).
    let clippy = Command::new(&cargo)
        .args(["clippy", "--quiet", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .args(["--", "-D", "warnings"])
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target/codegen-roundtrip/target"),
        )
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    assert!(
        clippy.status.success(),
        "clippy finds problems in the generated crate:\n{}",
        String::from_utf8_lossy(&clippy.stderr)
    );
    let exported: Vec<InterfaceInfo> =
        InterfaceInfo::from_json(&String::from_utf8(run.stdout).unwrap()).unwrap();
    let by_id: BTreeMap<&str, &InterfaceInfo> =
        exported.iter().map(|i| (i.id.as_str(), i)).collect();

    let mut failures = Vec::new();
    let mut compared = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for original in InterfaceInfo::from_json(&text).unwrap() {
            if output.skipped.contains_key(&original.id) {
                continue;
            }
            let Some(generated) = by_id.get(original.id.as_str()) else {
                failures.push(format!(
                    "{}: `{}` not generated",
                    file.display(),
                    original.id
                ));
                continue;
            };
            compared += 1;
            let expected: Value = serde_json::to_value(&original).unwrap();
            let actual: Value = serde_json::to_value(generated).unwrap();
            for difference in model::diff_values(&expected, &actual) {
                failures.push(format!("{}: {}: {difference}", file.display(), original.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared >= 272 - EXPECTED_SKIPPED.len(),
        "only {compared} interfaces compared"
    );
}

/// `examples/src/models/phone/` is exactly what the generator writes for its model today.
#[test]
fn the_example_model_is_up_to_date() {
    let sample = shared_models().join("dmr-sample");
    let output = iotc_codegen::Builder::new()
        .repository(&sample)
        .file(sample.join("dtmi/azure/phoneasiotdevice/application-1.json"))
        .generate()
        .unwrap();
    let dir = workspace().join("examples/src/models/phone");
    let mut committed = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        committed.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    assert_eq!(
        committed, output.files,
        "regenerate with: cargo run -p iotc-codegen -- --repository ../shared/models/dmr-sample \
         --out examples/src/models/phone \
         ../shared/models/dmr-sample/dtmi/azure/phoneasiotdevice/application-1.json"
    );
}
