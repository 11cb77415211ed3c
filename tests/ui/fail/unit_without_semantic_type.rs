use iotc_sdk::{Properties, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(unit = "degreeCelsius")]
    temperature: f64,
}

#[derive(Serialize, Properties)]
struct Settings {
    // The other way round: a semantic type needs a unit.
    #[iotc(semantic_type = "Temperature")]
    target: f64,
}

fn main() {}
