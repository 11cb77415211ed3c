use iotc_sdk::{Interface, Properties, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings<T: Serialize> {
    value: T,
}

#[derive(Serialize, Properties)]
struct Settings<const N: usize> {
    level: i32,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat;1")]
struct Thermostat<'a>(&'a str);

fn main() {}
