//! IoT Edge modules over AMQP: tokens signed by the workload API and renewed over CBS, the
//! module twin and direct methods on the module's links, outputs routed to another module's
//! input (`x-opt-input-name`) and upstream.

use std::time::Duration;

use iotc_emulator::{EdgeConfig, Emulator, EmulatorConfig};
use iotc_sdk::edge::{vars, EdgeEnvironment};
use iotc_sdk::message::CloudMessage;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Device, Event, Message};
use serde_json::json;

use crate::support::*;

const EDGE: &str = "edge-a";

async fn edge_emulator(routes: &[&str]) -> (Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        edge: Some(EdgeConfig {
            device_id: EDGE.into(),
            routes: routes.iter().map(|r| (*r).to_owned()).collect(),
            workload_socket: Some(dir.path().join("workload.sock")),
        }),
        ..EmulatorConfig::default()
    };
    let emulator = within("emulator start", Emulator::start(config))
        .await
        .expect("emulator starts");
    (emulator, dir)
}

/// Adds `module` and connects it over AMQP from the environment the emulator gives it, with
/// the gateway host pointed at the emulator's AMQP port.
async fn amqp_module(emulator: &Emulator, module: &str, ttl: Duration) -> Device {
    emulator.add_module(EDGE, module).unwrap();
    let mut vars_ = emulator.edge_environment(module);
    for (name, value) in &mut vars_ {
        if name == vars::GATEWAY_HOSTNAME {
            *value = format!("{}:{}", emulator.hub_hostname(), emulator.amqp_port());
        }
    }
    let env = EdgeEnvironment::from_vars(vars_).unwrap();
    within(
        "module connects",
        Device::builder()
            .edge_environment(env)
            .protocol(Protocol::Amqp)
            .sas_token_ttl(ttl)
            .operation_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("module connects over AMQP")
}

async fn next_input(device: &Device) -> (String, CloudMessage) {
    loop {
        if let Event::InputMessage { input, message } = next_event(device).await {
            return (input, message);
        }
    }
}

fn system<'a>(message: &'a CloudMessage, name: &str) -> Option<&'a str> {
    message
        .system_properties()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_over_amqp_has_its_twin_methods_and_renews_its_token() {
    let (emulator, _dir) = edge_emulator(&[]).await;
    let ttl = Duration::from_secs(4);
    let module = amqp_module(&emulator, "filter", ttl).await;

    let version = within(
        "report",
        module.report_properties(&json!({"threshold": 30})),
    )
    .await
    .unwrap();
    assert!(version >= 2);
    assert_eq!(
        emulator.module_twin(EDGE, "filter").unwrap().reported["threshold"],
        30
    );
    within(
        "desired",
        emulator.update_module_desired(EDGE, "filter", json!({"threshold": 25})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&module).await else {
        panic!("expected writable properties")
    };
    assert_eq!(update.properties()[0].name(), "threshold");

    let invoke = {
        let emulator = emulator.clone();
        tokio::spawn(async move {
            emulator
                .invoke_module_command(EDGE, "filter", "reset", json!({}), Duration::from_secs(10))
                .await
        })
    };
    let Event::Command(command) = next_event(&module).await else {
        panic!("expected a command")
    };
    assert_eq!(command.name(), "reset");
    within("respond", command.respond(200, &json!({"done": true})))
        .await
        .unwrap();
    assert_eq!(
        within("answer", invoke).await.unwrap().unwrap().payload,
        json!({"done": true})
    );

    // Past two token lifetimes: the workload API signs new tokens, put over CBS on the live
    // connection.
    tokio::time::sleep(ttl * 2).await;
    within("twin after renewals", module.get_twin())
        .await
        .unwrap();
    assert_eq!(emulator.connection_attempts(&format!("{EDGE}/filter")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_is_routed_to_another_modules_input_over_amqp() {
    let (emulator, _dir) = edge_emulator(&[
        r#"FROM /messages/modules/sender/outputs/alerts INTO BrokeredEndpoint("/modules/receiver/inputs/incoming")"#,
        "FROM /messages/modules/sender/outputs/upward INTO $upstream",
    ])
    .await;
    let hour = Duration::from_secs(3600);
    let receiver = amqp_module(&emulator, "receiver", hour).await;
    let sender = amqp_module(&emulator, "sender", hour).await;
    let mut upstream = emulator.telemetry();

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

    within(
        "send upward",
        sender.send_to_output("upward", Message::json(&json!({"n": 1})).unwrap()),
    )
    .await
    .unwrap();
    let got = within("upstream", upstream.recv()).await.unwrap();
    assert_eq!(got.module_id.as_deref(), Some("sender"));
    assert_eq!(got.body_json(), Some(json!({"n": 1})));
    assert_eq!(
        got.system_properties.get("on").map(String::as_str),
        Some("upward")
    );
}
