//! IoT Central's REST API (`/api`, api-version 2022-07-31) over the real loopback socket,
//! against devices connected over MQTT/TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{http, hub_client, provision, provision_with, start_with_api, Api, Client, TestCa};
use rumqttc::QoS;
use serde_json::{json, Value};
use tokio::time::timeout;

/// A request with the API token; returns status and JSON body (`Null` when empty).
fn thermostat() -> Value {
    json!({
        "@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface",
        "displayName": "Thermostat",
        "contents": [
            {"@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double", "unit": "degreeCelsius"},
            {"@type": "Property", "name": "targetTemperature", "schema": "double", "writable": true},
            {"@type": "Property", "name": "maxTempSinceLastReboot", "schema": "double"},
            {"@type": "Command", "name": "getMaxMinReport",
             "request": {"name": "since", "schema": "dateTime"},
             "response": {"name": "tempReport", "schema": {"@type": "Object", "fields": [
                 {"name": "maxTemp", "schema": "double"}]}}},
            {"@type": "Command", "name": "reboot", "durable": true,
             "request": {"name": "delay", "schema": "integer"}}
        ]
    })
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["requestId"].is_string(), "{body}");
}

async fn connected_device(emulator: &iotc_emulator::Emulator, dev: &str) -> Client {
    let key = emulator.derive_device_key(dev);
    provision(emulator, dev, &key).await;
    let mut hub = hub_client(emulator, dev, &key, 3600);
    hub.connack().await.unwrap();
    for f in [
        "$iothub/methods/POST/#",
        "$iothub/twin/PATCH/properties/desired/#",
        "$iothub/twin/res/#",
    ] {
        hub.client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
        hub.suback().await;
    }
    hub
}

#[tokio::test]
async fn tokens_errors_and_templates() {
    timeout(Duration::from_secs(60), async {
        let (_emulator, server, api) = start_with_api().await;
        assert!(api.token.starts_with("SharedAccessSignature sr="));

        // No token, a wrong token: 401 in IoT Central's shape.
        let (status, body) = http(server.local_addr(), "GET", "/api/devices", &[], "").await;
        assert_error(
            status,
            &serde_json::from_str(&body).unwrap(),
            401,
            "Unauthorized",
        );
        let (status, body) = http(
            server.local_addr(),
            "GET",
            "/api/devices",
            &[(
                "authorization",
                "SharedAccessSignature sr=x&sig=y&skn=z&se=1",
            )],
            "",
        )
        .await;
        assert_error(
            status,
            &serde_json::from_str(&body).unwrap(),
            401,
            "Unauthorized",
        );

        // A template document that wraps the model.
        let doc = json!({"@type": ["ModelDefinition", "DeviceModel"], "displayName": "Thermostat",
            "capabilityModel": thermostat()});
        let (status, body) = api
            .call(
                "PUT",
                "/api/deviceTemplates/dtmi:contoso:thermostatTemplate;1",
                Some(doc),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["@id"], "dtmi:contoso:thermostatTemplate;1");
        assert_eq!(
            body["capabilityModel"]["@id"],
            "dtmi:com:example:Thermostat;1"
        );

        // A malformed template is refused with the reason; the others stay.
        let mut bad = thermostat();
        bad["@id"] = json!("dtmi:com:example:Broken;1");
        bad["contents"][0]["schema"] = json!("dobule");
        let (status, body) = api
            .call(
                "PUT",
                "/api/deviceTemplates/dtmi:com:example:Broken;1",
                Some(bad),
            )
            .await;
        assert_error(status, &body, 400, "BadRequest");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("contents[0] (`temperature`): unknown schema `dobule`"),
            "{message}"
        );
        let (status, body) = api
            .call("PUT", "/api/deviceTemplates/x", Some(json!("not a model")))
            .await;
        assert_error(status, &body, 400, "BadRequest");
        let (status, body) = api.call("GET", "/api/deviceTemplates", None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["@id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["dtmi:contoso:thermostatTemplate;1"]);

        // Plain DTDL is wrapped; get, delete.
        let mut plain = thermostat();
        plain["@id"] = json!("dtmi:com:example:Plain;1");
        let (status, body) = api
            .call(
                "PUT",
                "/api/deviceTemplates/dtmi:com:example:Plain;1",
                Some(plain),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["capabilityModel"]["@id"], "dtmi:com:example:Plain;1");
        assert_eq!(body["@type"], json!(["ModelDefinition", "DeviceModel"]));
        let (status, _) = api
            .call(
                "DELETE",
                "/api/deviceTemplates/dtmi:com:example:Plain;1",
                None,
            )
            .await;
        assert_eq!(status, 204);
        let (status, body) = api
            .call("GET", "/api/deviceTemplates/dtmi:com:example:Plain;1", None)
            .await;
        assert_error(status, &body, 404, "NotFound");

        // Unknown devices and operations.
        let (status, body) = api.call("GET", "/api/devices/nobody", None).await;
        assert_error(status, &body, 404, "NotFound");
        let (status, body) = api
            .call("GET", "/api/devices/nobody/properties", None)
            .await;
        assert_error(status, &body, 404, "NotFound");
        let (status, body) = api
            .call(
                "POST",
                "/api/devices/nobody/commands/reboot",
                Some(json!({})),
            )
            .await;
        assert_error(status, &body, 404, "NotFound");
        let (status, body) = api.call("GET", "/api/nothing-here", None).await;
        assert_error(status, &body, 404, "NotFound");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn devices_properties_commands_telemetry() {
    timeout(Duration::from_secs(90), async {
        let (emulator, _server, api) = start_with_api().await;
        let doc = json!({"displayName": "Thermostat", "capabilityModel": thermostat()});
        let (status, _) = api.call("PUT", "/api/deviceTemplates/thermostat-template", Some(doc)).await;
        assert_eq!(status, 200);

        // Devices made through the API, paged.
        for id in ["api-a", "api-b", "api-c"] {
            let (status, body) = api
                .call("PUT", &format!("/api/devices/{id}"), Some(json!({"displayName": id.to_uppercase(), "template": "thermostat-template"})))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["provisioned"], false);
            assert_eq!(body["template"], "thermostat-template");
        }
        let (status, body) = api.call("PUT", "/api/devices/api-x", Some(json!({"template": "no-such"}))).await;
        assert_error(status, &body, 400, "BadRequest");
        let (_, page1) = api.call("GET", "/api/devices?maxpagesize=2", None).await;
        assert_eq!(page1["value"].as_array().unwrap().len(), 2);
        let next = page1["nextLink"].as_str().unwrap();
        let path = next.split_once("localhost").unwrap().1;
        let (status, body) = http(api.addr, "GET", path, &[("authorization", &api.token)], "").await;
        assert_eq!(status, 200);
        let page2: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(page2["value"][0]["id"], "api-c");
        assert!(page2.get("nextLink").is_none());
        let (status, body) = api.call("PATCH", "/api/devices/api-a", Some(json!({"displayName": "A"}))).await;
        assert_eq!((status, body["displayName"].clone()), (200, json!("A")));
        let (status, _) = api.call("DELETE", "/api/devices/api-b", None).await;
        assert_eq!(status, 204);
        let (status, _) = api.call("GET", "/api/devices/api-b", None).await;
        assert_eq!(status, 404);

        // A provisioned device is assigned to the template of its model id.
        let dev = "central-dev";
        let mut hub = connected_device(&emulator, dev).await;
        let (status, body) = api.call("GET", &format!("/api/devices/{dev}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body["provisioned"], true);
        assert_eq!(body["template"], "thermostat-template");
        // The emulator's extension: the transport of the device's last connection.
        assert_eq!(body["protocol"], "MQTT", "{body}");
        let (_, never) = api.call("GET", "/api/devices/api-a", None).await;
        assert!(never.get("protocol").is_none(), "{never}");
        let (_, body) = api.call("GET", &format!("/api/devices/{dev}/attestation"), None).await;
        assert_eq!(body["type"], "symmetricKey");
        assert_eq!(body["symmetricKey"]["primaryKey"], emulator.derive_device_key(dev));

        // A writable property reaches the device; its acknowledgement shows in $metadata.
        let (status, body) = api
            .call("PATCH", &format!("/api/devices/{dev}/properties"), Some(json!({"targetTemperature": 25.5})))
            .await;
        assert_eq!(status, 200, "{body}");
        let p = hub.publish_on("$iothub/twin/PATCH/properties/desired/").await;
        let patch: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(patch["targetTemperature"], 25.5);
        let av = patch["$version"].as_u64().unwrap();
        hub.client
            .publish(
                "$iothub/twin/PATCH/properties/reported/?$rid=7",
                QoS::AtLeastOnce,
                false,
                json!({"targetTemperature": {"value": 25.5, "ac": 200, "av": av, "ad": "done"}, "maxTempSinceLastReboot": 30.0}).to_string(),
            )
            .await
            .unwrap();
        hub.publish_on("$iothub/twin/res/204/").await;
        let (_, props) = api.call("GET", &format!("/api/devices/{dev}/properties"), None).await;
        assert_eq!(props["targetTemperature"], 25.5);
        assert_eq!(props["maxTempSinceLastReboot"], 30.0);
        assert_eq!(props["$metadata"]["targetTemperature"]["ackCode"], 200);
        assert_eq!(props["$metadata"]["targetTemperature"]["ackVersion"], av);
        assert_eq!(props["$metadata"]["targetTemperature"]["ackDescription"], "done");
        assert_eq!(props["$metadata"]["targetTemperature"]["desiredValue"], 25.5);

        // A command answered by the device, then in the history.
        let run = {
            let api = Api { addr: api.addr, token: api.token.clone() };
            tokio::spawn(async move {
                api.call("POST", "/api/devices/central-dev/commands/getMaxMinReport", Some(json!({"request": "2024-01-01T00:00:00Z"}))).await
            })
        };
        let p = hub.publish_on("$iothub/methods/POST/getMaxMinReport/").await;
        assert_eq!(serde_json::from_slice::<Value>(&p.payload).unwrap(), json!("2024-01-01T00:00:00Z"));
        let rid = p.topic.rsplit('=').next().unwrap().to_owned();
        hub.client
            .publish(format!("$iothub/methods/res/200/?$rid={rid}"), QoS::AtLeastOnce, false, r#"{"maxTemp":31.5}"#)
            .await
            .unwrap();
        let (status, body) = run.await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["responseCode"], 200);
        assert_eq!(body["response"], json!({"maxTemp": 31.5}));
        let (_, history) = api.call("GET", &format!("/api/devices/{dev}/commands/getMaxMinReport"), None).await;
        assert_eq!(history["value"][0]["id"], body["id"]);
        assert_eq!(history["value"][0]["request"], "2024-01-01T00:00:00Z");

        // A device that does not answer: IoT Central's timeout status.
        let (status, body) = api
            .call("POST", &format!("/api/devices/{dev}/commands/getMaxMinReport"), Some(json!({"responseTimeout": 1})))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["responseCode"], 504);
        hub.publish_on("$iothub/methods/POST/getMaxMinReport/").await;

        // Unknown command of the template; bad timeouts.
        let (status, body) = api.call("POST", &format!("/api/devices/{dev}/commands/selfDestruct"), Some(json!({}))).await;
        assert_error(status, &body, 404, "NotFound");
        let (status, body) = api
            .call("POST", &format!("/api/devices/{dev}/commands/reboot"), Some(json!({"responseTimeout": 99})))
            .await;
        assert_error(status, &body, 400, "BadRequest");

        // Telemetry last known value.
        hub.client
            .publish(format!("devices/{dev}/messages/events/"), QoS::AtLeastOnce, false, r#"{"temperature":21.5}"#)
            .await
            .unwrap();
        let mut last = (0, Value::Null);
        for _ in 0..100 {
            last = api.call("GET", &format!("/api/devices/{dev}/telemetry/temperature"), None).await;
            if last.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(last.1["value"], 21.5, "{:?}", last);
        assert!(last.1["timestamp"].is_string());
        let (status, body) = api.call("GET", &format!("/api/devices/{dev}/telemetry/humidity"), None).await;
        assert_error(status, &body, 404, "NotFound");

        // Offline device, "Queue if offline" command: queued as a C2D message.
        let (status, body) = api
            .call("POST", "/api/devices/api-a/commands/reboot", Some(json!({"request": 5})))
            .await;
        assert_eq!(status, 404, "api-a is not provisioned yet, so the hub cannot queue: {body}");
        assert!(emulator.disconnect_device(dev));
        hub.closed().await;
        let mut offline = false;
        for _ in 0..100 {
            if !emulator.device(dev).unwrap().connected {
                offline = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(offline);
        let (status, body) = api
            .call("POST", &format!("/api/devices/{dev}/commands/reboot"), Some(json!({"request": 5})))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["responseCode"], 202);
        assert_eq!(emulator.pending_c2d(dev), 1);
        // A standard command to the offline device: not online within connectionTimeout.
        let (status, body) = api
            .call("POST", &format!("/api/devices/{dev}/commands/getMaxMinReport"), Some(json!({"connectionTimeout": 1})))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["responseCode"], 404);

        // Relationships: made through the API, listed from both ends.
        let (status, body) = api
            .call("PUT", &format!("/api/devices/{dev}/relationships/rel-1"), Some(json!({"target": "api-a"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, list) = api.call("GET", "/api/devices/api-a/relationships", None).await;
        assert_eq!(list["value"][0], json!({"id": "rel-1", "source": dev, "target": "api-a"}));
        let (status, _) = api.call("DELETE", &format!("/api/devices/{dev}/relationships/rel-1"), None).await;
        assert_eq!(status, 204);

        // A disabled (blocked) device is refused by the hub; enabled again, it connects.
        let (status, body) = api.call("PATCH", &format!("/api/devices/{dev}"), Some(json!({"enabled": false}))).await;
        assert_eq!((status, body["enabled"].clone()), (200, json!(false)));
        let key = emulator.derive_device_key(dev);
        let mut blocked = hub_client(&emulator, dev, &key, 3600);
        assert!(blocked.connack().await.is_err(), "a blocked device must be refused");
        let (status, _) = api.call("PATCH", &format!("/api/devices/{dev}"), Some(json!({"enabled": true}))).await;
        assert_eq!(status, 200);
        let mut again = hub_client(&emulator, dev, &key, 3600);
        again.connack().await.unwrap();
    })
    .await
    .unwrap();
}

/// Whether DPS accepts `reg`'s CONNECT with a registration token of `key`.
async fn dps_accepts(emulator: &iotc_emulator::Emulator, reg: &str, key: &str) -> bool {
    let scope = emulator.id_scope();
    let pass = common::sas_token(
        &format!("{scope}/registrations/{reg}"),
        key,
        Some("registration"),
        3600,
    );
    let user = format!("{scope}/registrations/{reg}/api-version=2021-06-01");
    let mut dps = Client::connect(emulator, reg, emulator.dps_addr().port(), &user, &pass);
    dps.connack().await.is_ok()
}

#[tokio::test]
async fn enrollment_groups_enroll_x509_devices() {
    timeout(Duration::from_secs(60), async {
        let (emulator, _server, api) = start_with_api().await;
        let (_, list) = api.call("GET", "/api/enrollmentGroups", None).await;
        assert_eq!(list["value"][0]["id"], "SAS-IoT-Devices");
        assert_eq!(list["value"][0]["attestation"]["symmetricKey"]["primaryKey"], emulator.group_key());

        // More SAS groups, each with its own keys: generated as IoT Central does, or given.
        let (status, body) = api
            .call("PUT", "/api/enrollmentGroups/more-sas", Some(json!({"displayName": "s", "type": "iot", "attestation": {"type": "symmetricKey"}})))
            .await;
        assert_eq!(status, 200, "{body}");
        let generated = body["attestation"]["symmetricKey"]["primaryKey"].as_str().unwrap().to_owned();
        assert_eq!(B64.decode(&generated).unwrap().len(), 64);
        assert_ne!(generated, emulator.group_key());
        let (primary, secondary) = (B64.encode([7u8; 64]), B64.encode([9u8; 64]));
        let keys = json!({"primaryKey": primary, "secondaryKey": secondary});
        let (status, body) = api
            .call("PUT", "/api/enrollmentGroups/line-2", Some(json!({"displayName": "Line 2", "attestation": {"type": "symmetricKey", "symmetricKey": keys}})))
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = api.call("GET", "/api/enrollmentGroups/line-2", None).await;
        assert_eq!(body["attestation"]["symmetricKey"], keys, "{body}");
        let (_, list) = api.call("GET", "/api/enrollmentGroups", None).await;
        let ids: Vec<&str> = list["value"].as_array().unwrap().iter().filter_map(|g| g["id"].as_str()).collect();
        assert!(ids.contains(&"more-sas") && ids.contains(&"line-2") && ids.contains(&"SAS-IoT-Devices"), "{list}");
        let (status, body) = api
            .call("PUT", "/api/enrollmentGroups/bad-key", Some(json!({"displayName": "b", "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": "not a key!"}}})))
            .await;
        assert_error(status, &body, 400, "BadRequest");
        let (status, body) = api
            .call("PATCH", "/api/enrollmentGroups/line-2", Some(json!({"attestation": {"type": "x509"}})))
            .await;
        assert_error(status, &body, 400, "BadRequest");

        // A device whose key derives from the second group's primary (or secondary) key
        // provisions through that group and connects to the hub with that key.
        for (dev, group_key) in [("line2-dev", &primary), ("line2-dev-b", &secondary)] {
            let key = common::hmac_b64(group_key, dev);
            let reg = provision(&emulator, dev, &key).await;
            assert_eq!(reg["status"], "assigned", "{reg}");
            assert_eq!(reg["registrationState"]["symmetricKey"]["enrollmentGroupId"], "line-2", "{reg}");
            let mut hub = hub_client(&emulator, dev, &key, 3600);
            hub.connack().await.unwrap();
            let info = emulator.device(dev).unwrap();
            assert_eq!(info.enrollment_group.as_deref(), Some("line-2"));
        }
        assert_eq!(
            emulator.derive_group_device_key("line-2", "line2-dev"),
            Some(common::hmac_b64(&primary, "line2-dev"))
        );
        // A key of no group is refused; so is the second group's once it is deleted.
        let stranger = common::hmac_b64(&B64.encode([1u8; 64]), "stranger");
        assert!(!dps_accepts(&emulator, "stranger", &stranger).await);
        let (status, _) = api.call("DELETE", "/api/enrollmentGroups/line-2", None).await;
        assert_eq!(status, 204);
        assert!(!dps_accepts(&emulator, "line2-late", &common::hmac_b64(&primary, "line2-late")).await);
        // The default group still works.
        assert!(dps_accepts(&emulator, "default-dev", &emulator.derive_device_key("default-dev")).await);

        // An X.509 group, its CA set through the API (base64 DER), enrolls a device.
        let (status, body) = api
            .call("PUT", "/api/enrollmentGroups/factory", Some(json!({"displayName": "Factory", "type": "iot", "attestation": {"type": "x509"}})))
            .await;
        assert_eq!(status, 200, "{body}");
        let ca = TestCa::new("factory CA");
        let (status, body) = api
            .call("PUT", "/api/enrollmentGroups/factory/certificates/primary", Some(json!({"certificate": B64.encode(&ca.der), "verified": true})))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["verified"], true);
        assert_eq!(body["info"]["sha1Thumbprint"].as_str().unwrap().len(), 40);
        let leaf = ca.leaf("x509-dev").p12;
        let reg = provision_with(&emulator, "x509-dev", None, Some(leaf)).await;
        assert_eq!(reg["status"], "assigned", "{reg}");
        let (_, att) = api.call("GET", "/api/devices/x509-dev/attestation", None).await;
        assert_eq!(att["type"], "x509");

        // Deleting the group stops new enrollments through it.
        let (status, _) = api.call("DELETE", "/api/enrollmentGroups/factory", None).await;
        assert_eq!(status, 204);
        let (status, _) = api.call("GET", "/api/enrollmentGroups/factory", None).await;
        assert_eq!(status, 404);
        let (status, body) = api.call("GET", "/api/enrollmentGroups/factory/certificates/primary", None).await;
        assert_error(status, &body, 404, "NotFound");
    })
    .await
    .unwrap();
}
