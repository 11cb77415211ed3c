//! IoT Edge modules on each transport edgeHub speaks (MQTT and AMQP): a module built from the
//! `IOTEDGE_*` environment (tokens signed by the emulator's workload API on a Unix socket, the
//! CA from its trust bundle) has its own twin and direct methods and renews its token, and its
//! outputs are routed to another module's input and upstream. What only one transport has
//! (the MQTT leaf devices, the aggregator example) is in the `mqtt` binary.

use std::time::Duration;

use iotc_emulator::{Emulator, TelemetryMessage};
use iotc_sdk::edge::{vars, EdgeEnvironment};
use iotc_sdk::transport::Protocol;
use iotc_sdk::{CloudMessage, Device, Event, Message};
use iotc_tests::edge::{edge_emulator, leaf, EDGE};
use iotc_tests::*;
use serde_json::json;

/// Adds `module` and connects it over `protocol` from the environment the emulator gives it
/// (no TLS settings: the CA comes from the workload API's trust bundle). The environment names
/// the edge hub's MQTT port; over AMQP the gateway host points at its AMQP port instead, as an
/// edge deployment's would.
async fn module(emulator: &Emulator, protocol: Protocol, module: &str, ttl: Duration) -> Device {
    emulator.add_module(EDGE, module).unwrap();
    let mut environment = emulator.edge_environment(module);
    if protocol == Protocol::Amqp {
        for (name, value) in &mut environment {
            if name == vars::GATEWAY_HOSTNAME {
                *value = format!("{}:{}", emulator.hub_hostname(), emulator.amqp_port());
            }
        }
    }
    let env = EdgeEnvironment::from_vars(environment).unwrap();
    within(
        "module connects",
        Device::builder()
            .edge_environment(env)
            .protocol(protocol)
            .sas_token_ttl(ttl)
            .operation_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("module connects")
}

async fn next_input(device: &Device) -> (String, CloudMessage) {
    loop {
        if let Event::InputMessage { input, message } = next_event(device).await {
            return (input, message);
        }
    }
}

fn system<'a>(message: &'a CloudMessage, key: &str) -> Option<&'a str> {
    message
        .system_properties()
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Collects what reaches the service side until `quiet` passes without a message.
async fn drain(
    receiver: &mut iotc_emulator::TelemetryReceiver,
    quiet: Duration,
) -> Vec<TelemetryMessage> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, receiver.recv()).await {
        out.push(m);
    }
    out
}

pub async fn module_twin_methods_and_token_renewal(protocol: Protocol) {
    let (emulator, _dir) = edge_emulator(&[]).await;
    let ttl = Duration::from_secs(4);
    let module = module(&emulator, protocol, "filter", ttl).await;

    let version = within(
        "report",
        module.report_properties(&json!({"threshold": 30})),
    )
    .await
    .unwrap();
    assert!(version >= 2);
    let twin = emulator.module_twin(EDGE, "filter").unwrap();
    assert_eq!(twin.reported["threshold"], 30);
    // The module's twin is its own, not the edge device's.
    assert!(emulator
        .twin(EDGE)
        .unwrap()
        .reported
        .get("threshold")
        .is_none());

    within(
        "desired",
        emulator.update_module_desired(EDGE, "filter", json!({"threshold": 25})),
    )
    .await
    .unwrap();
    match next_event(&module).await {
        Event::WritableProperties(update) => {
            assert_eq!(update.properties()[0].name(), "threshold");
            assert_eq!(update.properties()[0].value(), &json!(25));
        }
        other => panic!("expected writable properties, got {other:?}"),
    }
    let twin = within("twin", module.get_twin()).await.unwrap();
    assert_eq!(twin.desired["threshold"], 25);

    let invoke = {
        let emulator = emulator.clone();
        tokio::spawn(async move {
            emulator
                .invoke_module_command(
                    EDGE,
                    "filter",
                    "reset",
                    json!({"to": 0}),
                    Duration::from_secs(10),
                )
                .await
        })
    };
    match next_event(&module).await {
        Event::Command(command) => {
            assert_eq!(command.name(), "reset");
            assert_eq!(
                command.payload_json::<serde_json::Value>().unwrap(),
                json!({"to": 0})
            );
            within("respond", command.respond(200, &json!({"done": true})))
                .await
                .unwrap();
        }
        other => panic!("expected a command, got {other:?}"),
    }
    let answer = within("method answer", invoke).await.unwrap().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.payload, json!({"done": true}));
    // The edge device itself has no connection: the method went to the module.
    assert!(matches!(
        emulator
            .invoke_command(EDGE, "reset", json!({}), Duration::from_secs(1))
            .await,
        Err(iotc_emulator::ServiceError::DeviceNotOnline(_))
    ));

    // Past two token lifetimes the workload API has signed new tokens: over AMQP put over CBS
    // on the live connection, over MQTT on a new connection each.
    tokio::time::sleep(ttl * 2).await;
    within("twin after renewals", module.get_twin())
        .await
        .unwrap();
    let attempts = emulator.connection_attempts(&format!("{EDGE}/filter"));
    if protocol == Protocol::Amqp {
        assert_eq!(attempts, 1);
    } else {
        assert!(attempts >= 2, "{attempts} connection(s)");
    }
}

pub async fn output_is_routed_to_another_modules_input(protocol: Protocol) {
    let (emulator, _dir) = edge_emulator(&[
        r#"FROM /messages/modules/sender/outputs/alerts INTO BrokeredEndpoint("/modules/receiver/inputs/incoming")"#,
        "FROM /messages/modules/sender/outputs/upward INTO $upstream",
    ])
    .await;
    let hour = Duration::from_secs(3600);
    let receiver = module(&emulator, protocol, "receiver", hour).await;
    let sender = module(&emulator, protocol, "sender", hour).await;
    let mut telemetry = emulator.telemetry();

    within(
        "send to output",
        sender.send_to_output(
            "alerts",
            Message::json(&json!({"alert": "hot"}))
                .unwrap()
                .with_message_id("m-1")
                .with_property("level", "high"),
        ),
    )
    .await
    .unwrap();
    let (input, message) = within("input message", next_input(&receiver)).await;
    assert_eq!(input, "incoming");
    assert_eq!(
        message.body_json::<serde_json::Value>().unwrap(),
        json!({"alert": "hot"})
    );
    assert_eq!(message.message_id(), Some("m-1"));
    assert_eq!(message.content_type(), Some("application/json"));
    assert_eq!(message.property("level"), Some("high"));
    assert_eq!(system(&message, "cdid"), Some(EDGE));
    assert_eq!(system(&message, "cmid"), Some("sender"));

    // An output with a route upstream reaches the service side, with the module id and the
    // output name; the one routed to the module input did not.
    within(
        "send upward",
        sender.send_to_output("upward", Message::json(&json!({"n": 1})).unwrap()),
    )
    .await
    .unwrap();
    // A message on no output matches no route: dropped.
    within("send", sender.send_telemetry(&json!({"n": 2})))
        .await
        .unwrap();
    let upstream = drain(&mut telemetry, Duration::from_millis(500)).await;
    assert_eq!(upstream.len(), 1, "{upstream:?}");
    assert_eq!(upstream[0].module_id.as_deref(), Some("sender"));
    assert_eq!(
        upstream[0].system_properties.get("on").map(String::as_str),
        Some("upward")
    );
    assert_eq!(upstream[0].body_json(), Some(json!({"n": 1})));

    // A device identity has no outputs.
    assert!(matches!(
        leaf(&emulator, &id(protocol, "leaf-x"))
            .await
            .send_to_output("o", Message::new("x"))
            .await,
        Err(iotc_sdk::Error::Config(_))
    ));
}

matrix! {
    [
        module_twin_methods_and_token_renewal,
        output_is_routed_to_another_modules_input,
    ] on [
        mqtt => Protocol::Mqtt,
        amqp => Protocol::Amqp,
    ]
}
