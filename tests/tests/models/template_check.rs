//! Hand-written devices checked against their templates with `model::differences`, using the
//! derive attributes for what real templates hold: `@id`s, comments, localized strings,
//! interface `schemas` referenced by DTMI, `extends`, IoT Central co-types and context, map
//! key/value names, typed payloads and enum values, `commandType`, undefined properties, and
//! descriptions only where the template has them (`docs = false`).

use std::collections::BTreeMap;

use iotc_sdk::model;
use iotc_sdk::{Commands, DtdlSchema, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};
use serde_repr::{Deserialize_repr, Serialize_repr};

/// `dmr-sample/dtmi/renesas/rx/ckrx65n/led-1.json`: four writable properties whose schemas are
/// two integer Enums of the interface's `schemas`.
mod renesas_led {
    use super::*;

    /// The colour of LED 2 (a doc comment that is not part of the model: `docs = false`).
    #[derive(Clone, Copy, Debug, PartialEq, Serialize_repr, Deserialize_repr, DtdlSchema)]
    #[repr(i32)]
    #[iotc(
        docs = false,
        value_schema = "integer",
        id = "dtmi:renesas:RX:CKRX65N:led:state;1"
    )]
    pub(super) enum State {
        #[iotc(
            name = "red",
            display_name = "Red",
            description = "Red comes on.",
            comment = "Red comes on."
        )]
        Red = 1,
        #[iotc(
            name = "green",
            display_name = "Green",
            description = "Green comes on.",
            comment = "Green comes on."
        )]
        Green = 2,
        #[iotc(
            name = "blue",
            display_name = "Blue",
            description = "Blue comes on.",
            comment = "Blue comes on."
        )]
        Blue = 3,
        #[iotc(
            name = "off",
            display_name = "Off",
            description = "LED is turned Off.",
            comment = "LED is turned Off."
        )]
        Off = 4,
    }

    /// On or off.
    #[derive(Clone, Copy, Debug, PartialEq, Serialize_repr, Deserialize_repr, DtdlSchema)]
    #[repr(i32)]
    #[iotc(
        docs = false,
        value_schema = "integer",
        id = "dtmi:renesas:RX:CKRX65N:led:state2;1"
    )]
    pub(super) enum State2 {
        #[iotc(
            name = "on",
            display_name = "LED On",
            description = "LED is turned on.",
            comment = "LED is turned on."
        )]
        On = 1,
        #[iotc(
            name = "off",
            display_name = "LED Off",
            description = "LED is turned Off.",
            comment = "LED is turned Off."
        )]
        Off = 2,
    }

    /// The LEDs.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, Properties)]
    #[iotc(docs = false)]
    pub(super) struct LedProperties {
        /// LED 2.
        #[iotc(writable, id = "dtmi:renesas:RX:CKRX65N:led:led2;1")]
        #[iotc(comment = "Property of LED2 on CK-RX65N Board")]
        #[iotc(display_name = "LED 2 CK-RX65N Board State")]
        #[iotc(description = "Property of LED2 on CKRX65N Board")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) led2: Option<State>,
        /// LED 3.
        #[iotc(writable, id = "dtmi:renesas:RX:CKRX65N:led:led3;1")]
        #[iotc(comment = "Property of LED3 on CKRX65N Board")]
        #[iotc(display_name = "LED 3 CKRX65N Board State")]
        #[iotc(description = "Property of LED3 on CKRX65N Board")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) led3: Option<State2>,
        /// LED 4.
        #[iotc(writable, id = "dtmi:renesas:RX:CKRX65N:led:led4;1")]
        #[iotc(comment = "Property of LED4 on CKRX65N Board")]
        #[iotc(display_name = "LED 4 CKRX65N Board State")]
        #[iotc(description = "Property of LED4 on CKRX65N Board")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) led4: Option<State2>,
        /// LED 6.
        #[iotc(writable, id = "dtmi:renesas:RX:CKRX65N:led:led6;6")]
        #[iotc(comment = "Property of LED6 on CK-RX65N Board")]
        #[iotc(display_name = "LED 6 CK-RX65N Board State")]
        #[iotc(description = "Property of LED6 on CK-RX65N Board")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) led6: Option<State2>,
    }

    /// The LED board.
    #[derive(Interface)]
    #[iotc(id = "dtmi:renesas:RX:CKRX65N:led;1", docs = false)]
    #[iotc(display_name = "LED on CK-RX65N Board")]
    #[iotc(description = "Description for LED on CK-RX65N Board")]
    #[iotc(properties = LedProperties, schemas(State, State2))]
    pub(super) struct Led;
}

#[test]
fn a_hand_written_device_matches_its_real_template() {
    let path =
        crate::dtdl_files::shared_models().join("dmr-sample/dtmi/renesas/rx/ckrx65n/led-1.json");
    let template = std::fs::read_to_string(&path).unwrap();
    let found = model::differences(&renesas_led::Led::interfaces(), &template).unwrap();
    let listed: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));
    let exported = renesas_led::Led::interface();
    assert!(matches!(
        &exported.contents[0],
        model::ContentInfo::Property(p) if p.schema == model::Schema::Ref("dtmi:renesas:RX:CKRX65N:led:state;1".into())
    ));
}

/// Everything else the derives can now say, in one interface.
mod rich {
    use super::*;

    #[derive(Clone, Debug, Serialize, Deserialize, DtdlSchema)]
    #[iotc(docs = false)]
    pub(super) struct Reading {
        #[iotc(id = "dtmi:contoso:rich:reading:value;1", comment = "raw")]
        #[iotc(display_name = "Value", display_name("de" = "Wert"))]
        pub(super) value: f64,
    }

    #[derive(Serialize, Telemetry)]
    #[iotc(docs = false)]
    pub(super) struct RichTelemetry {
        #[iotc(co_type = "Event", display_name("de" = "Alarm", "ja" = "アラーム"))]
        pub(super) alarm: String,
        #[iotc(co_type = "Location")]
        pub(super) position: iotc_sdk_geopoint::GeoPoint,
        #[iotc(
            co_type = "NumberValue",
            semantic_type = "Temperature",
            unit = "degreeCelsius"
        )]
        #[iotc(undefined("minValue" = "-40", "displayUnit" = "{\"en\": \"°C\"}"))]
        pub(super) temperature: f64,
    }

    #[derive(Serialize, Deserialize, Default, Properties)]
    pub(super) struct RichProperties {
        #[iotc(writable, map_key = "sensor", map_value = "reading")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) readings: Option<BTreeMap<String, Reading>>,
    }

    #[derive(Commands)]
    #[iotc(docs = false)]
    pub(super) enum RichCommands {
        #[iotc(command_type = "synchronous", id = "dtmi:contoso:rich:go;1")]
        #[iotc(request(name = "speed", typed, comment = "m/s", display_name("de" = "Tempo")))]
        Go(#[allow(dead_code)] f64),
    }

    /// Not a description: `docs = false`.
    #[derive(Interface)]
    #[iotc(
        id = "dtmi:contoso:rich;1",
        docs = false,
        iotcentral,
        extends = "dtmi:contoso:base;1"
    )]
    #[iotc(display_name = "Rich", display_name("de" = "Reich"), comment = "all of it")]
    #[iotc(telemetry = RichTelemetry, properties = RichProperties, commands = RichCommands)]
    pub(super) struct Rich;
}

/// A `geopoint` value for the test (what a generated device would use).
mod iotc_sdk_geopoint {
    use super::*;

    /// `{"lat": .., "lon": .., "alt": ..}`.
    #[derive(Serialize)]
    pub(super) struct GeoPoint {
        pub(super) lat: f64,
        pub(super) lon: f64,
    }

    impl iotc_sdk::DtdlSchema for GeoPoint {
        fn schema() -> model::Schema {
            model::Schema::GeoPoint
        }
    }
}

#[test]
fn the_derives_say_what_real_templates_hold() {
    let template = r#"{
      "@context": ["dtmi:dtdl:context;2", "dtmi:iotcentral:context;2"],
      "@id": "dtmi:contoso:rich;1", "@type": "Interface",
      "displayName": {"en": "Rich", "de": "Reich"}, "comment": "all of it",
      "extends": "dtmi:contoso:base;1",
      "contents": [
        {"@type": ["Telemetry", "Event"], "name": "alarm", "schema": "string",
         "displayName": {"de": "Alarm", "ja": "アラーム"}},
        {"@type": ["Telemetry", "Location"], "name": "position", "schema": "geopoint"},
        {"@type": ["Telemetry", "NumberValue", "Temperature"], "name": "temperature",
         "schema": "double", "unit": "degreeCelsius", "minValue": -40,
         "displayUnit": {"en": "°C"}},
        {"@type": "Property", "name": "readings", "writable": true, "schema": {
          "@type": "Map", "mapKey": {"name": "sensor", "schema": "string"},
          "mapValue": {"name": "reading", "schema": {"@type": "Object", "fields": [
            {"@id": "dtmi:contoso:rich:reading:value;1", "name": "value", "schema": "double",
             "comment": "raw", "displayName": {"en": "Value", "de": "Wert"}}]}}}},
        {"@type": "Command", "@id": "dtmi:contoso:rich:go;1", "name": "go",
         "commandType": "synchronous",
         "request": {"@type": "CommandPayload", "name": "speed", "schema": "double",
                     "comment": "m/s", "displayName": {"de": "Tempo"}}}
      ]
    }"#;
    let found = model::differences(&[rich::Rich::interface()], template).unwrap();
    let listed: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));

    // And a difference is named precisely.
    let changed = template.replace(r#""name": "sensor""#, r#""name": "probe""#);
    let found = model::differences(&[rich::Rich::interface()], &changed).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].path,
        "dtmi:contoso:rich;1/contents/readings/schema/mapKey/name"
    );
}

/// `#[iotc_sdk::skip_none]`: the `None` fields of a properties patch are left out.
#[test]
fn skip_none_leaves_out_unset_values() {
    #[iotc_sdk::skip_none]
    #[derive(Serialize, Default, Properties)]
    struct Settings {
        #[iotc(writable)]
        target: Option<f64>,
        mode: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", rename = "keptName")]
        kept: Option<i32>,
    }
    let patch = Settings {
        target: Some(21.5),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        serde_json::json!({"target": 21.5})
    );
    let names: Vec<String> = <Settings as Properties>::properties()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["target", "mode", "keptName"]);
}
