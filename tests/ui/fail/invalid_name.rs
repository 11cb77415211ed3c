use iotc_sdk::{Commands, DtdlSchema, Interface, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
struct Readings {
    #[serde(rename = "max-temp")]
    max_temp: f64,
    _private: f64,
    trailing_: f64,
}

#[derive(Serialize, DtdlSchema)]
struct Report {
    #[serde(rename = "9lives")]
    lives: i32,
}

#[derive(Commands)]
enum Command {
    #[iotc(name = "re-boot")]
    Reboot,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Device;1")]
#[iotc(component(name = "thermostat-1", schema = Device))]
struct Device;

fn main() {}
