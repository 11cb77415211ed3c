use std::time::Duration;

use iotc_emulator::ServiceError;
use iotc_sdk::Event;
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

#[tokio::test]
async fn command_round_trip_with_component_name() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "cmd-01").await;

    let responder = {
        let device = device.clone();
        tokio::spawn(async move {
            for _ in 0..2 {
                let Some(Event::Command(command)) = device.next_event().await else {
                    panic!("expected a command")
                };
                let since: String = command.payload_json().unwrap();
                let body = json!({"name": command.name(), "component": command.component(), "since": since});
                command.respond(200, &body).await.unwrap();
            }
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(
            "cmd-01",
            "getMaxMinReport",
            json!("2024-01-01T00:00:00Z"),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.payload,
        json!({"name": "getMaxMinReport", "component": null, "since": "2024-01-01T00:00:00Z"})
    );

    let response = within(
        "invoke",
        emulator.invoke_command(
            "cmd-01",
            "thermostat1*getMaxMinReport",
            json!("x"),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        response.payload,
        json!({"name": "getMaxMinReport", "component": "thermostat1", "since": "x"})
    );
    within("responder", responder).await.unwrap();
}

#[tokio::test]
async fn a_command_nobody_handles_gets_an_error_status() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "cmd-02").await;
    let dropper = {
        let device = device.clone();
        tokio::spawn(async move {
            let Some(Event::Command(command)) = device.next_event().await else {
                panic!("expected a command")
            };
            drop(command);
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command("cmd-02", "reboot", json!(null), Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 501);
    within("dropper", dropper).await.unwrap();
}

#[tokio::test]
async fn commands_to_an_offline_device_fail_at_once_and_unanswered_ones_time_out() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "cmd-03").await;

    // Connected but the application never reads events: the command stays unanswered.
    let result = within(
        "invoke",
        emulator.invoke_command("cmd-03", "reboot", json!({}), Duration::from_millis(300)),
    )
    .await;
    assert!(matches!(result, Err(ServiceError::Timeout)), "{result:?}");

    within("close", device.close()).await.unwrap();
    wait_disconnected(&emulator, "cmd-03").await;
    let result = within(
        "invoke",
        emulator.invoke_command("cmd-03", "reboot", json!({}), Duration::from_secs(5)),
    )
    .await;
    assert!(
        matches!(result, Err(ServiceError::DeviceNotOnline(_))),
        "{result:?}"
    );
}
