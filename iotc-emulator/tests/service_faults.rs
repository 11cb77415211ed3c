//! The service-side fault API of `Emulator` (and its REST routes), with raw rumqttc clients
//! over loopback TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    connected, http, hub_client, hub_client_with_pass, hub_pass, provision, refused_with,
    sas_token, send_acked, start, subscribe_twin, twin_get_status, Client,
};
use iotc_emulator::RefuseCode;
use rumqttc::{ConnectReturnCode, Packet, QoS};
use serde_json::{json, Value};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

async fn refused(emulator: &iotc_emulator::Emulator, dev: &str, key: &str) -> ConnectReturnCode {
    let mut hub = hub_client(emulator, dev, key, 3600);
    let err = hub.connack().await.unwrap_err();
    refused_with(&err).unwrap_or_else(|| panic!("expected a CONNACK refusal, got {err:?}"))
}

#[tokio::test]
async fn refuse_connections_for_one_device_or_all() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let (key_a, hub_a) = connected(&emulator, "refuse-a").await;
        let (key_b, _) = connected(&emulator, "refuse-b").await;
        assert_eq!(emulator.connection_attempts("refuse-a"), 1);

        emulator.refuse_connections(
            Some("refuse-a"),
            RefuseCode::NotAuthorized,
            Duration::from_secs(3),
        );
        let started = Instant::now();
        // The open connection is not touched.
        assert!(emulator.device("refuse-a").unwrap().connected);
        drop(hub_a);
        assert_eq!(
            refused(&emulator, "refuse-a", &key_a).await,
            ConnectReturnCode::NotAuthorized
        );
        let mut b = hub_client(&emulator, "refuse-b", &key_b, 3600);
        b.connack().await.unwrap();
        assert_eq!(emulator.connection_attempts("refuse-a"), 2);

        // Every device, server unavailable; the device rule wins for refuse-a.
        emulator.refuse_connections(None, RefuseCode::ServerUnavailable, Duration::from_secs(30));
        assert_eq!(
            refused(&emulator, "refuse-b", &key_b).await,
            ConnectReturnCode::ServiceUnavailable
        );
        assert_eq!(
            refused(&emulator, "refuse-a", &key_a).await,
            ConnectReturnCode::NotAuthorized
        );
        // Unprovisioned devices are refused by the fault first, and still counted.
        assert_eq!(
            refused(&emulator, "nobody", &key_a).await,
            ConnectReturnCode::ServiceUnavailable
        );
        assert_eq!(emulator.connection_attempts("nobody"), 1);

        // Duration::ZERO lifts the rule for every device; refuse-a's ends by itself.
        emulator.refuse_connections(None, RefuseCode::ServerUnavailable, Duration::ZERO);
        let mut b = hub_client(&emulator, "refuse-b", &key_b, 3600);
        b.connack().await.unwrap();
        tokio::time::sleep_until((started + Duration::from_secs(3)).into()).await;
        let mut a = hub_client(&emulator, "refuse-a", &key_a, 3600);
        a.connack().await.unwrap();
        assert_eq!(emulator.connection_attempts("refuse-a"), 4);
        assert_eq!(emulator.connection_attempts("refuse-b"), 4);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn throttle_dps_429_hub_connack_3_twin_429_and_held_pubacks() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "throttled";
        let (key, mut hub) = connected(&emulator, dev).await;
        subscribe_twin(&mut hub).await;

        let started = Instant::now();
        emulator.throttle(Duration::from_secs(3), Duration::from_millis(2500));

        // DPS: register answered 429 with retry-after (seconds, rounded up).
        let scope = emulator.id_scope().to_owned();
        let reg = "throttled-reg";
        let rkey = emulator.derive_device_key(reg);
        let pass = sas_token(
            &format!("{scope}/registrations/{reg}"),
            &rkey,
            Some("registration"),
            3600,
        );
        let user = format!("{scope}/registrations/{reg}/api-version=2021-06-01");
        let mut dps = Client::connect(&emulator, reg, emulator.dps_addr().port(), &user, &pass);
        dps.connack().await.unwrap();
        let p = dps
            .dps_register("7", json!({"registrationId": reg}), QoS::AtLeastOnce)
            .await;
        assert_eq!(p.topic, "$dps/registrations/res/429/?$rid=7&retry-after=3");
        let body: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(body["errorCode"], 429001);
        dps.client
            .publish(
                "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=8&operationId=x",
                QoS::AtMostOnce,
                false,
                "",
            )
            .await
            .unwrap();
        let p = dps.publish_on("$dps/registrations/res/").await;
        assert_eq!(p.topic, "$dps/registrations/res/429/?$rid=8&retry-after=3");
        assert_eq!(emulator.dps_attempts(reg), 1);

        // Hub: twin 429 on the open connection, CONNACK 3 for a new one.
        assert_eq!(twin_get_status(&mut hub, "1").await, "429");
        hub.client
            .publish(
                "$iothub/twin/PATCH/properties/reported/?$rid=2",
                QoS::AtMostOnce,
                false,
                r#"{"x":1}"#,
            )
            .await
            .unwrap();
        let p = hub.publish_on("$iothub/twin/res/").await;
        assert_eq!(p.topic, "$iothub/twin/res/429/?$rid=2");
        assert!(emulator.twin(dev).unwrap().reported.get("x").is_none());
        assert_eq!(
            refused(&emulator, "other", &key).await,
            ConnectReturnCode::ServiceUnavailable
        );

        // Telemetry is accepted at once, its PUBACK held until the throttle ends.
        let mut telemetry = emulator.telemetry();
        hub.client
            .publish(
                format!("devices/{dev}/messages/events/"),
                QoS::AtLeastOnce,
                false,
                "shaped",
            )
            .await
            .unwrap();
        let msg = timeout(Duration::from_secs(1), telemetry.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.body, b"shaped");
        assert!(started.elapsed() < Duration::from_secs(3));
        hub.puback().await;
        assert!(started.elapsed() >= Duration::from_secs(3));

        // After the throttle: all normal.
        assert_eq!(twin_get_status(&mut hub, "3").await, "200");
        let mut again = hub_client(&emulator, dev, &key, 3600);
        again.connack().await.unwrap();
        provision(&emulator, reg, &rkey).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn expire_tokens_after_closes_open_connections_and_refuses_reused_tokens() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "renew-dev";
        let mut other = connected(&emulator, "renew-other").await.1;
        let (key, mut hub) = connected(&emulator, dev).await;
        let connected_at = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Open connection: closed max_age after its CONNECT (already 300 ms ago).
        emulator.expire_tokens_after(Some(dev), Duration::from_millis(800));
        hub.closed().await;
        let lived = connected_at.elapsed();
        assert!(
            lived >= Duration::from_millis(700),
            "closed after {lived:?}"
        );
        assert!(
            lived < Duration::from_millis(2500),
            "closed after {lived:?}"
        );
        // Other devices are not affected.
        send_acked(&mut other, "renew-other", "fine").await;

        // A new token: accepted, closed max_age later; presenting it again is refused.
        let pass = hub_pass(&emulator, dev, &key, 3000);
        let mut fresh = hub_client_with_pass(&emulator, dev, &pass);
        fresh.connack().await.unwrap();
        let t0 = Instant::now();
        fresh.closed().await;
        let lived = t0.elapsed();
        assert!(
            lived >= Duration::from_millis(700),
            "closed after {lived:?}"
        );
        let mut reused = hub_client_with_pass(&emulator, dev, &pass);
        let err = reused.connack().await.unwrap_err();
        assert_eq!(refused_with(&err), Some(ConnectReturnCode::NotAuthorized));

        // The rule for every device; clear_faults removes it.
        emulator.expire_tokens_after(None, Duration::from_millis(200));
        other.closed().await;
        emulator.clear_faults();
        let mut renewed = hub_client(&emulator, dev, &key, 2000);
        renewed.connack().await.unwrap();
        let incoming = renewed.incoming_for(Duration::from_millis(600)).await;
        assert!(incoming.is_empty(), "{incoming:?}");
        // The token refused before is accepted again once the rule is gone.
        let mut reused = hub_client_with_pass(&emulator, dev, &pass);
        reused.connack().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn real_token_expiry_closes_at_se() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "expiry-dev";
        let key = emulator.derive_device_key(dev);
        provision(&emulator, dev, &key).await;
        let pass = hub_pass(&emulator, dev, &key, 2);
        let se: u64 = pass.rsplit("se=").next().unwrap().parse().unwrap();
        let mut hub = hub_client_with_pass(&emulator, dev, &pass);
        hub.connack().await.unwrap();
        hub.closed().await;
        let closed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let se = se as f64;
        assert!(closed >= se - 0.05, "closed {:.3} s before se", se - closed);
        assert!(closed < se + 0.4, "closed {:.3} s after se", closed - se);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn delay_acks_holds_pubacks_and_twin_responses() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "slow-acks";
        let (_, mut hub) = connected(&emulator, dev).await;
        subscribe_twin(&mut hub).await;
        let mut telemetry = emulator.telemetry();
        emulator.delay_acks(dev, Duration::from_millis(500));

        let t0 = Instant::now();
        hub.client
            .publish(
                format!("devices/{dev}/messages/events/"),
                QoS::AtLeastOnce,
                false,
                "m1",
            )
            .await
            .unwrap();
        // Recorded at once, acknowledged later.
        timeout(Duration::from_millis(400), telemetry.recv())
            .await
            .unwrap()
            .unwrap();
        hub.puback().await;
        assert!(
            t0.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );

        let t0 = Instant::now();
        assert_eq!(twin_get_status(&mut hub, "9").await, "200");
        assert!(
            t0.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );

        // Duration::ZERO removes the delay.
        emulator.delay_acks(dev, Duration::ZERO);
        let t0 = Instant::now();
        send_acked(&mut hub, dev, "m2").await;
        assert!(t0.elapsed() < Duration::from_millis(400));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn drop_acks_drops_the_next_pubacks_but_records_the_messages() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let dev = "lost-acks";
        let (_, mut hub) = connected(&emulator, dev).await;
        emulator.drop_acks(dev, 2);
        let mut pkids = Vec::new();
        for body in ["a", "b", "c"] {
            hub.client
                .publish(
                    format!("devices/{dev}/messages/events/%24.mid={body}"),
                    QoS::AtLeastOnce,
                    false,
                    body,
                )
                .await
                .unwrap();
        }
        let incoming = hub.incoming_for(Duration::from_millis(500)).await;
        for p in &incoming {
            if let Packet::PubAck(a) = p {
                pkids.push(a.pkid);
            }
        }
        assert_eq!(
            pkids.len(),
            1,
            "only the third message is acknowledged: {incoming:?}"
        );
        let bodies: Vec<Vec<u8>> = emulator
            .recent_telemetry(dev)
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(bodies, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        // The client resends (at-least-once): the test sees the duplicate.
        send_acked(&mut hub, dev, "a").await;
        let dups = emulator
            .recent_telemetry(dev)
            .iter()
            .filter(|m| m.body == b"a")
            .count();
        assert_eq!(dups, 2);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn faults_belong_to_one_emulator() {
    timeout(LIMIT, async {
        let faulty = start().await;
        let healthy = start().await;
        let dev = "same-id";
        let (key_f, _) = connected(&faulty, dev).await;
        let (key_h, mut hub_h) = connected(&healthy, dev).await;
        faulty.refuse_connections(None, RefuseCode::ServerUnavailable, Duration::from_secs(30));
        faulty.throttle(Duration::from_secs(30), Duration::from_secs(1));
        faulty.drop_acks(dev, 10);
        faulty.expire_tokens_after(None, Duration::ZERO);
        assert_eq!(
            refused(&faulty, dev, &key_f).await,
            ConnectReturnCode::ServiceUnavailable
        );
        send_acked(&mut hub_h, dev, "unaffected").await;
        let mut again = hub_client(&healthy, dev, &key_h, 3600);
        again.connack().await.unwrap();
        assert_eq!(healthy.connection_attempts(dev), 2);
        assert_eq!(faulty.connection_attempts(dev), 2);
        faulty.clear_faults();
        let mut back = hub_client(&faulty, dev, &key_f, 3600);
        back.connack().await.unwrap();
        send_acked(&mut back, dev, "cleared").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn fault_rest_routes() {
    timeout(LIMIT, async {
        let emulator = start().await;
        let server =
            iotc_emulator::service_http::serve(emulator.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let addr = server.local_addr();
        let dev = "rest-fault";
        let (key, mut hub) = connected(&emulator, dev).await;
        let json_of = |b: &str| serde_json::from_str::<Value>(b).unwrap();

        let (status, body) = http(
            addr,
            "GET",
            "/faults/devices/rest-fault/connection-attempts",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(json_of(&body), json!({"deviceId": dev, "attempts": 1}));
        let (status, body) = http(
            addr,
            "GET",
            "/faults/registrations/rest-fault/dps-attempts",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            json_of(&body),
            json!({"registrationId": dev, "attempts": 1})
        );

        let (status, body) = http(
            addr,
            "POST",
            "/faults/devices/rest-fault/disconnect",
            &[],
            "",
        )
        .await;
        assert_eq!(
            (status, json_of(&body)),
            (200, json!({"disconnected": true}))
        );
        hub.closed().await;

        let (status, _) = http(
            addr,
            "POST",
            "/faults/refuse-connections",
            &[("content-type", "application/json")],
            r#"{"deviceId":"rest-fault","code":"notAuthorized","durationMs":60000}"#,
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            refused(&emulator, dev, &key).await,
            ConnectReturnCode::NotAuthorized
        );
        let (status, _) = http(
            addr,
            "POST",
            "/faults/refuse-connections",
            &[],
            r#"{"code":4,"durationMs":1}"#,
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = http(
            addr,
            "POST",
            "/faults/throttle",
            &[],
            r#"{"durationMs":"x"}"#,
        )
        .await;
        assert_eq!(status, 400);

        let (status, _) = http(addr, "DELETE", "/faults", &[], "").await;
        assert_eq!(status, 204);
        let mut hub = hub_client(&emulator, dev, &key, 3600);
        hub.connack().await.unwrap();

        for (path, body) in [
            (
                "/faults/refuse-connections",
                r#"{"code":3,"durationMs":60000}"#,
            ),
            (
                "/faults/throttle",
                r#"{"durationMs":60000,"retryAfterMs":1000}"#,
            ),
            (
                "/faults/expire-tokens",
                r#"{"deviceId":"rest-fault","maxAgeMs":3600000}"#,
            ),
            ("/faults/devices/rest-fault/delay-acks", r#"{"delayMs":0}"#),
            ("/faults/devices/rest-fault/drop-acks", r#"{"count":1}"#),
        ] {
            let (status, text) = http(addr, "POST", path, &[], body).await;
            assert_eq!(status, 204, "{path}: {text}");
        }
        assert_eq!(
            refused(&emulator, dev, &key).await,
            ConnectReturnCode::ServiceUnavailable
        );
        let (status, _) = http(addr, "DELETE", "/faults", &[], "").await;
        assert_eq!(status, 204);
        // drop-acks was cleared too: the next PUBACK arrives.
        send_acked(&mut hub, dev, "after clear").await;
        let (_, body) = http(
            addr,
            "GET",
            "/faults/devices/rest-fault/connection-attempts",
            &[],
            "",
        )
        .await;
        assert_eq!(json_of(&body)["attempts"], 4);
    })
    .await
    .unwrap();
}
