use iotc_sdk::{Properties, Telemetry};
use serde::Serialize;

#[derive(Serialize)]
struct NotASchema {
    x: f64,
}

#[derive(Serialize, Telemetry)]
struct Readings {
    counter: u64,
    nested: NotASchema,
}

#[derive(Serialize, Properties)]
struct Settings {
    big: i128,
}

fn main() {}
