use iotc_sdk::Telemetry;
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(semantic_type = "Temprature", unit = "degreeCelsius")]
    temperature: f64,
    // DTDL v3 only.
    #[iotc(semantic_type = "Concentration", unit = "percent")]
    co2: f64,
}

fn main() {}
