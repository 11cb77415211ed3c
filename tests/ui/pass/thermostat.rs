//! The official Thermostat and TemperatureController models, derived.

use iotc_sdk::{Commands, DtdlSchema, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Telemetry)]
struct ThermostatTelemetry {
    /// Temperature in degrees Celsius.
    #[iotc(semantic_type = "Temperature", unit = "degreeCelsius", display_name = "Temperature")]
    temperature: f64,
}

#[derive(Serialize, Deserialize, Default, Properties)]
#[serde(rename_all = "camelCase")]
struct ThermostatProperties {
    /// Allows to remotely specify the desired target temperature.
    #[iotc(writable, semantic_type = "Temperature", unit = "degreeCelsius", display_name = "Target Temperature")]
    #[serde(skip_serializing_if = "Option::is_none")]
    target_temperature: Option<f64>,
    /// Returns the max temperature since last device reboot.
    #[iotc(semantic_type = "Temperature", unit = "degreeCelsius", display_name = "Max temperature since last reboot.")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_temp_since_last_reboot: Option<f64>,
}

#[derive(Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct MaxMinReport {
    #[iotc(display_name = "Max temperature")]
    max_temp: f64,
    #[iotc(display_name = "Min temperature")]
    min_temp: f64,
    #[iotc(display_name = "Average Temperature")]
    avg_temp: f64,
    #[iotc(display_name = "Start Time")]
    #[serde(with = "time::serde::rfc3339")]
    start_time: time::OffsetDateTime,
    #[iotc(display_name = "End Time")]
    #[serde(with = "time::serde::rfc3339")]
    end_time: time::OffsetDateTime,
}

#[derive(Debug, PartialEq, Commands)]
enum ThermostatCommand {
    /// This command returns the max, min and average temperature from the specified time to the current time.
    #[iotc(display_name = "Get Max-Min report.")]
    #[iotc(request(name = "since", display_name = "Since", description = "Period to return the max-min report.", with = "time::serde::rfc3339"))]
    #[iotc(response(name = "tempReport", schema = MaxMinReport, display_name = "Temperature Report"))]
    GetMaxMinReport(time::OffsetDateTime),
}

#[derive(Interface)]
#[iotc(
    id = "dtmi:com:example:Thermostat;1",
    display_name = "Thermostat",
    description = "Reports current temperature and provides desired temperature control."
)]
#[iotc(telemetry = ThermostatTelemetry, properties = ThermostatProperties, commands = ThermostatCommand)]
struct Thermostat;

#[derive(Serialize, Telemetry)]
#[serde(rename_all = "camelCase")]
struct ControllerTelemetry {
    /// Current working set of the device memory in KiB.
    #[iotc(semantic_type = "DataSize", unit = "kibibyte", display_name = "Working Set")]
    working_set: f64,
}

#[derive(Serialize, Properties)]
#[serde(rename_all = "camelCase")]
struct ControllerProperties {
    /// Serial number of the device.
    #[iotc(display_name = "Serial Number")]
    serial_number: String,
}

#[derive(Commands)]
enum ControllerCommand {
    /// Reboots the device after waiting the number of seconds specified.
    #[iotc(display_name = "Reboot")]
    #[iotc(request(name = "delay", display_name = "Delay", description = "Number of seconds to wait before rebooting the device."))]
    Reboot(i32),
}

#[derive(Serialize, Properties)]
#[serde(rename_all = "camelCase")]
struct DeviceInformationProperties {
    #[iotc(display_name = "Manufacturer")]
    manufacturer: String,
    #[iotc(display_name = "Total memory")]
    total_memory: f64,
}

#[derive(Interface)]
#[iotc(id = "dtmi:azure:DeviceManagement:DeviceInformation;1", display_name = "Device Information")]
#[iotc(properties = DeviceInformationProperties)]
struct DeviceInformation;

#[derive(Interface)]
#[iotc(
    id = "dtmi:com:example:TemperatureController;1",
    display_name = "Temperature Controller",
    description = "Device with two thermostats and remote reboot."
)]
#[iotc(telemetry = ControllerTelemetry, properties = ControllerProperties, commands = ControllerCommand)]
#[iotc(component(name = "thermostat1", schema = Thermostat, display_name = "Thermostat One", description = "Thermostat One of Two."))]
#[iotc(component(name = "thermostat2", schema = Thermostat, display_name = "Thermostat Two", description = "Thermostat Two of Two."))]
#[iotc(component(name = "deviceInformation", schema = DeviceInformation, display_name = "Device Information interface", description = "Optional interface with basic device hardware information."))]
struct TemperatureController;

fn json(interface: &iotc_sdk::model::InterfaceInfo) -> serde_json::Value {
    serde_json::from_str(&interface.to_json_pretty()).unwrap()
}

fn main() {
    let thermostat = Thermostat::interface();
    assert_eq!(thermostat.validate(), Ok(()));
    assert_eq!(
        json(&thermostat),
        json!({
          "@context": "dtmi:dtdl:context;2",
          "@id": "dtmi:com:example:Thermostat;1",
          "@type": "Interface",
          "displayName": "Thermostat",
          "description": "Reports current temperature and provides desired temperature control.",
          "contents": [
            {
              "@type": ["Telemetry", "Temperature"],
              "name": "temperature",
              "displayName": "Temperature",
              "description": "Temperature in degrees Celsius.",
              "schema": "double",
              "unit": "degreeCelsius"
            },
            {
              "@type": ["Property", "Temperature"],
              "name": "targetTemperature",
              "schema": "double",
              "displayName": "Target Temperature",
              "description": "Allows to remotely specify the desired target temperature.",
              "unit": "degreeCelsius",
              "writable": true
            },
            {
              "@type": ["Property", "Temperature"],
              "name": "maxTempSinceLastReboot",
              "schema": "double",
              "unit": "degreeCelsius",
              "displayName": "Max temperature since last reboot.",
              "description": "Returns the max temperature since last device reboot."
            },
            {
              "@type": "Command",
              "name": "getMaxMinReport",
              "displayName": "Get Max-Min report.",
              "description": "This command returns the max, min and average temperature from the specified time to the current time.",
              "request": {
                "name": "since",
                "displayName": "Since",
                "description": "Period to return the max-min report.",
                "schema": "dateTime"
              },
              "response": {
                "name": "tempReport",
                "displayName": "Temperature Report",
                "schema": {
                  "@type": "Object",
                  "fields": [
                    { "name": "maxTemp", "displayName": "Max temperature", "schema": "double" },
                    { "name": "minTemp", "displayName": "Min temperature", "schema": "double" },
                    { "name": "avgTemp", "displayName": "Average Temperature", "schema": "double" },
                    { "name": "startTime", "displayName": "Start Time", "schema": "dateTime" },
                    { "name": "endTime", "displayName": "End Time", "schema": "dateTime" }
                  ]
                }
              }
            }
          ]
        })
    );

    let controller = TemperatureController::interface();
    assert_eq!(controller.validate(), Ok(()));
    let value = json(&controller);
    assert_eq!(value["contents"][0]["@type"], json!(["Telemetry", "DataSize"]));
    assert_eq!(value["contents"][2]["request"]["schema"], "integer");
    assert_eq!(
        value["contents"][5],
        json!({
            "@type": "Component",
            "schema": "dtmi:azure:DeviceManagement:DeviceInformation;1",
            "name": "deviceInformation",
            "displayName": "Device Information interface",
            "description": "Optional interface with basic device hardware information."
        })
    );
    let all = TemperatureController::interfaces();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dtmi:com:example:TemperatureController;1",
            "dtmi:com:example:Thermostat;1",
            "dtmi:azure:DeviceManagement:DeviceInformation;1"
        ]
    );
    let document: serde_json::Value =
        serde_json::from_str(&iotc_sdk::model::export(&all)).unwrap();
    assert_eq!(document.as_array().map(Vec::len), Some(3));

    let component: iotc_sdk::ComponentRef<Thermostat> = TemperatureController::THERMOSTAT2;
    assert_eq!(component.name(), "thermostat2");
    assert_eq!(TemperatureController::DEVICE_INFORMATION.name(), "deviceInformation");

    let since = ThermostatCommand::parse("getMaxMinReport", br#""2021-01-05T08:00:00Z""#).unwrap();
    assert_eq!(since, ThermostatCommand::GetMaxMinReport(time::macros::datetime!(2021-01-05 08:00 UTC)));
    assert!(matches!(
        ControllerCommand::parse("reboot", b"5"),
        Ok(ControllerCommand::Reboot(5))
    ));
}
