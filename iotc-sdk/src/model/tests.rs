//! The model types against the official Plug and Play models (`dtmi:com:example:Thermostat;1`,
//! `dtmi:com:example:TemperatureController;1`), built by hand and derived.

use serde_json::{json, Value};

use super::*;

/// `dtmi/com/example/thermostat-1.json` from Azure/iot-plugandplay-models.
fn official_thermostat() -> Value {
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
}

fn field(name: &str, display_name: &str, schema: Schema) -> Field {
    Field {
        display_name: Some(display_name.into()),
        ..Field::new(name, schema)
    }
}

fn hand_written_thermostat() -> InterfaceInfo {
    let report = Schema::object(vec![
        field("maxTemp", "Max temperature", Schema::Double),
        field("minTemp", "Min temperature", Schema::Double),
        field("avgTemp", "Average Temperature", Schema::Double),
        field("startTime", "Start Time", Schema::DateTime),
        field("endTime", "End Time", Schema::DateTime),
    ]);
    InterfaceInfo::new("dtmi:com:example:Thermostat;1")
        .with_display_name("Thermostat")
        .with_description("Reports current temperature and provides desired temperature control.")
        .with_content(
            TelemetryInfo::new("temperature", Schema::Double)
                .with_semantic_type("Temperature", "degreeCelsius")
                .with_display_name("Temperature")
                .with_description("Temperature in degrees Celsius."),
        )
        .with_content(
            PropertyInfo::new("targetTemperature", Schema::Double)
                .with_semantic_type("Temperature", "degreeCelsius")
                .with_display_name("Target Temperature")
                .with_description("Allows to remotely specify the desired target temperature.")
                .writable(),
        )
        .with_content(
            PropertyInfo::new("maxTempSinceLastReboot", Schema::Double)
                .with_semantic_type("Temperature", "degreeCelsius")
                .with_display_name("Max temperature since last reboot.")
                .with_description("Returns the max temperature since last device reboot."),
        )
        .with_content(
            CommandInfo::new("getMaxMinReport")
                .with_display_name("Get Max-Min report.")
                .with_description(
                    "This command returns the max, min and average temperature from the \
                     specified time to the current time.",
                )
                .with_request(
                    CommandPayloadInfo::new("since", Schema::DateTime)
                        .with_display_name("Since")
                        .with_description("Period to return the max-min report."),
                )
                .with_response(
                    CommandPayloadInfo::new("tempReport", report)
                        .with_display_name("Temperature Report"),
                ),
        )
}

fn to_value(interface: &InterfaceInfo) -> Value {
    serde_json::from_str(&interface.to_json_pretty()).unwrap()
}

#[test]
fn hand_written_thermostat_matches_the_official_model() {
    let thermostat = hand_written_thermostat();
    assert_eq!(thermostat.validate(), Ok(()));
    assert_eq!(to_value(&thermostat), official_thermostat());
}

#[test]
fn json_shape() {
    let json = hand_written_thermostat().to_json_pretty();
    // `@context` first, `@type` a plain string without semantic type, `writable` only when true.
    assert!(json.starts_with("{\n  \"@context\": \"dtmi:dtdl:context;2\",\n  \"@id\""));
    let value = to_value(&hand_written_thermostat());
    assert_eq!(value["contents"][3]["@type"], "Command");
    assert!(value["contents"][2].get("writable").is_none());
    assert!(value["contents"][3].get("comment").is_none());
    assert!(value["contents"][0].get("@context").is_none());
}

#[test]
fn complex_schemas_serialize_to_dtdl() {
    let mut map = MapSchema::new(Schema::array(Schema::Integer));
    map.key.name = "sensor".to_owned();
    map.value.name = "readings".to_owned();
    let schema = Schema::Map(Box::new(map));
    assert_eq!(
        serde_json::to_value(&schema).unwrap(),
        json!({
            "@type": "Map",
            "mapKey": { "name": "sensor", "schema": "string" },
            "mapValue": {
                "name": "readings",
                "schema": { "@type": "Array", "elementSchema": "integer" }
            }
        })
    );
    let mut enumeration = EnumSchema::new(
        EnumValueSchema::Integer,
        vec![
            EnumValue::new("Low", EnumValueKind::Integer(1)),
            EnumValue {
                display_name: Some("High".into()),
                ..EnumValue::new("High", EnumValueKind::Integer(2))
            },
        ],
    );
    enumeration.description = Some("Level".into());
    assert_eq!(
        serde_json::to_value(Schema::Enum(enumeration)).unwrap(),
        json!({
            "@type": "Enum",
            "valueSchema": "integer",
            "enumValues": [
                { "name": "Low", "enumValue": 1 },
                { "name": "High", "enumValue": 2, "displayName": "High" }
            ],
            "description": "Level"
        })
    );
    for (schema, text) in [
        (Schema::Boolean, "boolean"),
        (Schema::Date, "date"),
        (Schema::DateTime, "dateTime"),
        (Schema::Double, "double"),
        (Schema::Duration, "duration"),
        (Schema::Float, "float"),
        (Schema::Integer, "integer"),
        (Schema::Long, "long"),
        (Schema::String, "string"),
        (Schema::Time, "time"),
    ] {
        assert_eq!(serde_json::to_value(&schema).unwrap(), json!(text));
    }
}

#[test]
fn components_and_export() {
    let controller = InterfaceInfo::new("dtmi:com:example:TemperatureController;1").with_content(
        ComponentInfo::new("thermostat1", "dtmi:com:example:Thermostat;1")
            .with_display_name("Thermostat One"),
    );
    let document: Value =
        serde_json::from_str(&export(&[controller, hand_written_thermostat()])).unwrap();
    assert_eq!(
        document[0]["contents"][0],
        json!({
            "@type": "Component",
            "name": "thermostat1",
            "schema": "dtmi:com:example:Thermostat;1",
            "displayName": "Thermostat One"
        })
    );
    assert_eq!(document[1], official_thermostat());
}

#[test]
fn validate_reports_every_broken_rule() {
    let deep = (0..6).fold(Schema::Double, |schema, _| Schema::array(schema));
    let mut interface = InterfaceInfo::new("dtmi:com:example:Bad;1.2")
        .with_content(TelemetryInfo::new("temp", Schema::Double))
        .with_content(PropertyInfo::new("temp", Schema::array(Schema::Double)))
        .with_content(TelemetryInfo::new("_hidden", Schema::String))
        .with_content(TelemetryInfo {
            unit: Some("degreeCelsius".to_owned()),
            ..TelemetryInfo::new("noSemanticType", Schema::Double)
        })
        .with_content(
            TelemetryInfo::new("label", Schema::String).with_semantic_type("Temperature", "kelvin"),
        )
        .with_content(TelemetryInfo::new("deep", deep))
        .with_content(TelemetryInfo::new("empty", Schema::object(Vec::new())))
        .with_content(TelemetryInfo::new(
            "badEnum",
            Schema::Enum(EnumSchema::new(
                EnumValueSchema::String,
                vec![
                    EnumValue::new("a", EnumValueKind::String("x".to_owned())),
                    EnumValue::new("b", EnumValueKind::String("x".to_owned())),
                    EnumValue::new("c", EnumValueKind::Integer(1)),
                ],
            )),
        ))
        .with_content(ComponentInfo::new("sub", "not a dtmi"));
    interface.display_name = Some("x".repeat(65).into());
    let errors = interface.validate().unwrap_err();
    let expect = [
        "@id: `dtmi:com:example:Bad;1.2`: DTDL v2 needs a one-part version",
        "interface: displayName is longer than 64",
        "contents[1] (temp): duplicate name",
        "contents[1] (temp): DTDL v2 does not allow an Array",
        "contents[2] (_hidden): invalid name",
        "contents[3] (noSemanticType): unit `degreeCelsius` requires a semantic type",
        "contents[4] (label): semantic type `Temperature` requires a numeric schema",
        "contents[5] (deep): complex schemas are nested more than 5",
        "contents[6] (empty): an Object needs 1 to 30 fields, not 0",
        "contents[7] (badEnum).enumValues (b): duplicate enumValue",
        "contents[7] (badEnum).enumValues (c): enumValue does not match",
        "contents[8] (sub): schema: invalid model id `not a dtmi`",
    ];
    for expected in expect {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "missing {expected:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
}

#[test]
fn validate_limits() {
    let many = (0..301).fold(InterfaceInfo::new("dtmi:com:example:Big;1"), |i, n| {
        i.with_content(TelemetryInfo::new(format!("t{n}"), Schema::Double))
    });
    assert!(many.validate().unwrap_err()[0].contains("at most 300 contents"));
    let fields = (0..31)
        .map(|n| Field::new(format!("f{n}"), Schema::Double))
        .collect();
    let wide = InterfaceInfo::new("dtmi:com:example:Wide;1")
        .with_content(TelemetryInfo::new("wide", Schema::object(fields)));
    assert!(wide.validate().unwrap_err()[0].contains("1 to 30 fields, not 31"));
    let five = (0..5).fold(Schema::Double, |schema, _| Schema::array(schema));
    let ok = InterfaceInfo::new("dtmi:com:example:Deep;1")
        .with_content(TelemetryInfo::new("deep", five));
    assert_eq!(ok.validate(), Ok(()));
    let reserved = InterfaceInfo::new("dtmi:dtdl:Foo;1")
        .validate()
        .unwrap_err();
    assert!(reserved[0].contains("reserved"), "{reserved:?}");
}

#[cfg(feature = "derive")]
mod derived {
    //! The derives, used inside this crate through `#[iotc(crate = "crate")]`.

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::Interface as _;

    #[derive(Serialize, crate::Telemetry)]
    #[iotc(crate = "crate")]
    struct ThermostatTelemetry {
        /// Temperature in degrees Celsius.
        #[iotc(
            semantic_type = "Temperature",
            unit = "degreeCelsius",
            display_name = "Temperature"
        )]
        temperature: f64,
    }

    #[derive(Serialize, Deserialize, Default, crate::Properties)]
    #[serde(rename_all = "camelCase")]
    #[iotc(crate = "crate")]
    struct ThermostatProperties {
        /// Allows to remotely specify the desired target temperature.
        #[iotc(
            writable,
            semantic_type = "Temperature",
            unit = "degreeCelsius",
            display_name = "Target Temperature"
        )]
        #[serde(skip_serializing_if = "Option::is_none")]
        target_temperature: Option<f64>,
        /// Returns the max temperature since last device reboot.
        #[iotc(
            semantic_type = "Temperature",
            unit = "degreeCelsius",
            display_name = "Max temperature since last reboot."
        )]
        #[serde(skip_serializing_if = "Option::is_none")]
        max_temp_since_last_reboot: Option<f64>,
        #[serde(skip)]
        #[allow(dead_code)]
        local_only: u64,
    }

    #[derive(Serialize, Deserialize, crate::DtdlSchema)]
    #[serde(rename_all = "camelCase")]
    #[iotc(crate = "crate")]
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

    #[derive(Debug, PartialEq, crate::Commands)]
    #[iotc(crate = "crate")]
    enum ThermostatCommand {
        /// This command returns the max, min and average temperature from the specified time
        /// to the current time.
        #[iotc(display_name = "Get Max-Min report.")]
        #[iotc(request(
            name = "since",
            display_name = "Since",
            description = "Period to return the max-min report.",
            with = "time::serde::rfc3339"
        ))]
        #[iotc(response(
            name = "tempReport",
            schema = MaxMinReport,
            display_name = "Temperature Report"
        ))]
        GetMaxMinReport(time::OffsetDateTime),
        Reboot,
        #[iotc(name = "setLevel")]
        Level(Option<i32>),
    }

    /// Reports current temperature and provides desired temperature control.
    #[derive(crate::Interface)]
    #[iotc(
        crate = "crate",
        id = "dtmi:com:example:Thermostat;1",
        display_name = "Thermostat"
    )]
    #[iotc(
        telemetry = ThermostatTelemetry,
        properties = ThermostatProperties,
        commands = ThermostatCommand
    )]
    struct Thermostat;

    #[derive(crate::Interface)]
    #[iotc(crate = "crate", id = "dtmi:com:example:Empty;1")]
    struct Empty;

    #[derive(crate::Interface)]
    #[iotc(crate = "crate", id = "dtmi:com:example:TemperatureController;1")]
    #[iotc(component(name = "thermostat1", schema = Thermostat, display_name = "Thermostat One"))]
    #[iotc(component(name = "thermostat2", schema = Thermostat))]
    #[iotc(component(name = "deviceInformation", schema = Empty))]
    struct TemperatureController;

    #[test]
    fn derived_thermostat_matches_the_official_model() {
        let mut expected = official_thermostat();
        // Differences by design: the extra `reboot` and `setLevel` commands of this test.
        let contents = expected["contents"].as_array_mut().unwrap();
        contents.push(json!({ "@type": "Command", "name": "reboot" }));
        contents.push(json!({
            "@type": "Command",
            "name": "setLevel",
            "request": { "name": "request", "schema": "integer" }
        }));
        let interface = Thermostat::interface();
        assert_eq!(interface.validate(), Ok(()));
        assert_eq!(to_value(&interface), expected);
        assert_eq!(<Thermostat as crate::Interface>::ID, interface.id);
        const { assert!(!<Thermostat as crate::Interface>::HAS_COMPONENTS) };
    }

    #[test]
    fn components() {
        const { assert!(<TemperatureController as crate::Interface>::HAS_COMPONENTS) };
        assert_eq!(TemperatureController::THERMOSTAT1.name(), "thermostat1");
        assert_eq!(TemperatureController::THERMOSTAT2.name(), "thermostat2");
        assert_eq!(
            TemperatureController::DEVICE_INFORMATION.name(),
            "deviceInformation"
        );
        let interfaces = TemperatureController::interfaces();
        let ids: Vec<&str> = interfaces.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "dtmi:com:example:TemperatureController;1",
                "dtmi:com:example:Thermostat;1",
                "dtmi:com:example:Empty;1"
            ]
        );
        let root = to_value(&interfaces[0]);
        assert_eq!(
            root["contents"][0],
            json!({
                "@type": "Component",
                "name": "thermostat1",
                "schema": "dtmi:com:example:Thermostat;1",
                "displayName": "Thermostat One"
            })
        );
    }

    #[test]
    fn parse_commands() {
        let since = time::macros::datetime!(2021-01-05 08:00 UTC);
        assert_eq!(
            ThermostatCommand::parse("getMaxMinReport", br#""2021-01-05T08:00:00Z""#).unwrap(),
            ThermostatCommand::GetMaxMinReport(since)
        );
        assert_eq!(
            ThermostatCommand::parse("reboot", b"").unwrap(),
            ThermostatCommand::Reboot
        );
        assert_eq!(
            ThermostatCommand::parse("reboot", b"{\"delay\": 5}").unwrap(),
            ThermostatCommand::Reboot
        );
        assert_eq!(
            ThermostatCommand::parse("setLevel", b"").unwrap(),
            ThermostatCommand::Level(None)
        );
        assert_eq!(
            ThermostatCommand::parse("setLevel", b" 7 ").unwrap(),
            ThermostatCommand::Level(Some(7))
        );
        let unknown = ThermostatCommand::parse("Reboot", b"").unwrap_err();
        assert!(matches!(&unknown, CommandParseError::Unknown(name) if name == "Reboot"));
        assert_eq!(unknown.to_string(), "unknown command `Reboot`");
        let invalid = ThermostatCommand::parse("getMaxMinReport", b"42").unwrap_err();
        assert!(
            matches!(&invalid, CommandParseError::InvalidRequest { command, .. } if command == "getMaxMinReport"),
            "{invalid:?}"
        );
        let trailing = ThermostatCommand::parse("getMaxMinReport", br#""2021-01-05T08:00:00Z" x"#);
        assert!(trailing.is_err());
        assert!(matches!(
            NoCommands::parse("anything", b""),
            Err(CommandParseError::Unknown(_))
        ));
    }

    #[test]
    fn telemetry_serializes_to_the_wire_names() {
        let props = ThermostatProperties {
            target_temperature: Some(21.5),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&props).unwrap(),
            json!({ "targetTemperature": 21.5 })
        );
        assert_eq!(
            serde_json::to_value(ThermostatTelemetry { temperature: 1.0 }).unwrap(),
            json!({ "temperature": 1.0 })
        );
    }
}
