use iotc_sdk::{Properties, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(semantic_type = "Temperature", unit = "degreeCelsius")]
    temperature: String,
}

#[derive(Serialize, Properties)]
struct Settings {
    #[iotc(semantic_type = "Length", unit = "metre")]
    sizes: Option<bool>,
}

fn main() {}
