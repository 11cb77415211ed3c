//! Gateways on every transport that carries commands and twins: downstream devices are
//! provisioned with the gateway relationship, each with its own identity, model, twin and
//! token. Over AMQP (TLS or WebSockets) the gateway and its downstream devices share one
//! connection and a few sessions; over MQTT each has its own connection. Either way, removing or
//! losing one device leaves the others and the gateway untouched.

use std::time::Duration;

use iotc_emulator::Emulator;
use iotc_sdk::auth::SasKey;
use iotc_sdk::device::ConnectionState;
use iotc_sdk::gateway::Gateway;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, Error, Event};
use iotc_tests::*;
use serde_json::json;

const GATEWAY_MODEL: &str = "dtmi:com:example:Gateway;1";
const HUMIDITY: &str = "dtmi:com:example:Humidity;1";
const DOOR: &str = "dtmi:com:example:Door;1";

async fn gateway(emulator: &Emulator, protocol: Protocol, id: &str) -> Gateway {
    within(
        "gateway connect",
        Gateway::connect(builder(emulator, protocol, id).model_id(GATEWAY_MODEL)),
    )
    .await
    .expect("the gateway connects")
}

/// Adds three downstream devices of different models: `{prefix}-t`, `-h` and `-d`.
async fn three_sensors(gateway: &Gateway, prefix: &str) -> [Device; 3] {
    let mut devices = Vec::new();
    for (suffix, model) in [("t", THERMOSTAT), ("h", HUMIDITY), ("d", DOOR)] {
        let id = format!("{prefix}-{suffix}");
        let device = within("add", gateway.add(&id, |b| b.model_id(model)))
            .await
            .expect("downstream device added");
        devices.push(device);
    }
    devices.try_into().expect("three devices")
}

/// Waits until exactly `n` AMQP connections are open (DPS connections close after their
/// registration).
async fn open_amqp_connections(emulator: &Emulator, n: usize) {
    eventually(&format!("{n} open AMQP connection(s)"), || {
        (emulator.open_amqp_connections() == n).then_some(())
    })
    .await;
}

/// Waits for the AMQP connections a gateway and its downstream devices should have open: one
/// shared connection, or none over MQTT (a connection per device there).
async fn expect_connections(emulator: &Emulator, protocol: Protocol) {
    open_amqp_connections(emulator, usize::from(multiplexes(protocol))).await;
}

pub async fn downstream_devices_have_their_own_identity_and_traffic(protocol: Protocol) {
    let emulator = emulator().await;
    let gw = id(protocol, "gw1");
    let gateway = gateway(&emulator, protocol, &gw).await;
    let [thermo, humidity, door] = three_sensors(&gateway, &gw).await;
    let (t, h, d) = (format!("{gw}-t"), format!("{gw}-h"), format!("{gw}-d"));
    expect_connections(&emulator, protocol).await;

    // The relationship and each device's own model are recorded.
    let downstream = emulator.downstream_devices(&gw);
    let models: Vec<_> = downstream
        .iter()
        .map(|x| (x.device_id.clone(), x.model_id.clone().unwrap()))
        .collect();
    assert_eq!(
        models,
        [
            (d.clone(), DOOR.to_owned()),
            (h.clone(), HUMIDITY.to_owned()),
            (t.clone(), THERMOSTAT.to_owned())
        ]
    );
    assert!(downstream.iter().all(|x| x.connected));
    assert_eq!(
        emulator.device(&gw).unwrap().gateway_id,
        None,
        "the gateway itself is not downstream"
    );
    let registration = emulator
        .registrations()
        .into_iter()
        .find(|r| r.registration_id == h)
        .unwrap();
    assert_eq!(
        registration.payload,
        Some(json!({"iotcGateway": {"iotcGatewayId": gw}, "modelId": HUMIDITY}))
    );
    assert_eq!(gateway.downstream_ids(), [d.clone(), h.clone(), t.clone()]);

    // Telemetry is attributed to the device that sent it.
    let mut received = emulator.telemetry();
    for (device, value) in [(&thermo, 21.5), (&humidity, 40.0), (&door, 1.0)] {
        within("send", device.send_telemetry(&json!({"value": value})))
            .await
            .unwrap();
    }
    within(
        "send",
        gateway.device().send_telemetry(&json!({"devices": 3})),
    )
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
            (gw.clone(), json!({"devices": 3})),
            (d.clone(), json!({"value": 1.0})),
            (h.clone(), json!({"value": 40.0})),
            (t.clone(), json!({"value": 21.5})),
        ]
    );

    // A command reaches the device it is addressed to, and only that one.
    let responder = {
        let door = door.clone();
        tokio::spawn(async move {
            let Some(Event::Command(command)) = door.next_event().await else {
                panic!("expected a command")
            };
            let body = json!({"name": command.name()});
            command.respond(200, &body).await.unwrap();
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(&d, "lock", json!({}), Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(response.payload, json!({"name": "lock"}));
    within("responder", responder).await.unwrap();

    // A desired property reaches the device it is set on, and only that one.
    within(
        "desired",
        emulator.update_desired(&h, json!({"targetHumidity": 45})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&humidity).await else {
        panic!("expected a writable property update")
    };
    assert_eq!(
        update.get("targetHumidity").map(|p| p.value()),
        Some(&json!(45))
    );
    for other in [&thermo, &door, gateway.device()] {
        let nothing = tokio::time::timeout(Duration::from_millis(300), other.next_event()).await;
        assert!(nothing.is_err(), "no event for the others: {nothing:?}");
    }

    // The gateway's own twin works beside them, on the same connection where it is shared.
    within("twin", gateway.device().get_twin()).await.unwrap();
    expect_connections(&emulator, protocol).await;

    within("close", gateway.close()).await.unwrap();
    for device in [&gw, &t, &h, &d] {
        wait_disconnected(&emulator, device).await;
    }
    open_amqp_connections(&emulator, 0).await;
}

pub async fn removing_or_losing_one_device_leaves_the_others_alone(protocol: Protocol) {
    let emulator = emulator().await;
    let gw = id(protocol, "gw2");
    let gateway = gateway(&emulator, protocol, &gw).await;
    let [thermo, humidity, door] = three_sensors(&gateway, &gw).await;
    let (t, h, d) = (format!("{gw}-t"), format!("{gw}-h"), format!("{gw}-d"));
    expect_connections(&emulator, protocol).await;
    let attempts = |id: &str| emulator.connection_attempts(id);
    let before = (attempts(&gw), attempts(&t));
    let mut thermo_changes = thermo.state_changes();

    // Removed: it alone is disconnected; the relationship stays.
    within("remove", gateway.remove(&d)).await.unwrap();
    wait_disconnected(&emulator, &d).await;
    let late = door.send_telemetry(&json!({"late": true})).await;
    assert!(matches!(late, Err(Error::Closed)), "{late:?}");
    assert_eq!(gateway.downstream_ids(), [h.clone(), t.clone()]);
    assert!(gateway.get(&d).is_none());
    expect_connections(&emulator, protocol).await;

    // Lost: the hub drops one device; it comes back, the others never notice.
    let mut humidity_changes = humidity.state_changes();
    assert!(emulator.disconnect_device(&h));
    within("the lost device reconnects", async {
        let mut left = false;
        while let Some(state) = humidity_changes.next().await {
            match state {
                ConnectionState::Connected if left => break,
                ConnectionState::Connected => {}
                _ => left = true,
            }
        }
    })
    .await;
    let mut received = emulator.telemetry();
    for device in [&thermo, &humidity, gateway.device()] {
        within("send", device.send_telemetry(&json!({"after": true})))
            .await
            .unwrap();
        within("receive", received.recv()).await.unwrap();
    }
    expect_connections(&emulator, protocol).await;
    assert_eq!(
        (attempts(&gw), attempts(&t)),
        before,
        "the bystanders never reconnected"
    );
    assert_eq!(thermo.connection_state(), ConnectionState::Connected);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), thermo_changes.next())
            .await
            .is_err(),
        "the thermostat's connection state never changed"
    );
    let connected: Vec<_> = emulator
        .downstream_devices(&gw)
        .iter()
        .map(|x| (x.device_id.clone(), x.connected))
        .collect();
    assert_eq!(
        connected,
        [(d.clone(), false), (h.clone(), true), (t.clone(), true)],
        "the relationship stays after a removal"
    );

    // Added again, it comes back with its own identity.
    let door = within("re-add", gateway.add(&d, |b| b.model_id(DOOR)))
        .await
        .unwrap();
    within("send", door.send_telemetry(&json!({"value": 5})))
        .await
        .unwrap();
    within("close", gateway.close()).await.unwrap();
}

pub async fn each_device_renews_its_own_token(protocol: Protocol) {
    let emulator = emulator().await;
    let ttl = Duration::from_secs(4);
    let gw = id(protocol, "gw3");
    let sensor_id = format!("{gw}-t");
    let gateway = within(
        "gateway connect",
        Gateway::connect(
            builder(&emulator, protocol, &gw)
                .model_id(GATEWAY_MODEL)
                .sas_token_ttl(ttl),
        ),
    )
    .await
    .unwrap();
    let sensor = within("add", gateway.add(&sensor_id, |b| b.model_id(THERMOSTAT)))
        .await
        .unwrap();
    expect_connections(&emulator, protocol).await;
    let mut received = emulator.telemetry();
    let start = tokio::time::Instant::now();
    let mut sent = 0;
    // Two token lifetimes: without renewal the hub refuses both devices at expiry.
    while start.elapsed() < ttl * 2 {
        for device in [&sensor, gateway.device()] {
            within("send", device.send_telemetry(&json!({"n": sent})))
                .await
                .unwrap();
            within("receive", received.recv()).await.unwrap();
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(sent >= 10, "only {sent} rounds in {:?}", ttl * 2);
    if multiplexes(protocol) {
        // Renewed over CBS on the live, shared connection.
        assert_eq!(emulator.connection_attempts(&sensor_id), 1);
        assert_eq!(emulator.connection_attempts(&gw), 1);
        assert_eq!(emulator.open_amqp_connections(), 1);
    } else {
        // Renewed by reconnecting with a fresh token, each device on its own schedule.
        assert!(emulator.connection_attempts(&sensor_id) >= 2);
        assert!(emulator.connection_attempts(&gw) >= 2);
    }
    within("close", gateway.close()).await.unwrap();
}

pub async fn bad_downstream_settings_are_refused_before_anything_is_sent(protocol: Protocol) {
    let emulator = emulator().await;
    let gw = id(protocol, "gw4");
    let gateway = gateway(&emulator, protocol, &gw).await;
    let a = format!("{gw}-a");
    within("add", gateway.add(&a, |b| b.model_id(HUMIDITY)))
        .await
        .unwrap();

    let own_id = gateway.add(&gw, |b| b).await.unwrap_err();
    assert!(matches!(own_id, Error::Config(_)), "{own_id:?}");
    let twice = gateway.add(&a, |b| b).await.unwrap_err();
    assert!(matches!(twice, Error::Config(_)), "{twice:?}");
    let bad_payload = gateway
        .add(&format!("{gw}-b"), |b| {
            b.provisioning_payload(json!("not an object"))
        })
        .await
        .unwrap_err();
    assert!(matches!(bad_payload, Error::Config(_)), "{bad_payload:?}");
    let unknown = gateway.remove("nobody").await.unwrap_err();
    assert!(matches!(unknown, Error::Config(_)), "{unknown:?}");
    assert_eq!(emulator.downstream_devices(&gw).len(), 1);

    // A gateway with its own device key cannot derive keys for others: each downstream
    // device then needs its credentials.
    let keyed_id = id(protocol, "gw5");
    let keyed_child = format!("{keyed_id}-a");
    let group = SasKey::new(emulator.group_key()).unwrap();
    let key = group.derive_device_key(&keyed_id).to_base64();
    let keyed = within(
        "gateway with a device key",
        Gateway::connect(
            builder(&emulator, protocol, &keyed_id)
                .credentials(Credentials::device_key(key.expose()).unwrap()),
        ),
    )
    .await
    .unwrap();
    let missing = keyed.add(&keyed_child, |b| b).await.unwrap_err();
    assert!(matches!(missing, Error::Config(_)), "{missing:?}");
    let own_key = group.derive_device_key(&keyed_child).to_base64();
    within(
        "add with own key",
        keyed.add(&keyed_child, |b| {
            b.credentials(Credentials::device_key(own_key.expose()).unwrap())
        }),
    )
    .await
    .unwrap();
    assert_eq!(emulator.downstream_devices(&keyed_id).len(), 1);
    within("close", keyed.close()).await.unwrap();
    within("close", gateway.close()).await.unwrap();
}

matrix! {
    [
        downstream_devices_have_their_own_identity_and_traffic,
        removing_or_losing_one_device_leaves_the_others_alone,
        each_device_renews_its_own_token,
        bad_downstream_settings_are_refused_before_anything_is_sent,
    ] on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}
