use std::collections::BTreeMap;

use iotc_emulator::C2dMessage;
use iotc_sdk::Event;

use iotc_tests::*;

use crate::MQTT;

#[tokio::test]
async fn cloud_messages_arrive_with_their_properties() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "c2d-01").await;

    let mut properties = BTreeMap::new();
    properties.insert("action".to_owned(), "reboot".to_owned());
    properties.insert("note".to_owned(), "a b&c=d".to_owned());
    let message = C2dMessage {
        body: b"{\"delay\":5}".to_vec(),
        message_id: Some("c2d-1".into()),
        correlation_id: Some("corr-1".into()),
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        properties,
    };
    within("send c2d", emulator.send_c2d("c2d-01", message))
        .await
        .unwrap();
    let Event::CloudMessage(received) = next_event(&device).await else {
        panic!("expected a cloud message")
    };
    assert_eq!(received.body(), b"{\"delay\":5}");
    assert_eq!(received.message_id(), Some("c2d-1"));
    assert_eq!(received.correlation_id(), Some("corr-1"));
    assert_eq!(received.content_type(), Some("application/json"));
    assert_eq!(received.property("action"), Some("reboot"));
    assert_eq!(received.property("note"), Some("a b&c=d"));
    assert_eq!(
        received.body_json::<serde_json::Value>().unwrap()["delay"],
        5
    );
}

#[tokio::test]
async fn cloud_messages_sent_while_offline_are_delivered_on_connect() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "c2d-02").await;
    within("close", device.close()).await.unwrap();
    wait_disconnected(&emulator, "c2d-02").await;

    within(
        "send c2d",
        emulator.send_c2d(
            "c2d-02",
            C2dMessage {
                body: b"queued".to_vec(),
                ..C2dMessage::default()
            },
        ),
    )
    .await
    .unwrap();
    let device = connect(&emulator, MQTT, "c2d-02").await;
    let Event::CloudMessage(received) = next_event(&device).await else {
        panic!("expected a cloud message")
    };
    assert_eq!(received.body(), b"queued");
}

#[tokio::test]
async fn queued_offline_commands_reach_the_command_handler() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "c2d-03").await;
    within("close", device.close()).await.unwrap();
    wait_disconnected(&emulator, "c2d-03").await;

    // What IoT Central sends for a "queue if offline" command: a C2D message with the command
    // name in `method-name` and the raw request value as the body.
    let mut properties = BTreeMap::new();
    properties.insert(
        "method-name".to_owned(),
        "thermostat1*getMaxMinReport".to_owned(),
    );
    let message = C2dMessage {
        body: b"2024-01-01T00:00:00Z".to_vec(),
        properties,
        ..C2dMessage::default()
    };
    within("send c2d", emulator.send_c2d("c2d-03", message))
        .await
        .unwrap();

    let device = connect(&emulator, MQTT, "c2d-03").await;
    let Event::Command(command) = next_event(&device).await else {
        panic!("expected the queued command")
    };
    assert!(command.is_queued());
    assert_eq!(command.component(), Some("thermostat1"));
    assert_eq!(command.name(), "getMaxMinReport");
    assert_eq!(
        command.payload_json::<String>().unwrap(),
        "2024-01-01T00:00:00Z"
    );
    // Answering succeeds and sends nothing: nobody waits for a queued command.
    within("respond", command.respond(200, &serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(
        emulator.pending_c2d("c2d-03"),
        0,
        "the message was completed"
    );
}
