use std::time::Duration;

use iotc_emulator::UnmodeledKind;
use iotc_sdk::{Event, Message};
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

/// The official Thermostat model, as IoT Central would hold it.
const THERMOSTAT_MODEL: &str = r#"{
  "@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface",
  "contents": [
    {"@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double", "unit": "degreeCelsius"},
    {"@type": ["Property", "Temperature"], "name": "targetTemperature", "schema": "double", "unit": "degreeCelsius", "writable": true},
    {"@type": ["Property", "Temperature"], "name": "maxTempSinceLastReboot", "schema": "double", "unit": "degreeCelsius"},
    {"@type": "Command", "name": "getMaxMinReport",
     "request": {"name": "since", "schema": "dateTime"},
     "response": {"name": "tempReport", "schema": {"@type": "Object", "fields": [
       {"name": "maxTemp", "schema": "double"}, {"name": "minTemp", "schema": "double"},
       {"name": "avgTemp", "schema": "double"}, {"name": "startTime", "schema": "dateTime"},
       {"name": "endTime", "schema": "dateTime"}]}}}
  ]
}"#;

#[tokio::test]
async fn data_outside_the_template_is_recorded_as_unmodeled() {
    let emulator = emulator().await;
    assert_eq!(emulator.add_template(THERMOSTAT_MODEL).unwrap(), THERMOSTAT);
    let mut received = emulator.telemetry();
    let device = connect(&emulator, MQTT, "template-01").await;
    let info = emulator
        .devices()
        .into_iter()
        .find(|d| d.device_id == "template-01")
        .unwrap();
    assert_eq!(info.template.as_deref(), Some(THERMOSTAT));

    // Modelled data: nothing recorded.
    within("send", device.send_telemetry(&json!({"temperature": 21.5})))
        .await
        .unwrap();
    within(
        "report",
        device.report_properties(&json!({"maxTempSinceLastReboot": 22.0})),
    )
    .await
    .unwrap();
    within("receive", received.recv()).await.unwrap();
    assert!(
        emulator.unmodeled("template-01").is_empty(),
        "{:?}",
        emulator.unmodeled("template-01")
    );

    // Unmodelled telemetry (unknown name, wrong type): still delivered, and recorded.
    within(
        "send",
        device
            .send_message(Message::json(&json!({"humidity": 40, "temperature": "warm"})).unwrap()),
    )
    .await
    .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.body_json().unwrap()["humidity"], 40);
    // A property the model does not have, and a writable property reported without an ack.
    within(
        "report",
        device.report_properties(&json!({"firmware": "1.0", "targetTemperature": 20.0})),
    )
    .await
    .unwrap();

    // A command response that does not fit the response schema.
    let responder = {
        let device = device.clone();
        tokio::spawn(async move {
            let Some(Event::Command(command)) = device.next_event().await else {
                panic!("expected a command")
            };
            command
                .respond(200, &json!({"maxTemp": "hot"}))
                .await
                .unwrap();
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(
            "template-01",
            "getMaxMinReport",
            json!("2024-01-01T00:00:00Z"),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    within("responder", responder).await.unwrap();

    let unmodeled = emulator.unmodeled("template-01");
    let seen: Vec<_> = unmodeled
        .iter()
        .map(|u| (u.kind, u.name.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (UnmodeledKind::Telemetry, "humidity"),
            (UnmodeledKind::Telemetry, "temperature"),
            (UnmodeledKind::Property, "firmware"),
            (UnmodeledKind::Property, "targetTemperature"),
            (UnmodeledKind::CommandResponse, "getMaxMinReport"),
        ]
    );
    assert!(unmodeled
        .iter()
        .all(|u| u.device_id == "template-01" && !u.reason.is_empty()));
}
