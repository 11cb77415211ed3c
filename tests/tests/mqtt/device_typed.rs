//! The typed API over a model written with the derives: what the device sends fits the template
//! the same model generates, so the emulator records no unmodeled data.

use std::time::Duration;

use iotc_sdk::device::Response;
use iotc_sdk::{Commands, DtdlSchema, Event, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

#[derive(Serialize, Telemetry)]
struct SensorTelemetry {
    #[iotc(semantic_type = "Temperature", unit = "degreeCelsius")]
    temperature: f64,
    mode: Mode,
}

#[derive(Serialize, Deserialize, DtdlSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Heating,
    Idle,
}

#[derive(Serialize, Deserialize, Default, Properties)]
#[serde(rename_all = "camelCase")]
struct SensorProperties {
    #[iotc(writable, semantic_type = "Temperature", unit = "degreeCelsius")]
    #[serde(skip_serializing_if = "Option::is_none")]
    target_temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
}

#[derive(Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct Report {
    max_temp: f64,
    samples: i64,
}

#[derive(Commands, Debug)]
enum SensorCommand {
    #[iotc(response(name = "report", schema = Report))]
    GetReport(i32),
    Reset,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:iotctests:Sensor;1", display_name = "Sensor")]
#[iotc(telemetry = SensorTelemetry, properties = SensorProperties, commands = SensorCommand)]
struct Sensor;

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:iotctests:Hub;1")]
#[iotc(component(name = "left", schema = Sensor))]
#[iotc(component(name = "right", schema = Sensor))]
struct SensorHub;

#[tokio::test]
async fn typed_telemetry_properties_and_commands_fit_the_generated_template() {
    let emulator = emulator().await;
    let models: Vec<_> = SensorHub::interfaces()
        .iter()
        .map(|i| i.to_json_pretty())
        .collect();
    assert_eq!(models.len(), 2, "the hub and its one component interface");
    let document = format!("[{}]", models.join(","));
    assert_eq!(emulator.add_template(&document).unwrap(), SensorHub::ID);

    let device = within(
        "connect",
        builder(&emulator, MQTT, "typed-01")
            .model::<SensorHub>()
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    let left = device.component(SensorHub::LEFT);
    let right = device.component(SensorHub::RIGHT);

    within(
        "send",
        left.send(&SensorTelemetry {
            temperature: 20.5,
            mode: Mode::Heating,
        }),
    )
    .await
    .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.component.as_deref(), Some("left"));
    assert_eq!(
        message.body_json().unwrap(),
        json!({"temperature": 20.5, "mode": "heating"})
    );

    let version = within(
        "report",
        right.report(&SensorProperties {
            serial_number: Some("SN-2".into()),
            ..SensorProperties::default()
        }),
    )
    .await
    .unwrap();
    assert!(version > 0);
    assert_eq!(
        emulator.twin("typed-01").unwrap().reported["right"],
        json!({"__t": "c", "serialNumber": "SN-2"})
    );

    // A writable property set on one component reaches that component's typed view only.
    within(
        "patch",
        emulator.update_desired(
            "typed-01",
            json!({"right": {"__t": "c", "targetTemperature": 18.0}}),
        ),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert_eq!(
        right.writable(&update).unwrap().target_temperature,
        Some(18.0)
    );
    assert_eq!(left.writable(&update).unwrap().target_temperature, None);
    for property in update.properties() {
        within("ack", device.acknowledge(property, 200, Some("applied")))
            .await
            .unwrap();
    }

    // Commands: parsed into the enum, answered with the typed response; unknown → 404,
    // bad request → 400, without calling the handler.
    let handler = {
        let device = device.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                let Some(Event::Command(command)) = device.next_event().await else {
                    panic!("expected a command")
                };
                assert_eq!(command.component(), Some("left"));
                command
                    .handle(|request: SensorCommand| async move {
                        match request {
                            SensorCommand::GetReport(n) => Response::ok(&Report {
                                max_temp: 21.0,
                                samples: i64::from(n),
                            }),
                            SensorCommand::Reset => Response::empty(200),
                        }
                    })
                    .await
                    .unwrap();
            }
        })
    };
    let invoke = |name: &'static str, payload| {
        emulator.invoke_command("typed-01", name, payload, Duration::from_secs(5))
    };
    let ok = within("invoke", invoke("left*getReport", json!(7)))
        .await
        .unwrap();
    assert_eq!(
        (ok.status, ok.payload),
        (200, json!({"maxTemp": 21.0, "samples": 7}))
    );
    let unknown = within("invoke", invoke("left*selfDestruct", json!(null)))
        .await
        .unwrap();
    assert_eq!(unknown.status, 404);
    let bad = within("invoke", invoke("left*getReport", json!("seven")))
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.payload["error"].as_str().unwrap().contains("getReport"),
        "{}",
        bad.payload
    );
    within("handler", handler).await.unwrap();

    // Everything that fit the model: nothing unmodeled (error answers are not checked).
    let unmodeled = emulator.unmodeled("typed-01");
    assert!(unmodeled.is_empty(), "{unmodeled:#?}");
}

#[tokio::test]
async fn a_typed_component_acknowledges_its_part_of_an_update_in_one_patch() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "typed-ack-01").await;
    let version = within(
        "patch",
        emulator.update_desired(
            "typed-ack-01",
            json!({"left": {"__t": "c", "targetTemperature": 30.0},
                   "right": {"__t": "c", "targetTemperature": 12.0}}),
        ),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    let left = device.component(SensorHub::LEFT);
    let wanted = left.writable(&update).unwrap();
    assert_eq!(wanted.target_temperature, Some(30.0));
    // The device clamps to 28 and acknowledges what it applied; `right` is left alone.
    let applied = SensorProperties {
        target_temperature: Some(28.0),
        serial_number: None,
    };
    within(
        "ack",
        left.acknowledge(&update, &applied, 200, Some("clamped")),
    )
    .await
    .unwrap();
    let twin = emulator.twin("typed-ack-01").unwrap();
    assert_eq!(
        twin.reported["left"],
        json!({"__t": "c", "targetTemperature": {"value": 28.0, "ac": 200, "av": version, "ad": "clamped"}})
    );
    assert!(twin.reported.get("right").is_none(), "{:?}", twin.reported);
}
