//! The scenarios, each run once per transport by `main.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use iotc_emulator::{C2dMessage, ServiceError};
use iotc_sdk::message::Settlement;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Error, Event, Message};
use serde_json::json;

use iotc_tests::*;

/// Asserts an `Unsupported` error that came at once (no round trip, no timeout).
fn assert_unsupported<T: std::fmt::Debug>(result: Result<T, Error>, started: Instant) {
    assert!(
        matches!(result, Err(Error::Unsupported { .. })),
        "expected Unsupported, got {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "not at once");
}

pub async fn provisioning(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "prov");
    let device = connect(&emulator, protocol, &device_id).await;
    assert_eq!(device.protocol(), protocol);
    assert_eq!(device.device_id(), device_id);
    assert_eq!(device.hub_host(), emulator.hub_hostname());
    let info = emulator.device(&device_id).expect("registered by DPS");
    assert_eq!(info.model_id.as_deref(), Some(THERMOSTAT));
    within("close", device.close()).await.unwrap();
}

pub async fn provisioning_refuses_a_wrong_key(protocol: Protocol) {
    let emulator = emulator().await;
    let wrong = Credentials::group_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let result = within(
        "connect",
        builder(&emulator, protocol, &id(protocol, "wrong-key"))
            .credentials(wrong)
            .connect(),
    )
    .await;
    assert!(
        matches!(result, Err(Error::Unauthorized(_))),
        "{:?}",
        result.err()
    );
}

pub async fn telemetry_with_properties(protocol: Protocol) {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device_id = id(protocol, "telemetry");
    let device = connect(&emulator, protocol, &device_id).await;
    let message = Message::json(&json!({"temperature": 30}))
        .unwrap()
        .with_component("thermostat2")
        .with_message_id("msg-42")
        .with_correlation_id("corr-7")
        .with_property("alert", "high");
    within("send", device.send_message(message)).await.unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    assert_eq!(got.device_id, device_id);
    assert_eq!(got.body_json(), Some(json!({"temperature": 30})));
    assert_eq!(got.component.as_deref(), Some("thermostat2"));
    assert_eq!(got.message_id(), Some("msg-42"));
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.content_encoding(), Some("utf-8"));
    assert_eq!(
        got.system_properties.get("cid").map(String::as_str),
        Some("corr-7")
    );
    assert_eq!(
        got.application_properties.get("alert").map(String::as_str),
        Some("high")
    );
    within("close", device.close()).await.unwrap();
}

pub async fn telemetry_batch(protocol: Protocol) {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device = connect(&emulator, protocol, &id(protocol, "batch")).await;
    let batch = (0..3).map(|i| {
        Message::json(&json!({"n": i}))
            .unwrap()
            .with_message_id(format!("b-{i}"))
            .with_property("index", i.to_string())
    });
    within("send batch", device.send_messages(batch))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let got = within("receive", received.recv()).await.unwrap();
        assert_eq!(
            got.application_properties.get("index").map(String::as_str),
            got.message_id().and_then(|m| m.strip_prefix("b-"))
        );
        ids.push(got.message_id().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["b-0", "b-1", "b-2"]);
}

pub async fn c2d_with_properties(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "c2d");
    let device = connect(&emulator, protocol, &device_id).await;
    let mut properties = BTreeMap::new();
    properties.insert("action".to_owned(), "reboot".to_owned());
    let message = C2dMessage {
        body: b"{\"delay\":5}".to_vec(),
        message_id: Some("c2d-1".into()),
        correlation_id: Some("corr-1".into()),
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        properties,
    };
    within("send c2d", emulator.send_c2d(&device_id, message))
        .await
        .unwrap();
    let Event::CloudMessage(got) = next_event(&device).await else {
        panic!("expected a cloud message")
    };
    assert_eq!(got.body(), b"{\"delay\":5}");
    assert_eq!(got.message_id(), Some("c2d-1"));
    assert_eq!(got.correlation_id(), Some("corr-1"));
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.property("action"), Some("reboot"));
    within("complete", device.settle(&got, Settlement::Complete))
        .await
        .unwrap();
    eventually("the message leaves the queue", || {
        (emulator.pending_c2d(&device_id) == 0).then_some(())
    })
    .await;
}

pub async fn c2d_settlement(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "settle");
    let device = connect(&emulator, protocol, &device_id).await;
    within(
        "send c2d",
        emulator.send_c2d(&device_id, C2dMessage::new("first")),
    )
    .await
    .unwrap();
    let Event::CloudMessage(first) = next_event(&device).await else {
        panic!("expected a cloud message")
    };
    if first.lock_token().is_none() {
        // Completed on receipt (MQTT): abandon and reject do not exist.
        let started = Instant::now();
        assert_unsupported(device.settle(&first, Settlement::Abandon).await, started);
        assert_unsupported(device.settle(&first, Settlement::Reject).await, started);
        eventually("the acknowledgement completes the message", || {
            (emulator.pending_c2d(&device_id) == 0).then_some(())
        })
        .await;
        return;
    }
    // Abandon: the hub delivers it again, with a new lock.
    within("abandon", device.settle(&first, Settlement::Abandon))
        .await
        .unwrap();
    let Event::CloudMessage(again) = next_event(&device).await else {
        panic!("expected the abandoned message again")
    };
    assert_eq!(again.body(), b"first");
    assert_ne!(again.lock_token(), first.lock_token());
    // The old lock is gone: settling with it is refused with 412.
    let stale = within(
        "stale complete",
        device.settle(&first, Settlement::Complete),
    )
    .await;
    assert!(
        matches!(stale, Err(Error::Rejected { status: 412, .. })),
        "{stale:?}"
    );
    // Reject: it leaves the queue for good.
    within("reject", device.settle(&again, Settlement::Reject))
        .await
        .unwrap();
    // An AMQP disposition is settled by the device on sending; the hub applies it on receipt.
    eventually("the rejected message leaves the queue", || {
        (emulator.pending_c2d(&device_id) == 0).then_some(())
    })
    .await;
}

pub async fn twin(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "twin");
    let device = connect(&emulator, protocol, &device_id).await;
    if !protocol.supports_twin() {
        let started = Instant::now();
        assert_unsupported(device.get_twin().await, started);
        assert_unsupported(
            device.report_properties(&json!({"serial": "x"})).await,
            started,
        );
        return;
    }
    let version = within(
        "report",
        device.report_properties(&json!({"serial": "SN-1"})),
    )
    .await
    .unwrap();
    let twin = within("get twin", device.get_twin()).await.unwrap();
    assert_eq!(twin.reported_version(), version);
    assert_eq!(
        emulator.twin(&device_id).unwrap().reported["serial"],
        json!("SN-1")
    );
}

pub async fn writable_ack(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "writable");
    let device = connect(&emulator, protocol, &device_id).await;
    if !protocol.supports_twin() {
        // No desired-property notifications over this transport; acknowledging is reporting.
        let started = Instant::now();
        assert_unsupported(
            device
                .report_properties(&json!({"targetTemperature": {"ac": 200}}))
                .await,
            started,
        );
        return;
    }
    let version = within(
        "update desired",
        emulator.update_desired(&device_id, json!({"targetTemperature": 25.0})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    for property in update.properties() {
        within("ack", device.acknowledge(property, 200, Some("done")))
            .await
            .unwrap();
    }
    let ack = eventually("the ack in the twin", || {
        let reported = emulator.twin(&device_id)?.reported;
        let ack = reported.get("targetTemperature")?.clone();
        (ack["av"] == json!(version)).then_some(ack)
    })
    .await;
    assert_eq!(ack["ac"], json!(200));
    assert_eq!(ack["value"], json!(25.0));
}

/// A whole update (two properties of the default component, one of a component) is
/// acknowledged in one reported patch: the reported `$version` moves by one.
pub async fn writable_update_acknowledged_in_one_patch(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "writable-all");
    let device = connect(&emulator, protocol, &device_id).await;
    if !protocol.supports_twin() {
        return; // No desired-property notifications over this transport (see `writable_ack`).
    }
    let version = within(
        "update desired",
        emulator.update_desired(
            &device_id,
            json!({"targetTemperature": 25.0, "mode": "eco",
                   "thermostat1": {"__t": "c", "targetTemperature": 18}}),
        ),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert_eq!(update.properties().len(), 3);
    let before = within("twin", device.get_twin()).await.unwrap();
    let after = within(
        "ack all",
        device.acknowledge_update(&update, 200, Some("applied")),
    )
    .await
    .unwrap();
    assert_eq!(
        after,
        before.reported_version() + 1,
        "one reported patch for the whole update"
    );
    let reported = eventually("the acks in the twin", || {
        let reported = emulator.twin(&device_id)?.reported;
        (reported.get("mode")?["av"] == json!(version)).then_some(reported)
    })
    .await;
    let ack = |v: serde_json::Value| json!({"value": v, "ac": 200, "av": version, "ad": "applied"});
    assert_eq!(reported["targetTemperature"], ack(json!(25.0)));
    assert_eq!(reported["mode"], ack(json!("eco")));
    assert_eq!(
        reported["thermostat1"],
        json!({"__t": "c", "targetTemperature": ack(json!(18))})
    );
}

pub async fn commands(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "commands");
    let device = connect(&emulator, protocol, &device_id).await;
    if !protocol.supports_twin() {
        // Direct methods need a connection the hub can push to: the device is not online.
        let result = within(
            "invoke",
            emulator.invoke_command(&device_id, "reboot", json!({}), Duration::from_secs(2)),
        )
        .await;
        assert!(
            matches!(result, Err(ServiceError::DeviceNotOnline(_))),
            "{result:?}"
        );
        return;
    }
    let responder = {
        let device = device.clone();
        tokio::spawn(async move {
            let Some(Event::Command(command)) = device.next_event().await else {
                panic!("expected a command")
            };
            let body = json!({"name": command.name(), "payload": command.payload_json::<serde_json::Value>().unwrap()});
            command.respond(200, &body).await.unwrap();
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(
            &device_id,
            "reboot",
            json!({"delay": 1}),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.payload,
        json!({"name": "reboot", "payload": {"delay": 1}})
    );
    within("responder", responder).await.unwrap();
}

pub async fn queued_commands(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "queued");
    let device = connect(&emulator, protocol, &device_id).await;
    // IoT Central's "queue if offline" command: a C2D message naming the command.
    let mut properties = BTreeMap::new();
    properties.insert("method-name".to_owned(), "reboot".to_owned());
    let message = C2dMessage {
        body: b"{\"delay\":2}".to_vec(),
        properties,
        ..C2dMessage::default()
    };
    within("send c2d", emulator.send_c2d(&device_id, message))
        .await
        .unwrap();
    let Event::Command(command) = next_event(&device).await else {
        panic!("expected the queued command")
    };
    assert!(command.is_queued());
    assert_eq!(command.name(), "reboot");
    within("respond", command.respond(200, &json!({})))
        .await
        .unwrap();
    eventually("the command's message is completed", || {
        (emulator.pending_c2d(&device_id) == 0).then_some(())
    })
    .await;
}

pub async fn file_upload(protocol: Protocol) {
    let emulator = emulator().await;
    let device_id = id(protocol, "upload");
    let device = connect(&emulator, protocol, &device_id).await;
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = within(
        "upload",
        device.upload_file("logs/today.bin", content.clone()),
    )
    .await
    .unwrap();
    let blob_name = format!("{device_id}/logs/today.bin");
    assert_eq!(uploaded.blob_name, blob_name);
    let blob = emulator
        .uploaded_file(&blob_name)
        .expect("the blob is stored");
    assert_eq!(blob.device_id, device_id);
    assert_eq!(blob.size, content.len());
    assert_eq!(blob.content, content);
    let notifications = emulator.file_upload_notifications();
    assert_eq!(notifications.len(), 1);
    assert!(notifications[0].is_success);
    assert_eq!(notifications[0].blob_name, blob_name);
    assert!(matches!(
        device.upload_file("", b"x".to_vec()).await,
        Err(Error::Config(_))
    ));
}

matrix! {
    [
        provisioning,
        provisioning_refuses_a_wrong_key,
        telemetry_with_properties,
        telemetry_batch,
        c2d_with_properties,
        c2d_settlement,
        twin,
        writable_ack,
        writable_update_acknowledged_in_one_patch,
        commands,
        queued_commands,
        file_upload,
    ] on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        https => Protocol::Https,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}
