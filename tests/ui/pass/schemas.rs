//! Every kind of schema the derives support, and the less common attributes.

use std::collections::{BTreeMap, HashMap};

use iotc_sdk::model::{EnumValueKind, EnumValueSchema, Schema};
use iotc_sdk::{DtdlSchema, Interface, Properties, Telemetry};
use serde::Serialize;
use serde_json::json;

/// The operating mode.
#[derive(Serialize, DtdlSchema)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Heat,
    #[iotc(display_name = "Cool down")]
    CoolDown,
    #[serde(rename = "off")]
    #[iotc(name = "Stopped")]
    Off,
    #[serde(skip)]
    #[allow(dead_code)]
    Internal,
}

#[derive(DtdlSchema)]
#[iotc(value_schema = "integer", description = "Fan level")]
#[allow(dead_code)]
enum Level {
    Low = 1,
    High = 2,
    Max, // 3
    Reverse = -1,
}

/// Celsius, sent as a bare number.
#[derive(Serialize, DtdlSchema)]
struct Celsius(f64);

#[derive(Serialize, DtdlSchema)]
#[serde(transparent)]
struct Label {
    text: String,
}

#[derive(Serialize, DtdlSchema)]
struct Pair<T> {
    first: T,
    second: T,
}

#[derive(Serialize, DtdlSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[iotc(display_name = "Location")]
struct Location {
    /// Latitude in degrees.
    lat: f64,
    #[iotc(display_name = "Longitude")]
    lon: f64,
    #[serde(skip_serializing)]
    #[allow(dead_code)]
    cache: u64,
    #[iotc(schema = String)]
    #[serde(serialize_with = "as_text")]
    raw: u64,
}

fn as_text<S: serde::Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[derive(Serialize, Telemetry)]
#[serde(rename_all = "camelCase")]
struct Readings<'a> {
    #[iotc(semantic_type = "Temperature", unit = "kelvin")]
    temp: Celsius,
    #[iotc(semantic_type = "Humidity", unit = "gramPerCubicMetre")]
    humidity: Option<f32>,
    #[iotc(semantic_type = "TimeSpan", unit = "second")]
    uptime: u32,
    label: &'a str,
    mode: Mode,
    samples: Vec<Vec<f64>>,
    by_sensor: HashMap<String, Vec<i32>>,
    location: Location,
    pair: Pair<i64>,
    tag: Label,
    #[serde(rename = "type")]
    #[iotc(schema = String)]
    kind: u64,
    r#ref: bool,
}

#[derive(Serialize, Properties)]
struct Settings {
    #[iotc(writable)]
    level: Option<Box<u8>>,
    names: BTreeMap<String, String>,
    when: time::Date,
    at: time::Time,
    every: time::Duration,
}

mod renamed {
    pub use iotc_sdk as sdk;
}

#[derive(Interface)]
#[iotc(crate = "renamed::sdk", id = "dtmi:com:example:Sensor;2", comment = "for testing")]
#[iotc(telemetry = Readings<'static>, properties = Settings)]
struct Sensor;

fn main() {
    let interface = Sensor::interface();
    assert_eq!(interface.validate(), Ok(()), "{}", interface.to_json_pretty());
    let value: serde_json::Value = serde_json::from_str(&interface.to_json_pretty()).unwrap();
    let contents = &value["contents"];
    assert_eq!(value["comment"], "for testing");
    assert_eq!(contents[0]["schema"], "double");
    assert_eq!(contents[1]["@type"], json!(["Telemetry", "Humidity"]));
    assert_eq!(contents[1]["schema"], "float");
    assert_eq!(contents[2]["schema"], "long");
    assert_eq!(contents[3]["name"], "label");
    assert_eq!(
        contents[4]["schema"],
        json!({
            "@type": "Enum",
            "valueSchema": "string",
            "enumValues": [
                { "name": "Heat", "enumValue": "heat" },
                { "name": "CoolDown", "enumValue": "cool-down", "displayName": "Cool down" },
                { "name": "Stopped", "enumValue": "off" }
            ],
            "description": "The operating mode."
        })
    );
    assert_eq!(
        contents[5]["schema"],
        json!({ "@type": "Array", "elementSchema": { "@type": "Array", "elementSchema": "double" } })
    );
    assert_eq!(contents[6]["name"], "bySensor");
    assert_eq!(contents[6]["schema"]["@type"], "Map");
    assert_eq!(
        contents[7]["schema"],
        json!({
            "@type": "Object",
            "displayName": "Location",
            "fields": [
                { "name": "LAT", "schema": "double", "description": "Latitude in degrees." },
                { "name": "LON", "schema": "double", "displayName": "Longitude" },
                { "name": "RAW", "schema": "string" }
            ]
        })
    );
    assert_eq!(contents[8]["schema"]["fields"][1], json!({ "name": "second", "schema": "long" }));
    assert_eq!(contents[9]["schema"], "string");
    assert_eq!(contents[10]["name"], "type");
    assert_eq!(contents[11]["name"], "ref");
    assert_eq!(contents[12], json!({ "@type": "Property", "name": "level", "schema": "integer", "writable": true }));
    assert_eq!(contents[14]["schema"], "date");
    assert_eq!(contents[15]["schema"], "time");
    assert_eq!(contents[16]["schema"], "duration");
    assert_eq!(value["contents"].as_array().map(Vec::len), Some(17));

    let Schema::Enum(level) = Level::schema() else { panic!("not an enum") };
    assert_eq!(level.value_schema, EnumValueSchema::Integer);
    let values: Vec<_> = level.values.iter().map(|v| (v.name.as_str(), v.value.clone())).collect();
    assert_eq!(
        values,
        [
            ("Low", EnumValueKind::Integer(1)),
            ("High", EnumValueKind::Integer(2)),
            ("Max", EnumValueKind::Integer(3)),
            ("Reverse", EnumValueKind::Integer(-1)),
        ]
    );
    assert_eq!(level.description, Some("Fan level".into()));
    assert!(<Celsius as DtdlSchema>::NUMERIC);
    assert!(!<Location as DtdlSchema>::HAS_ARRAY);
    assert!(<Pair<Vec<u8>> as DtdlSchema>::HAS_ARRAY);
    assert!(iotc_sdk::model::ContentInfo::Telemetry(iotc_sdk::model::TelemetryInfo::new("x", Schema::Long)).name() == "x");
}
