use iotc_sdk::Telemetry;
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(semantic_type = "Temperature", unit = "degreeCelcius")]
    temperature: f64,
    // A DTDL v3 unit, not in v2.
    #[iotc(semantic_type = "Pressure", unit = "hectopascal")]
    pressure: f64,
}

fn main() {}
