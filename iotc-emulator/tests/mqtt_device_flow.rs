//! End-to-end: a raw rumqttc client provisions through DPS, connects to the hub and exercises
//! telemetry, twin, direct methods and C2D against an in-process emulator over loopback TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{hub_client, provision, sas_token, start, Client, T};
use iotc_emulator::{C2dMessage, ServiceError};
use rumqttc::{ConnectReturnCode, ConnectionError, QoS};
use serde_json::{json, Value};
use tokio::time::timeout;

#[tokio::test]
async fn provision_then_telemetry_twin_methods_c2d() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let dev = "thermostat-01";
        let key = emulator.derive_device_key(dev);
        let body = provision(&emulator, dev, &key).await;
        assert_eq!(body["status"], "assigned");
        let state = &body["registrationState"];
        assert_eq!(state["deviceId"], dev);
        assert_eq!(state["substatus"], "initialAssignment");
        assert_eq!(
            state["assignedHub"],
            format!("localhost:{}", emulator.hub_addr().port())
        );
        assert_eq!(state["symmetricKey"]["enrollmentGroupId"], "SAS-IoT-Devices");
        let regs = emulator.registrations();
        assert_eq!(regs.len(), 1);
        assert_eq!(regs[0].status, "assigned");

        let mut telemetry = emulator.telemetry();
        let mut hub = hub_client(&emulator, dev, &key, 3600);
        hub.connack().await.unwrap();
        for f in [
            "$iothub/methods/POST/#",
            "$iothub/twin/res/#",
            "$iothub/twin/PATCH/properties/desired/#",
            "devices/thermostat-01/messages/devicebound/#",
        ] {
            hub.client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
            let ack = hub.suback().await;
            assert_eq!(
                ack.return_codes,
                vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
            );
        }
        let info = emulator.devices();
        assert_eq!(info.len(), 1);
        assert!(info[0].connected);
        assert_eq!(info[0].model_id.as_deref(), Some("dtmi:com:example:Thermostat;1"));

        // Telemetry.
        hub.client
            .publish(
                "devices/thermostat-01/messages/events/%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&alert=yes",
                QoS::AtLeastOnce,
                false,
                r#"{"temperature":21.5}"#,
            )
            .await
            .unwrap();
        let msg = timeout(T, telemetry.recv()).await.unwrap().unwrap();
        assert_eq!(msg.device_id, dev);
        assert_eq!(msg.message_id(), Some("m1"));
        assert_eq!(msg.content_type(), Some("application/json"));
        assert_eq!(msg.component.as_deref(), Some("thermostat1"));
        assert_eq!(msg.body_json(), Some(json!({"temperature":21.5})));
        assert_eq!(msg.application_properties.get("alert").map(String::as_str), Some("yes"));
        assert_eq!(
            msg.system_properties.get("iothub-connection-device-id").map(String::as_str),
            Some(dev)
        );
        assert_eq!(emulator.recent_telemetry(dev).len(), 1);

        // Twin GET and reported PATCH.
        hub.client
            .publish("$iothub/twin/GET/?$rid=10", QoS::AtMostOnce, false, "")
            .await
            .unwrap();
        let p = hub.publish_on("$iothub/twin/res/").await;
        assert_eq!(p.topic, "$iothub/twin/res/200/?$rid=10");
        let twin: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(twin, json!({"desired":{"$version":1},"reported":{"$version":1}}));
        hub.client
            .publish(
                "$iothub/twin/PATCH/properties/reported/?$rid=11",
                QoS::AtLeastOnce,
                false,
                r#"{"maxTemp":30,"thermostat1":{"__t":"c","x":1}}"#,
            )
            .await
            .unwrap();
        let p = hub.publish_on("$iothub/twin/res/").await;
        assert_eq!(p.topic, "$iothub/twin/res/204/?$rid=11&$version=2");
        assert!(p.payload.is_empty());
        hub.client
            .publish("$iothub/twin/PATCH/properties/reported/?$rid=12", QoS::AtLeastOnce, false, "nope")
            .await
            .unwrap();
        let p = hub.publish_on("$iothub/twin/res/").await;
        assert_eq!(p.topic, "$iothub/twin/res/400/?$rid=12");
        let twin = emulator.twin(dev).unwrap();
        assert_eq!(twin.reported["maxTemp"], 30);
        assert_eq!(twin.reported["$version"], 2);

        // Desired push.
        let v = emulator
            .update_desired(dev, json!({"targetTemperature": 22}))
            .await
            .unwrap();
        assert_eq!(v, 2);
        let p = hub.publish_on("$iothub/twin/PATCH/properties/desired/").await;
        assert_eq!(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=2");
        let body: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(body, json!({"targetTemperature":22,"$version":2}));

        // Direct method: the device answers from a second task.
        let em = emulator.clone();
        let invoke = tokio::spawn(async move {
            em.invoke_command("thermostat-01", "reboot", json!({"delay":1}), Duration::from_secs(5))
                .await
        });
        let p = hub.publish_on("$iothub/methods/POST/").await;
        assert!(p.topic.starts_with("$iothub/methods/POST/reboot/?$rid="));
        assert_eq!(serde_json::from_slice::<Value>(&p.payload).unwrap(), json!({"delay":1}));
        let rid = p.topic.rsplit('=').next().unwrap().to_owned();
        hub.client
            .publish(
                format!("$iothub/methods/res/200/?$rid={rid}"),
                QoS::AtMostOnce,
                false,
                r#"{"ok":true}"#,
            )
            .await
            .unwrap();
        let answer = timeout(T, invoke).await.unwrap().unwrap().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.payload, json!({"ok":true}));
        let err = emulator
            .invoke_command(dev, "slow", Value::Null, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err, ServiceError::Timeout);
        assert_eq!(
            emulator
                .invoke_command("nobody", "x", Value::Null, Duration::from_secs(1))
                .await
                .unwrap_err()
                .status(),
            404
        );

        // C2D.
        let mut c2d = C2dMessage::new("hello");
        c2d.message_id = Some("c1".into());
        c2d.properties.insert("method-name".into(), "GenerateDiagnostics".into());
        emulator.send_c2d(dev, c2d).await.unwrap();
        let p = hub.publish_on("devices/thermostat-01/messages/devicebound/").await;
        assert_eq!(
            p.topic,
            "devices/thermostat-01/messages/devicebound/%24.mid=c1&%24.to=%2Fdevices%2Fthermostat-01%2Fmessages%2FdeviceBound&method-name=GenerateDiagnostics"
        );
        assert_eq!(&p.payload[..], b"hello");
        // rumqttc PUBACKs automatically; the queue empties.
        for _ in 0..50 {
            if emulator.pending_c2d(dev) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(emulator.pending_c2d(dev), 0);

        // Publishing to another device's topic closes the connection.
        hub.client
            .publish("devices/other/messages/events/", QoS::AtMostOnce, false, "x")
            .await
            .unwrap();
        hub.closed().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn refusals() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let scope = emulator.id_scope().to_owned();
        let dev = "dev-bad";
        let key = emulator.derive_device_key(dev);
        let user = format!("{scope}/registrations/{dev}/api-version=2021-06-01");

        // Wrong key → CONNACK 5.
        let wrong = B64.encode([7u8; 32]);
        let pass = sas_token(
            &format!("{scope}/registrations/{dev}"),
            &wrong,
            Some("registration"),
            3600,
        );
        let mut c = Client::connect(&emulator, dev, emulator.dps_addr().port(), &user, &pass);
        match c.connack().await {
            Err(ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(code, ConnectReturnCode::NotAuthorized)
            }
            other => panic!("expected refusal, got {other:?}"),
        }

        // Expired token → CONNACK 5.
        let pass = sas_token(
            &format!("{scope}/registrations/{dev}"),
            &key,
            Some("registration"),
            -600,
        );
        let mut c = Client::connect(&emulator, dev, emulator.dps_addr().port(), &user, &pass);
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // ClientId mismatch → CONNACK 2.
        let pass = sas_token(
            &format!("{scope}/registrations/{dev}"),
            &key,
            Some("registration"),
            3600,
        );
        let mut c = Client::connect(
            &emulator,
            "someone-else",
            emulator.dps_addr().port(),
            &user,
            &pass,
        );
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadClientId
            ))
        ));

        // Unknown ID scope → connect accepted, register answered 404.
        let user404 = format!("0neNOPE/registrations/{dev}/api-version=2021-06-01");
        let pass404 = sas_token(
            &format!("0neNOPE/registrations/{dev}"),
            &key,
            Some("registration"),
            3600,
        );
        let mut c = Client::connect(
            &emulator,
            dev,
            emulator.dps_addr().port(),
            &user404,
            &pass404,
        );
        c.connack().await.unwrap();
        let p = c
            .dps_register("9", json!({"registrationId": dev}), QoS::AtLeastOnce)
            .await;
        assert_eq!(p.topic, "$dps/registrations/res/404/?$rid=9");
        let body: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(body["errorCode"], 404002);

        // Hub connect of a device that never provisioned → CONNACK 5.
        let mut hub = hub_client(&emulator, dev, &key, 3600);
        assert!(matches!(
            hub.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // Individual enrollment wins over the group: the derived key no longer works.
        let own = B64.encode([9u8; 32]);
        emulator.add_individual_enrollment("dev-ind", &own).unwrap();
        let body = provision(&emulator, "dev-ind", &own).await;
        assert_eq!(body["status"], "assigned");
        assert!(body["registrationState"].get("symmetricKey").is_none());
        let mut hub = hub_client(
            &emulator,
            "dev-ind",
            &emulator.derive_device_key("dev-ind"),
            3600,
        );
        assert!(hub.connack().await.is_err());
        let mut hub = hub_client(&emulator, "dev-ind", &own, 3600);
        hub.connack().await.unwrap();

        // A second connection closes the first one; re-register gives reprovisioned substatus.
        let mut hub2 = hub_client(&emulator, "dev-ind", &own, 3600);
        hub2.connack().await.unwrap();
        hub.closed().await;
        let body = provision(&emulator, "dev-ind", &own).await;
        assert_eq!(
            body["registrationState"]["substatus"],
            "reprovisionedToInitialAssignment"
        );
        // Unsupported filter → SUBACK failure.
        hub2.client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        let ack = hub2.suback().await;
        assert_eq!(
            ack.return_codes,
            vec![rumqttc::SubscribeReasonCode::Failure]
        );
        // Not subscribed to methods → DeviceNotOnline.
        let err = emulator
            .invoke_command("dev-ind", "reboot", Value::Null, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, ServiceError::DeviceNotOnline("dev-ind".into()));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn c2d_queued_until_subscribed() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let dev = "queue-dev";
        let key = emulator.derive_device_key(dev);
        provision(&emulator, dev, &key).await;
        emulator
            .send_c2d(dev, C2dMessage::new("one"))
            .await
            .unwrap();
        emulator
            .send_c2d(dev, C2dMessage::new("two"))
            .await
            .unwrap();
        assert_eq!(emulator.pending_c2d(dev), 2);
        let mut hub = hub_client(&emulator, dev, &key, 3600);
        hub.connack().await.unwrap();
        hub.client
            .subscribe("devices/+/messages/devicebound/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let p1 = hub
            .publish_on("devices/queue-dev/messages/devicebound/")
            .await;
        let p2 = hub
            .publish_on("devices/queue-dev/messages/devicebound/")
            .await;
        assert_eq!(
            (&p1.payload[..], &p2.payload[..]),
            (&b"one"[..], &b"two"[..])
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn separate_hub_listener() {
    timeout(Duration::from_secs(60), async {
        let emulator = iotc_emulator::Emulator::start(iotc_emulator::EmulatorConfig {
            hub_listen: Some("127.0.0.1:0".parse().unwrap()),
            dps_retry_after: Duration::ZERO,
            dps_polls_before_assign: 3,
            ..Default::default()
        })
        .await
        .unwrap();
        assert_ne!(emulator.dps_addr(), emulator.hub_addr());
        let dev = "split-dev";
        let key = emulator.derive_device_key(dev);
        // provision() polls once; with 3 polls needed the first poll is still 202.
        let scope = emulator.id_scope().to_owned();
        let user = format!("{scope}/registrations/{dev}/api-version=2019-03-31");
        let pass = sas_token(&format!("{scope}/registrations/{dev}"), &key, Some("registration"), 3600);
        let mut dps = Client::connect(&emulator, dev, emulator.dps_addr().port(), &user, &pass);
        dps.connack().await.unwrap();
        let body = json!({"registrationId": dev, "payload": null});
        let p = dps.dps_register("r", body, QoS::AtMostOnce).await;
        assert!(p.topic.starts_with("$dps/registrations/res/202/"), "{}", p.topic);
        let op = serde_json::from_slice::<Value>(&p.payload).unwrap()["operationId"]
            .as_str()
            .unwrap()
            .to_owned();
        // Unknown operation id → 404.
        dps.client
            .publish(
                "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=x&operationId=nope",
                QoS::AtMostOnce,
                false,
                "",
            )
            .await
            .unwrap();
        let p = dps.publish_on("$dps/registrations/res/").await;
        assert_eq!(p.topic, "$dps/registrations/res/404/?$rid=x");
        let mut statuses = Vec::new();
        for i in 0..3 {
            dps.client
                .publish(
                    format!("$dps/registrations/GET/iotdps-get-operationstatus/?$rid={i}&operationId={op}"),
                    QoS::AtLeastOnce,
                    false,
                    "",
                )
                .await
                .unwrap();
            let p = dps.publish_on("$dps/registrations/res/").await;
            statuses.push(p.topic.split('/').nth(3).unwrap().to_owned());
        }
        assert_eq!(statuses, ["202", "202", "200"]);

        // A hub username on the DPS-only listener is refused with CONNACK 4.
        let host = emulator.hub_hostname().to_owned();
        let hub_user = format!("{host}/{dev}/?api-version=2021-04-12");
        let hub_pass = sas_token(&format!("{host}/devices/{dev}"), &key, None, 3600);
        let mut wrong = Client::connect(&emulator, dev, emulator.dps_addr().port(), &hub_user, &hub_pass);
        assert!(matches!(
            wrong.connack().await,
            Err(ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword))
        ));
        let mut hub = Client::connect(&emulator, dev, emulator.hub_addr().port(), &hub_user, &hub_pass);
        hub.connack().await.unwrap();
        // Missing api-version → CONNACK 4.
        let mut bad = Client::connect(&emulator, dev, emulator.hub_addr().port(), &format!("{host}/{dev}/"), &hub_pass);
        assert!(matches!(
            bad.connack().await,
            Err(ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword))
        ));
        // Dropping the emulator closes device connections.
        drop(emulator);
        hub.closed().await;
    })
    .await
    .unwrap();
}
