use iotc_sdk::Interface;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat;1")]
struct Thermostat;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Controller;1")]
#[iotc(component(name = "thermostat1", schema = Thermostat))]
struct Controller;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Plant;1")]
#[iotc(component(name = "controller", schema = Controller))]
struct Plant;

fn main() {}
