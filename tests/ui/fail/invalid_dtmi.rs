use iotc_sdk::Interface;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat")]
struct NoVersion;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:_Thermostat;1")]
struct SystemSegment;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:Thermostat;1.2")]
struct MinorVersion;

#[derive(Interface)]
#[iotc(id = "com:example:Thermostat;1")]
struct NoScheme;

#[derive(Interface)]
#[iotc(id = "dtmi:dtdl:Thermostat;1")]
struct Reserved;

#[derive(Interface)]
#[iotc(display_name = "Missing id")]
struct MissingId;

fn main() {}
