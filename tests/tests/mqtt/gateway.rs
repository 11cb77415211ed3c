//! Gateways over MQTT: downstream devices provisioned with the gateway relationship, each with
//! its own identity and connection.

use std::time::Duration;

use iotc_sdk::auth::SasKey;
use iotc_sdk::device::ConnectionState;
use iotc_sdk::gateway::Gateway;
use iotc_sdk::{Credentials, Device, Error, Event};
use serde_json::json;

use crate::support::*;

const GATEWAY_MODEL: &str = "dtmi:com:example:Gateway;1";
const HUMIDITY: &str = "dtmi:com:example:Humidity;1";
const DOOR: &str = "dtmi:com:example:Door;1";

async fn gateway(emulator: &iotc_emulator::Emulator, id: &str) -> Gateway {
    within(
        "gateway connect",
        Gateway::connect(builder(emulator, id).model_id(GATEWAY_MODEL)),
    )
    .await
    .expect("the gateway connects")
}

/// Adds three downstream devices of different models.
async fn three_sensors(gateway: &Gateway) -> [Device; 3] {
    let mut devices = Vec::new();
    for (id, model) in [("gw-t", THERMOSTAT), ("gw-h", HUMIDITY), ("gw-d", DOOR)] {
        let device = within("add", gateway.add(id, |b| b.model_id(model)))
            .await
            .expect("downstream device added");
        devices.push(device);
    }
    devices.try_into().expect("three devices")
}

#[tokio::test]
async fn downstream_devices_are_provisioned_under_the_gateway_with_their_own_identity() {
    let emulator = emulator().await;
    let gateway = gateway(&emulator, "gw-1").await;
    let [thermo, humidity, door] = three_sensors(&gateway).await;

    // The relationship and each device's own model are recorded.
    let downstream = emulator.downstream_devices("gw-1");
    let ids: Vec<_> = downstream.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(ids, ["gw-d", "gw-h", "gw-t"]);
    let models: Vec<_> = downstream
        .iter()
        .map(|d| d.model_id.as_deref().unwrap())
        .collect();
    assert_eq!(models, [DOOR, HUMIDITY, THERMOSTAT]);
    assert!(downstream.iter().all(|d| d.connected));
    assert_eq!(
        emulator.device("gw-1").unwrap().gateway_id,
        None,
        "the gateway itself is not downstream"
    );
    let registration = emulator
        .registrations()
        .into_iter()
        .find(|r| r.registration_id == "gw-h")
        .unwrap();
    assert_eq!(
        registration.payload,
        Some(json!({"iotcGateway": {"iotcGatewayId": "gw-1"}, "modelId": HUMIDITY}))
    );
    assert_eq!(gateway.downstream_ids(), ["gw-d", "gw-h", "gw-t"]);

    // Telemetry is attributed to the device that sent it.
    let mut received = emulator.telemetry();
    for (device, value) in [(&thermo, 21.5), (&humidity, 40.0), (&door, 1.0)] {
        within("send", device.send_telemetry(&json!({"value": value})))
            .await
            .unwrap();
    }
    gateway
        .device()
        .send_telemetry(&json!({"devices": 3}))
        .await
        .unwrap();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let message = within("receive", received.recv()).await.unwrap();
        senders.push((message.device_id.clone(), message.body_json().unwrap()));
    }
    senders.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        senders,
        [
            ("gw-1".to_owned(), json!({"devices": 3})),
            ("gw-d".to_owned(), json!({"value": 1.0})),
            ("gw-h".to_owned(), json!({"value": 40.0})),
            ("gw-t".to_owned(), json!({"value": 21.5})),
        ]
    );

    // A command reaches the device it is addressed to, and only that one.
    let responder = {
        let humidity = humidity.clone();
        tokio::spawn(async move {
            let Some(Event::Command(command)) = humidity.next_event().await else {
                panic!("expected a command")
            };
            let body = json!({"device": "gw-h", "name": command.name()});
            command.respond(200, &body).await.unwrap();
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command("gw-h", "calibrate", json!(null), Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(
        response.payload,
        json!({"device": "gw-h", "name": "calibrate"})
    );
    within("responder", responder).await.unwrap();

    // A desired property reaches the device it is set on.
    emulator
        .update_desired("gw-d", json!({"armed": true}))
        .await
        .unwrap();
    let Event::WritableProperties(update) = next_event(&door).await else {
        panic!("expected a writable property update")
    };
    assert_eq!(update.get("armed").map(|p| p.value()), Some(&json!(true)));
    for other in [&thermo, &humidity, gateway.device()] {
        let nothing = tokio::time::timeout(Duration::from_millis(300), other.next_event()).await;
        assert!(nothing.is_err(), "no event for the others: {nothing:?}");
    }

    within("close", gateway.close()).await.unwrap();
    for id in ["gw-1", "gw-t", "gw-h", "gw-d"] {
        wait_disconnected(&emulator, id).await;
    }
}

#[tokio::test]
async fn losing_or_removing_one_downstream_device_leaves_the_others_alone() {
    let emulator = emulator().await;
    let gateway = gateway(&emulator, "gw-2").await;
    let [thermo, humidity, door] = three_sensors(&gateway).await;
    let attempts_before = emulator.connection_attempts("gw-h");

    // One device loses its connection: it reconnects; the others never notice.
    let mut thermo_states = thermo.state_changes();
    emulator.disconnect_device("gw-t");
    within("thermostat reconnects", async {
        loop {
            if let ConnectionState::Connected = thermo_states.next().await.unwrap() {
                break;
            }
        }
    })
    .await;
    within("send", thermo.send_telemetry(&json!({"value": 1})))
        .await
        .unwrap();
    within("send", humidity.send_telemetry(&json!({"value": 2})))
        .await
        .unwrap();
    assert_eq!(humidity.connection_state(), ConnectionState::Connected);
    assert_eq!(
        emulator.connection_attempts("gw-h"),
        attempts_before,
        "the humidity sensor kept its connection"
    );

    // Removing one disconnects it alone.
    within("remove", gateway.remove("gw-d")).await.unwrap();
    wait_disconnected(&emulator, "gw-d").await;
    assert!(matches!(
        door.send_telemetry(&json!({"value": 3})).await,
        Err(Error::Closed)
    ));
    assert_eq!(gateway.downstream_ids(), ["gw-h", "gw-t"]);
    assert!(gateway.get("gw-d").is_none());
    within("send", humidity.send_telemetry(&json!({"value": 4})))
        .await
        .unwrap();
    within(
        "send",
        gateway.device().send_telemetry(&json!({"ok": true})),
    )
    .await
    .unwrap();
    let downstream = emulator.downstream_devices("gw-2");
    let connected: Vec<_> = downstream
        .iter()
        .map(|d| (d.device_id.as_str(), d.connected))
        .collect();
    assert_eq!(
        connected,
        [("gw-d", false), ("gw-h", true), ("gw-t", true)],
        "the relationship stays after a removal"
    );

    // Added again, it comes back with its own identity.
    let door = within("re-add", gateway.add("gw-d", |b| b.model_id(DOOR)))
        .await
        .unwrap();
    within("send", door.send_telemetry(&json!({"value": 5})))
        .await
        .unwrap();
    within("close", gateway.close()).await.unwrap();
}

#[tokio::test]
async fn bad_downstream_settings_are_refused_before_anything_is_sent() {
    let emulator = emulator().await;
    let gateway = gateway(&emulator, "gw-3").await;
    within("add", gateway.add("gw-3-a", |b| b.model_id(HUMIDITY)))
        .await
        .unwrap();

    let own_id = gateway.add("gw-3", |b| b).await.unwrap_err();
    assert!(matches!(own_id, Error::Config(_)), "{own_id:?}");
    let twice = gateway.add("gw-3-a", |b| b).await.unwrap_err();
    assert!(matches!(twice, Error::Config(_)), "{twice:?}");
    let bad_payload = gateway
        .add("gw-3-b", |b| b.provisioning_payload(json!("not an object")))
        .await
        .unwrap_err();
    assert!(matches!(bad_payload, Error::Config(_)), "{bad_payload:?}");
    let unknown = gateway.remove("nobody").await.unwrap_err();
    assert!(matches!(unknown, Error::Config(_)), "{unknown:?}");
    assert_eq!(emulator.downstream_devices("gw-3").len(), 1);

    // A gateway with its own device key cannot derive keys for others: each downstream
    // device then needs its credentials.
    let group = SasKey::new(emulator.group_key()).unwrap();
    let key = group.derive_device_key("gw-4").to_base64();
    let keyed = within(
        "gateway with a device key",
        Gateway::connect(
            builder(&emulator, "gw-4").credentials(Credentials::device_key(key.expose()).unwrap()),
        ),
    )
    .await
    .unwrap();
    let missing = keyed.add("gw-4-a", |b| b).await.unwrap_err();
    assert!(matches!(missing, Error::Config(_)), "{missing:?}");
    let own_key = group.derive_device_key("gw-4-a").to_base64();
    within(
        "add with own key",
        keyed.add("gw-4-a", |b| {
            b.credentials(Credentials::device_key(own_key.expose()).unwrap())
        }),
    )
    .await
    .unwrap();
    assert_eq!(emulator.downstream_devices("gw-4").len(), 1);
    within("close", keyed.close()).await.unwrap();
    within("close", gateway.close()).await.unwrap();
}
