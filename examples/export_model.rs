//! Writes the device models of the examples, ready to import into IoT Central, in the Device
//! Models Repository layout:
//!
//! ```text
//! cargo run --example export_model -- OUT_DIR
//! ```
//!
//! `dtmi:com:example:Thermostat;1` → `OUT_DIR/dtmi/com/example/thermostat-1.json`, one file
//! per interface. A model with components also gets its `.expanded.json`: the model followed by
//! its components' interfaces in one array, which is the single file IoT Central imports
//! (Device templates → New → IoT device → Import a model).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iotc_examples::models::{DeviceInformation, TemperatureController, Thermostat};
use iotc_examples::BoxError;
use iotc_sdk::{model, Dtmi, Interface};

fn main() -> Result<(), BoxError> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: cargo run --example export_model -- OUT_DIR")?
        .into();
    // Every model the examples use; each list starts with its root interface.
    let models = [
        Thermostat::interfaces(),
        DeviceInformation::interfaces(),
        TemperatureController::interfaces(),
    ];

    let mut written = BTreeMap::new();
    for interfaces in &models {
        for interface in interfaces {
            if let Err(problems) = interface.validate() {
                return Err(format!(
                    "{} is not valid DTDL: {}",
                    interface.id,
                    problems.join("; ")
                )
                .into());
            }
            written
                .entry(interface.id.clone())
                .or_insert_with(|| interface.to_json_pretty());
        }
        if let [root, _, ..] = interfaces.as_slice() {
            let path = dmr_path(&out, &root.id)?.with_extension("expanded.json");
            write(&path, &model::export(interfaces))?;
        }
    }
    for (id, json) in &written {
        write(&dmr_path(&out, id)?, json)?;
    }
    Ok(())
}

fn dmr_path(out: &Path, id: &str) -> Result<PathBuf, BoxError> {
    let dtmi: Dtmi = id.parse()?;
    Ok(out.join(dtmi.repository_path()))
}

fn write(path: &Path, json: &str) -> Result<(), BoxError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, format!("{json}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
