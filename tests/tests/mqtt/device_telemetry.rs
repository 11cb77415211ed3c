use iotc_sdk::Message;
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

#[tokio::test]
async fn telemetry_arrives_with_all_its_properties() {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device = connect(&emulator, MQTT, "telemetry-01").await;

    within("send", device.send_telemetry(&json!({"temperature": 21.5})))
        .await
        .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.device_id, "telemetry-01");
    assert_eq!(message.body_json(), Some(json!({"temperature": 21.5})));
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(
        message.system_properties.get("ce").map(String::as_str),
        Some("utf-8")
    );
    assert_eq!(message.component, None);

    let rich = Message::json(&json!({"temperature": 30}))
        .unwrap()
        .with_component("thermostat2")
        .with_message_id("msg-42")
        .with_correlation_id("corr/7")
        .with_property("alert", "high & rising")
        .with_property("unit=", "°C");
    within("send", device.send_message(rich)).await.unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.component.as_deref(), Some("thermostat2"));
    assert_eq!(message.message_id(), Some("msg-42"));
    assert_eq!(
        message.system_properties.get("cid").map(String::as_str),
        Some("corr/7")
    );
    assert_eq!(
        message
            .application_properties
            .get("alert")
            .map(String::as_str),
        Some("high & rising")
    );
    assert_eq!(
        message
            .application_properties
            .get("unit=")
            .map(String::as_str),
        Some("°C")
    );
    assert_eq!(
        message
            .system_properties
            .get("iothub-connection-device-id")
            .map(String::as_str),
        Some("telemetry-01")
    );

    within("close", device.close()).await.unwrap();
}

#[tokio::test]
async fn raw_payloads_and_many_messages_in_flight() {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device = connect(&emulator, MQTT, "telemetry-02").await;

    // 50 sends in flight at once from clones of one handle.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..50u8 {
        let device = device.clone();
        sends.spawn(async move {
            device
                .send_message(iotc_sdk::Message::new(vec![i; 10]).with_message_id(i.to_string()))
                .await
        });
    }
    while let Some(result) = within("50 sends", sends.join_next()).await {
        result.unwrap().unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..50 {
        let message = within("receive", received.recv()).await.unwrap();
        assert_eq!(message.body.len(), 10);
        assert_eq!(message.content_type(), None);
        ids.push(message.message_id().unwrap().parse::<u32>().unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn oversized_telemetry_is_refused_before_sending_and_the_connection_lives_on() {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device = connect(&emulator, MQTT, "telemetry-03").await;
    let result = within(
        "send",
        device.send_message(iotc_sdk::Message::new(vec![b'x'; 300 * 1024])),
    )
    .await;
    assert!(
        matches!(
            result,
            Err(iotc_sdk::Error::TooLarge { limit: 262_144, .. })
        ),
        "{result:?}"
    );
    // Just under the limit still goes through, on the same connection.
    let body = vec![b'y'; 256 * 1024 - 200];
    within(
        "send",
        device.send_message(iotc_sdk::Message::new(body.clone())),
    )
    .await
    .unwrap();
    assert_eq!(within("receive", received.recv()).await.unwrap().body, body);
}
