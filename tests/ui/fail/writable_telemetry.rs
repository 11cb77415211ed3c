use iotc_sdk::Telemetry;
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(writable)]
    temperature: f64,
}

fn main() {}
