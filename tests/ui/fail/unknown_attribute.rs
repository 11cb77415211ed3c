use iotc_sdk::{Interface, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[iotc(unitt = "kelvin")]
    temperature: f64,
    #[iotc(semantic_type = "Temperature", unit = "kelvin", foo(bar), writeable)]
    other: f64,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat;1", telemtry = Readings)]
struct Thermostat;

fn main() {}
