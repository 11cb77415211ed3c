//! Several IoT hubs and IoT Central's manual failover, over real loopback TLS sockets: DPS
//! spreads devices over the hubs, a hub refuses a device that belongs to another, a failover
//! closes the device's connection and moves it (DPS assigns the other hub), a failback moves
//! it home; the service HTTP endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{enc, http, provision, sas_token, Client, T};
use iotc_emulator::{Emulator, EmulatorConfig};
use rumqttc::{ConnectReturnCode, ConnectionError, QoS};
use serde_json::Value;
use tokio::time::timeout;

async fn start_hubs(hubs: usize) -> Emulator {
    Emulator::start(EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        hubs,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// An MQTT hub connection of `dev` to hub `hub` (its host name in the TCP connection, the TLS
/// server name, the username and the SAS audience).
fn open_hub(emulator: &Emulator, hub: usize, dev: &str) -> Client {
    let info = &emulator.hubs()[hub];
    let key = emulator.derive_device_key(dev);
    let user = format!(
        "{}/{dev}/?api-version=2021-04-12&model-id={}",
        info.hostname,
        enc("dtmi:com:example:Thermostat;1")
    );
    let pass = sas_token(
        &format!("{}/devices/{dev}", info.hostname),
        &key,
        None,
        3600,
    );
    let port = info.mqtt_addr.port();
    Client::connect_to(
        emulator,
        &info.hostname,
        dev,
        port,
        &user,
        Some(&pass),
        None,
    )
}

/// Connects `dev` to `hub` and expects CONNACK 5 (not authorized), as IoT hub refuses a
/// device it does not know.
async fn assert_refused(emulator: &Emulator, hub: usize, dev: &str) {
    let mut conn = open_hub(emulator, hub, dev);
    match conn.connack().await {
        Err(ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, ConnectReturnCode::NotAuthorized, "{dev} on hub {hub}")
        }
        other => panic!("{dev} on hub {hub}: expected CONNACK 5, got {other:?}"),
    }
}

/// Provisions `dev` over MQTT and returns the `assignedHub` DPS announced.
async fn assigned_hub(emulator: &Emulator, dev: &str) -> String {
    let key = emulator.derive_device_key(dev);
    let body = provision(emulator, dev, &key).await;
    body["registrationState"]["assignedHub"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn hubs_have_their_own_names_and_listeners() {
    let emulator = start_hubs(3).await;
    let hubs = emulator.hubs();
    assert_eq!(hubs.len(), 3);
    assert_eq!(hubs[0].hostname, emulator.hub_hostname());
    assert_eq!(hubs[0].assigned_hub, emulator.assigned_hub());
    assert_eq!(hubs[0].assigned_hub_amqp, emulator.assigned_hub_amqp());
    assert_eq!(hubs[0].assigned_hub_https, emulator.https_assigned_hub());
    assert_eq!(hubs[1].hostname, "127.0.0.2");
    assert_eq!(hubs[2].hostname, "127.0.0.3");
    for hub in &hubs[1..] {
        assert_eq!(hub.mqtt_addr.ip().to_string(), hub.hostname);
        assert_eq!(
            hub.assigned_hub,
            format!("{}:{}", hub.hostname, hub.mqtt_addr.port())
        );
        assert_eq!(
            hub.assigned_hub_amqp,
            format!("{}:{}", hub.hostname, hub.amqp_addr.port())
        );
        assert_eq!(
            hub.assigned_hub_https,
            format!("{}:{}", hub.hostname, hub.https_addr.port())
        );
        // Each listener accepts TCP connections on the hub's own address.
        for addr in [hub.mqtt_addr, hub.amqp_addr, hub.https_addr] {
            timeout(T, tokio::net::TcpStream::connect(addr))
                .await
                .unwrap()
                .unwrap();
        }
    }
    // Several hubs need specific listen addresses (hub k listens on 127.0.0.{k+1}).
    let err = Emulator::start(EmulatorConfig {
        dps_listen: "0.0.0.0:0".parse().unwrap(),
        hubs: 2,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, iotc_emulator::EmulatorError::InvalidConfig(_)),
        "{err}"
    );
    // One hub: the default, and failover has nowhere to go.
    let single = start_hubs(1).await;
    assert_eq!(single.hubs().len(), 1);
    let key = single.derive_device_key("only-dev");
    provision(&single, "only-dev", &key).await;
    assert_eq!(single.device_hub("only-dev"), Some(0));
    let err = single.manual_failover("only-dev").unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn dps_spreads_devices_and_each_hub_admits_only_its_own() {
    timeout(Duration::from_secs(120), async {
        let emulator = start_hubs(3).await;
        let hubs = emulator.hubs();
        let mut used = [0usize; 3];
        for i in 0..12 {
            let dev = format!("spread-{i:02}");
            let announced = assigned_hub(&emulator, &dev).await;
            let hub = emulator.device_hub(&dev).unwrap();
            assert_eq!(announced, hubs[hub].assigned_hub, "{dev}");
            assert_eq!(emulator.device(&dev).unwrap().assigned_hub, announced);
            used[hub] += 1;
        }
        assert!(
            used.iter().filter(|n| **n > 0).count() >= 2,
            "12 devices all on one hub: {used:?}"
        );
        // A device connects to its own hub, and every other hub refuses it.
        for i in 0..3 {
            let dev = format!("spread-{i:02}");
            let home = emulator.device_hub(&dev).unwrap();
            let mut conn = open_hub(&emulator, home, &dev);
            conn.connack().await.unwrap();
            for other in (0..3).filter(|h| *h != home) {
                assert_refused(&emulator, other, &dev).await;
            }
            assert!(emulator.device(&dev).unwrap().connected);
            let _ = conn.client.disconnect().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn failover_closes_refuses_reassigns_and_failback_restores() {
    timeout(Duration::from_secs(120), async {
        let emulator = start_hubs(2).await;
        let hubs = emulator.hubs();
        let dev = "failover-dev";
        let first = assigned_hub(&emulator, dev).await;
        assert_eq!(emulator.dps_registrations(dev), 1);
        let home = emulator.device_hub(dev).unwrap();
        assert_eq!(first, hubs[home].assigned_hub);
        let mut conn = open_hub(&emulator, home, dev);
        conn.connack().await.unwrap();
        conn.client
            .publish(
                format!("devices/{dev}/messages/events/"),
                QoS::AtLeastOnce,
                false,
                "{}",
            )
            .await
            .unwrap();

        // Failover: the connection closes, the home hub refuses, DPS assigns the other hub.
        let other = emulator.manual_failover(dev).unwrap();
        assert_ne!(other, home);
        conn.closed().await;
        let info = emulator.device(dev).unwrap();
        assert_eq!(info.hub, other);
        assert_eq!(info.assigned_hub, hubs[other].assigned_hub);
        assert_refused(&emulator, home, dev).await;
        let second = assigned_hub(&emulator, dev).await;
        assert_eq!(second, hubs[other].assigned_hub);
        assert_eq!(emulator.dps_registrations(dev), 2);
        let mut moved = open_hub(&emulator, other, dev);
        moved.connack().await.unwrap();
        let info = emulator.device(dev).unwrap();
        assert!(info.connected);
        assert_eq!(info.hub, other);
        // The registration record names the new hub too.
        let reg = emulator
            .registrations()
            .into_iter()
            .find(|r| r.registration_id == dev)
            .unwrap();
        assert_eq!(reg.assigned_hub, hubs[other].assigned_hub);

        // Failback: the connection on the other hub closes, that hub refuses, DPS assigns home.
        assert_eq!(emulator.manual_failback(dev).unwrap(), home);
        moved.closed().await;
        assert_refused(&emulator, other, dev).await;
        assert_eq!(assigned_hub(&emulator, dev).await, hubs[home].assigned_hub);
        let mut back = open_hub(&emulator, home, dev);
        back.connack().await.unwrap();
        assert_eq!(emulator.device(dev).unwrap().hub, home);
        assert_eq!(emulator.dps_registrations(dev), 3);
        // A failback of a device that is home changes nothing and keeps its connection.
        assert_eq!(emulator.manual_failback(dev).unwrap(), home);
        assert!(emulator.device(dev).unwrap().connected);
        let _ = back.client.disconnect().await;
    })
    .await
    .unwrap();
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn service_endpoints_fail_over_and_back() {
    timeout(Duration::from_secs(120), async {
        let emulator = start_hubs(2).await;
        let server =
            iotc_emulator::service_http::serve(emulator.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let addr = server.local_addr();
        let dev = "rest-failover";
        assigned_hub(&emulator, dev).await;
        let home = emulator.device_hub(dev).unwrap();
        let mut conn = open_hub(&emulator, home, dev);
        conn.connack().await.unwrap();

        let (status, body) = http(addr, "GET", "/hubs", &[], "").await;
        assert_eq!(status, 200);
        let hubs = json_of(&body);
        assert_eq!(hubs.as_array().unwrap().len(), 2);
        assert_eq!(hubs[1]["hostname"], "127.0.0.2");

        let (status, body) = http(addr, "GET", &format!("/devices/{dev}"), &[], "").await;
        assert_eq!(status, 200);
        let device = json_of(&body);
        assert_eq!(device["connected"], true);
        assert_eq!(device["assignedHub"], hubs[home]["assignedHub"]);

        let (status, body) = http(addr, "POST", &format!("/devices/{dev}/failover"), &[], "").await;
        assert_eq!(status, 200, "{body}");
        let moved = json_of(&body);
        let other = 1 - home;
        assert_eq!(moved["hub"], other);
        assert_eq!(moved["assignedHub"], hubs[other]["assignedHub"]);
        conn.closed().await;
        // The hub unregisters the connection right after closing it: wait for that.
        let device = loop {
            let (_, body) = http(addr, "GET", &format!("/devices/{dev}"), &[], "").await;
            let device = json_of(&body);
            if device["connected"] == false {
                break device;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(device["assignedHub"], hubs[other]["assignedHub"]);

        let (status, body) = http(addr, "POST", &format!("/devices/{dev}/failback"), &[], "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(json_of(&body)["hub"], home);
        let (_, body) = http(addr, "GET", &format!("/devices/{dev}"), &[], "").await;
        assert_eq!(json_of(&body)["assignedHub"], hubs[home]["assignedHub"]);

        let (status, body) = http(
            addr,
            "GET",
            &format!("/faults/registrations/{dev}/dps-registrations"),
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(json_of(&body)["registrations"], 1);

        let (status, _) = http(addr, "POST", "/devices/nobody/failover", &[], "").await;
        assert_eq!(status, 404);
        let (status, _) = http(addr, "POST", "/devices/nobody/failback", &[], "").await;
        assert_eq!(status, 404);
    })
    .await
    .unwrap();
}
