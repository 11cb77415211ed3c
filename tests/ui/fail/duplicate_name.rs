use iotc_sdk::{Commands, DtdlSchema, Interface, Properties};
use serde::Serialize;

#[derive(Serialize, Properties)]
#[serde(rename_all = "camelCase")]
struct Settings {
    target_temp: f64,
    #[serde(rename = "targetTemp")]
    other: f64,
}

#[derive(Serialize, DtdlSchema)]
enum Mode {
    Heat,
    #[serde(rename = "Heat")]
    Warm,
}

#[derive(Commands)]
enum Command {
    Reboot,
    #[iotc(name = "reboot")]
    Restart,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat;1")]
struct Thermostat;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Controller;1")]
#[iotc(component(name = "thermostat", schema = Thermostat))]
#[iotc(component(name = "thermostat", schema = Thermostat))]
struct Controller;

fn main() {}
