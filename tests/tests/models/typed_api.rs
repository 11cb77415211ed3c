//! The example models as typed device APIs: what their values look like on the wire, and that
//! the wire names are the model's names.

use std::collections::BTreeSet;

use iotc_examples::models::{
    DeviceInformation, DeviceInformationProperties, MaxMinReport, TemperatureController,
    TemperatureControllerCommand, TemperatureControllerProperties, TemperatureControllerTelemetry,
    Thermostat, ThermostatCommand, ThermostatProperties, ThermostatTelemetry,
};
use iotc_sdk::model::ContentInfo as Content;
use iotc_sdk::{CommandParseError, Commands, Interface};
use serde::Serialize;
use serde_json::{json, Value};
use time::macros::datetime;

/// The names of the contents of `kind` ("Telemetry", "Property", "Command") in interface `I`.
fn names<I: Interface>(kind: &str) -> BTreeSet<String> {
    I::interface()
        .contents
        .iter()
        .filter(|c| c.kind() == kind)
        .map(|c| c.name().to_owned())
        .collect()
}

/// The keys of `value` serialized as a JSON object.
fn keys(value: &impl Serialize) -> BTreeSet<String> {
    match serde_json::to_value(value).unwrap() {
        Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn thermostat_wire_names_are_the_model_names() {
    let telemetry = ThermostatTelemetry { temperature: 21.5 };
    assert_eq!(keys(&telemetry), names::<Thermostat>("Telemetry"));
    let properties = ThermostatProperties {
        target_temperature: Some(22.0),
        max_temp_since_last_reboot: 30.5,
    };
    assert_eq!(keys(&properties), names::<Thermostat>("Property"));
    assert_eq!(
        names::<Thermostat>("Command"),
        BTreeSet::from(["getMaxMinReport".to_owned()])
    );
}

#[test]
fn thermostat_values_on_the_wire() {
    assert_eq!(
        serde_json::to_value(ThermostatTelemetry { temperature: 21.5 }).unwrap(),
        json!({"temperature": 21.5})
    );
    // A writable property left `None` is not reported.
    let properties = ThermostatProperties {
        target_temperature: None,
        max_temp_since_last_reboot: 30.5,
    };
    assert_eq!(
        serde_json::to_value(&properties).unwrap(),
        json!({"maxTempSinceLastReboot": 30.5})
    );
    // A desired-properties patch reads back into the same struct.
    let desired: ThermostatProperties =
        serde_json::from_value(json!({"targetTemperature": 23.5, "maxTempSinceLastReboot": 0.0}))
            .unwrap();
    assert_eq!(desired.target_temperature, Some(23.5));
    let report = MaxMinReport {
        max_temp: 30.0,
        min_temp: 10.0,
        avg_temp: 20.0,
        start_time: datetime!(2021-01-05 08:00:00 UTC),
        end_time: datetime!(2021-01-05 09:30:00 UTC),
    };
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({
            "maxTemp": 30.0,
            "minTemp": 10.0,
            "avgTemp": 20.0,
            "startTime": "2021-01-05T08:00:00Z",
            "endTime": "2021-01-05T09:30:00Z"
        })
    );
}

#[test]
fn thermostat_command_requests_parse() {
    assert_eq!(
        ThermostatCommand::parse("getMaxMinReport", br#""2021-01-05T08:00:00Z""#).unwrap(),
        ThermostatCommand::GetMaxMinReport(datetime!(2021-01-05 08:00:00 UTC))
    );
    assert!(matches!(
        ThermostatCommand::parse("getMaxMinReport", b"42"),
        Err(CommandParseError::InvalidRequest { .. })
    ));
    assert!(matches!(
        ThermostatCommand::parse("getMaxMinReport", b""),
        Err(CommandParseError::InvalidRequest { .. })
    ));
    assert!(matches!(
        ThermostatCommand::parse("reboot", b"5"),
        Err(CommandParseError::Unknown(name)) if name == "reboot"
    ));
}

#[test]
fn temperature_controller_wire_names_and_commands() {
    let telemetry = TemperatureControllerTelemetry {
        working_set: 1024.0,
    };
    assert_eq!(
        keys(&telemetry),
        names::<TemperatureController>("Telemetry")
    );
    let properties = TemperatureControllerProperties {
        serial_number: "SN-1".into(),
    };
    assert_eq!(
        keys(&properties),
        names::<TemperatureController>("Property")
    );
    assert_eq!(
        TemperatureControllerCommand::parse("reboot", b"5").unwrap(),
        TemperatureControllerCommand::Reboot(5)
    );
    assert!(matches!(
        TemperatureControllerCommand::parse("reboot", br#""soon""#),
        Err(CommandParseError::InvalidRequest { .. })
    ));
    let components: Vec<String> = TemperatureController::interface()
        .contents
        .iter()
        .filter(|c| matches!(c, Content::Component(_)))
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(
        components,
        ["thermostat1", "thermostat2", "deviceInformation"]
    );
}

#[test]
fn device_information_wire_names_are_the_model_names() {
    let properties = DeviceInformationProperties {
        manufacturer: "Contoso".into(),
        model: "Surface Book 2".into(),
        sw_version: "1.3.45".into(),
        os_name: "Linux".into(),
        processor_architecture: "x64".into(),
        processor_manufacturer: "Intel".into(),
        total_storage: 2_048_000.0,
        total_memory: 256_000.0,
    };
    assert_eq!(keys(&properties), names::<DeviceInformation>("Property"));
    assert!(names::<DeviceInformation>("Telemetry").is_empty());
    assert!(names::<DeviceInformation>("Command").is_empty());
}
