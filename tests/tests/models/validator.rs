//! Every generated model through Microsoft's DTDL parser (`scripts/dtdl-validator`), strictly.
//!
//! The validator is a Node script around the parser compiled to WebAssembly, installed by
//! `scripts/dtdl-validator/run.sh` into `scripts/dtdl-validator/node_modules` (not in git).
//! Without it (or without `node`) the test prints how to install it and passes, unless
//! `IOTC_REQUIRE_DTDL_VALIDATOR=1` (set by CI) turns that into a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use iotc_examples::models::{
    DeviceInformation, DoorSensor, HumiditySensor, SensorGateway, TemperatureController, Thermostat,
};
use iotc_sdk::model::{self, InterfaceInfo as Model};
use iotc_sdk::Interface;

const REQUIRE_ENV: &str = "IOTC_REQUIRE_DTDL_VALIDATOR";

fn validator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("dtdl-validator")
}

/// `validate.js`, when the parser package and `node` are there; otherwise why not.
fn installed_validator() -> Result<PathBuf, String> {
    let dir = validator_dir();
    let script = dir.join("validate.js");
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    let package = dir.join("node_modules/@digicatapult/dtdl-parser/package.json");
    if !package.is_file() {
        return Err(format!("{} is missing", package.display()));
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(script),
        Ok(output) => Err(format!("`node --version` failed: {}", output.status)),
        Err(e) => Err(format!("cannot run node: {e}")),
    }
}

/// The validator, or `None` after saying why it is skipped; panics instead when CI requires it.
pub(crate) fn validator_or_skip() -> Option<PathBuf> {
    match installed_validator() {
        Ok(script) => Some(script),
        Err(why) => {
            let message =
                format!("DTDL validator not installed ({why}): run scripts/dtdl-validator/run.sh");
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                panic!("{message} ({REQUIRE_ENV}=1 requires it)");
            }
            eprintln!("{message}; skipping the strict DTDL parser check");
            None
        }
    }
}

/// The Device Models Repository path of a DTMI: `dtmi:com:example:Thermostat;1` is
/// `dtmi/com/example/thermostat-1.json`.
fn dmr_path(id: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}.json",
        id.to_lowercase().replace(':', "/").replace(';', "-")
    ))
}

/// Every model generated in this test binary: the example models and the rich ones.
fn every_generated_interface() -> Vec<Vec<Model>> {
    let mut all = vec![
        TemperatureController::interfaces(),
        Thermostat::interfaces(),
        DeviceInformation::interfaces(),
        SensorGateway::interfaces(),
        HumiditySensor::interfaces(),
        DoorSensor::interfaces(),
    ];
    all.extend(crate::rich::all_interfaces());
    all
}

/// Writes the models into `dir`: TemperatureController as its export document (an array with
/// its components' interfaces, as IoT Central imports it), every other interface once, in its
/// own file. Returns the number of interfaces written.
fn write_models(dir: &Path) -> usize {
    let mut written = BTreeSet::new();
    for interfaces in every_generated_interface() {
        let fresh: Vec<Model> = interfaces
            .into_iter()
            .filter(|i| !written.contains(&i.id))
            .collect();
        let Some(first) = fresh.first() else { continue };
        let path = dir.join(dmr_path(&first.id));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = if fresh.len() == 1 {
            first.to_json_pretty()
        } else {
            model::export(&fresh)
        };
        std::fs::write(&path, text).unwrap();
        written.extend(fresh.into_iter().map(|i| i.id));
    }
    written.len()
}

pub(crate) fn run(script: &Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let output = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn dmr_paths() {
    assert_eq!(
        dmr_path("dtmi:com:example:Thermostat;1"),
        PathBuf::from("dtmi/com/example/thermostat-1.json")
    );
    assert_eq!(
        dmr_path("dtmi:azure:DeviceManagement:DeviceInformation;1"),
        PathBuf::from("dtmi/azure/devicemanagement/deviceinformation-1.json")
    );
}

#[test]
fn generated_models_pass_the_dtdl_parser_strictly() {
    let Some(script) = validator_or_skip() else {
        return;
    };

    // The validator must not pass everything: its negative samples fail as they should.
    let (ok, output) = run(&script, &["--self-check".as_ref()]);
    println!("{output}");
    assert!(ok, "the validator's self-check failed:\n{output}");

    let dir = tempfile::tempdir().unwrap();
    let count = write_models(dir.path());
    assert!(count >= 6, "only {count} interfaces written");
    let (ok, output) = run(
        &script,
        &[
            "--strict".as_ref(),
            "--require-v2".as_ref(),
            dir.path().as_os_str(),
        ],
    );
    println!("{output}");
    assert!(
        ok,
        "the DTDL parser rejects generated models (strict):\n{output}"
    );
    assert!(
        output.contains(&format!("{count} models valid, 0 invalid")),
        "expected {count} valid models:\n{output}"
    );
}
