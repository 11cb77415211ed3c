//! `--state-dir`: enrollments, registrations, twins, templates and IoT Central's records
//! survive a restart of the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{http, hub_client, provision, start_with};
use iotc_emulator::{Central, EmulatorConfig};
use serde_json::{json, Value};
use tokio::time::timeout;

async fn call(
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, out) = http(addr, method, path, &[("authorization", token)], &text).await;
    (status, serde_json::from_str(&out).unwrap_or(Value::Null))
}

#[tokio::test]
async fn state_survives_a_restart() {
    timeout(Duration::from_secs(60), async {
        let dir = std::env::temp_dir().join(format!("iotc-central-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let model = json!({"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Thermostat;1",
            "@type": "Interface", "contents": [
                {"@type": "Property", "name": "targetTemperature", "schema": "double", "writable": true}]});
        let dev = "kept-dev";
        {
            let emulator = start_with(EmulatorConfig {
                dps_retry_after: Duration::ZERO,
                ..EmulatorConfig::default()
            })
            .await;
            let central = Central::new(emulator.clone(), Some("token-1".into()));
            central.keep_state_in(&dir).unwrap();
            let server = iotc_emulator::service_http::serve_central(central.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let addr = server.local_addr();
            let (status, _) = call(addr, "token-1", "PUT", "/api/deviceTemplates/tpl?api-version=2022-07-31",
                json!({"displayName": "T", "capabilityModel": model})).await;
            assert_eq!(status, 200);
            let (status, _) = call(addr, "token-1", "PUT", "/api/devices/made-by-api?api-version=2022-07-31",
                json!({"displayName": "Made", "template": "tpl"})).await;
            assert_eq!(status, 200);
            let (status, body) = call(addr, "token-1", "PUT", "/api/enrollmentGroups/line-2?api-version=2022-07-31",
                json!({"displayName": "Line 2", "attestation": {"type": "symmetricKey"}})).await;
            assert_eq!(status, 200, "{body}");
            let key = emulator.derive_device_key(dev);
            provision(&emulator, dev, &key).await;
            let (status, body) = call(addr, "token-1", "PATCH", &format!("/api/devices/{dev}/properties?api-version=2022-07-31"),
                json!({"targetTemperature": 19.5})).await;
            assert_eq!(status, 200, "{body}");
            central.save_state(&dir).unwrap();
        }

        // A new emulator on the same directory: same scope and key, same records.
        let (scope, key) = iotc_emulator::central::saved_identity(&dir).unwrap().unwrap();
        let emulator = start_with(EmulatorConfig {
            id_scope: Some(scope),
            group_key: Some(key),
            dps_retry_after: Duration::ZERO,
            ..EmulatorConfig::default()
        })
        .await;
        let central = Central::new(emulator.clone(), Some("token-2".into()));
        central.keep_state_in(&dir).unwrap();
        let server = iotc_emulator::service_http::serve_central(central, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = server.local_addr();
        let (status, body) = call(addr, "token-2", "GET", &format!("/api/devices/{dev}?api-version=2022-07-31"), Value::Null).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["provisioned"], true);
        assert_eq!(body["template"], "tpl");
        let (_, body) = call(addr, "token-2", "GET", "/api/devices/made-by-api?api-version=2022-07-31", Value::Null).await;
        assert_eq!(body["displayName"], "Made");
        let (_, props) = call(addr, "token-2", "GET", &format!("/api/devices/{dev}/properties?api-version=2022-07-31"), Value::Null).await;
        assert_eq!(props["targetTemperature"], 19.5);
        // The registration is kept: the hub takes the device without a new DPS round.
        let mut hub = hub_client(&emulator, dev, &emulator.derive_device_key(dev), 3600);
        hub.connack().await.unwrap();
        // The second SAS group is kept with its keys: a new device of it provisions.
        let (_, group) = call(addr, "token-2", "GET", "/api/enrollmentGroups/line-2?api-version=2022-07-31", Value::Null).await;
        let group_key = group["attestation"]["symmetricKey"]["primaryKey"].as_str().unwrap();
        let reg = provision(&emulator, "line2-new", &common::hmac_b64(group_key, "line2-new")).await;
        assert_eq!(reg["registrationState"]["symmetricKey"]["enrollmentGroupId"], "line-2", "{reg}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .unwrap();
}
