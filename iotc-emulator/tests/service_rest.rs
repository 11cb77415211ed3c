//! The REST service API against a device connected over MQTT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{http, hub_client, provision, start};
use rumqttc::QoS;
use serde_json::{json, Value};
use tokio::time::timeout;

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn rest_routes() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let server = iotc_emulator::service_http::serve(emulator.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = server.local_addr();
        let dev = "rest-dev";
        let key = emulator.derive_device_key(dev);
        provision(&emulator, dev, &key).await;
        let mut hub = hub_client(&emulator, dev, &key, 3600);
        hub.connack().await.unwrap();
        for f in [
            "$iothub/methods/POST/#",
            "$iothub/twin/PATCH/properties/desired/#",
            "devices/rest-dev/messages/devicebound/#",
        ] {
            hub.client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
            hub.suback().await;
        }

        let (status, body) = http(addr, "GET", "/", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(json_of(&body)["idScope"], emulator.id_scope());

        let (status, body) = http(addr, "GET", "/devices", &[], "").await;
        assert_eq!(status, 200);
        let devices = json_of(&body);
        assert_eq!(devices[0]["deviceId"], dev);
        assert_eq!(devices[0]["connected"], true);

        let (status, body) = http(addr, "GET", "/registrations", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(json_of(&body)[0]["status"], "assigned");

        // Twin read and desired patch (pushed to the device).
        let (status, body) = http(addr, "GET", "/twins/rest-dev", &[], "").await;
        assert_eq!(status, 200);
        let twin = json_of(&body);
        assert_eq!(twin["deviceId"], dev);
        assert_eq!(twin["modelId"], "dtmi:com:example:Thermostat;1");
        assert_eq!(twin["properties"]["desired"]["$version"], 1);
        let (status, body) = http(
            addr,
            "PATCH",
            "/twins/rest-dev",
            &[("content-type", "application/json")],
            r#"{"properties":{"desired":{"targetTemperature":25}}}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(json_of(&body)["properties"]["desired"]["targetTemperature"], 25);
        let p = hub.publish_on("$iothub/twin/PATCH/properties/desired/").await;
        assert_eq!(
            serde_json::from_slice::<Value>(&p.payload).unwrap(),
            json!({"targetTemperature":25,"$version":2})
        );

        // Direct method through REST, answered by the device.
        let invoke = tokio::spawn(async move {
            http(
                addr,
                "POST",
                "/twins/rest-dev/methods",
                &[("content-type", "application/json")],
                r#"{"methodName":"getMaxMinReport","payload":"2024-01-01T00:00:00Z","responseTimeoutInSeconds":10}"#,
            )
            .await
        });
        let p = hub.publish_on("$iothub/methods/POST/getMaxMinReport/").await;
        let rid = p.topic.rsplit('=').next().unwrap().to_owned();
        hub.client
            .publish(format!("$iothub/methods/res/200/?$rid={rid}"), QoS::AtLeastOnce, false, r#"{"max":30}"#)
            .await
            .unwrap();
        let (status, body) = invoke.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(json_of(&body), json!({"status":200,"payload":{"max":30}}));

        // C2D with headers.
        let (status, _) = http(
            addr,
            "POST",
            "/devices/rest-dev/messages/devicebound",
            &[("iothub-messageid", "m-7"), ("iothub-app-method-name", "Reboot")],
            "@",
        )
        .await;
        assert_eq!(status, 204);
        let p = hub.publish_on("devices/rest-dev/messages/devicebound/").await;
        assert!(p.topic.contains("%24.mid=m-7"));
        assert!(p.topic.ends_with("&method-name=Reboot"));
        assert_eq!(&p.payload[..], b"@");

        // Telemetry listing.
        hub.client
            .publish("devices/rest-dev/messages/events/", QoS::AtLeastOnce, false, r#"{"t":1}"#)
            .await
            .unwrap();
        let mut listed = Value::Null;
        for _ in 0..100 {
            let (_, body) = http(addr, "GET", "/devices/rest-dev/telemetry", &[], "").await;
            listed = json_of(&body);
            if listed.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(listed[0]["body"], json!({"t":1}));

        // Errors.
        let (status, body) = http(addr, "GET", "/twins/nobody", &[], "").await;
        assert_eq!(status, 404);
        assert_eq!(json_of(&body)["errorCode"], 404001);
        let (status, body) = http(
            addr,
            "POST",
            "/twins/rest-dev/methods",
            &[],
            r#"{"methodName":"x","responseTimeoutInSeconds":1}"#,
        )
        .await;
        assert_eq!(status, 400, "{body}");
    })
    .await
    .unwrap();
}
