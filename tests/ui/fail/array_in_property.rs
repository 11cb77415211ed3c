use std::collections::HashMap;

use iotc_sdk::{DtdlSchema, Properties};
use serde::Serialize;

#[derive(Serialize, DtdlSchema)]
struct Config {
    thresholds: [f64; 3],
}

#[derive(Serialize, Properties)]
struct Settings {
    history: Vec<f64>,
    config: Config,
    by_name: HashMap<String, Vec<String>>,
    fine: Option<f64>,
}

fn main() {}
