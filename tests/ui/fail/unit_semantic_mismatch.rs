use iotc_sdk::Telemetry;
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(semantic_type = "Temperature", unit = "metre")]
    temperature: f64,
    #[iotc(semantic_type = "RelativeHumidity", unit = "gramPerCubicMetre")]
    humidity: f64,
}

fn main() {}
