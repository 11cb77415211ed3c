//! The SDK through a real HTTP proxy (tinyproxy) to the emulator: DPS and the hub over MQTT
//! and AMQP over WebSockets and HTTPS, each tunnelled with CONNECT, with and without basic
//! authentication; the typed errors of a proxy that refuses (407, 403) or cannot be reached;
//! MQTT and AMQP (not over WebSockets) refusing a proxy.
//!
//! The tests that need tinyproxy are `#[ignore]`d: `bash scripts/proxy/run.sh` starts the
//! proxies, sets `IOTC_TEST_PROXY*` and runs them with `--include-ignored`. Run without those
//! variables, they fail and say so rather than pass silently.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use iotc_emulator::Emulator;
use iotc_sdk::proxy::{ProxyConfig, ProxyErrorKind};
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Error, ProvisioningClient};
use serde_json::json;

use iotc_tests::*;

/// The proxy URL in `var`, set by `scripts/proxy/run.sh`.
fn proxy_from(var: &str) -> ProxyConfig {
    let url = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run these tests with `bash scripts/proxy/run.sh`")
    });
    url.parse().expect("a proxy URL")
}

/// The log file in `var`, set by `scripts/proxy/run.sh`.
fn log_from(var: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run these tests with `bash scripts/proxy/run.sh`")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// How many tunnels to the emulator's HTTPS port (DPS, the hub and the blob store of the
/// WebSocket and HTTPS transports) the proxy's log shows. Each test has its own emulator on
/// its own port, so the count is this test's alone.
fn tunnels_to(log: &str, emulator: &Emulator) -> usize {
    let request = format!(
        "CONNECT {}:{} HTTP/1.1",
        emulator.hub_hostname(),
        emulator.https_addr().port()
    );
    log.lines().filter(|line| line.contains(&request)).count()
}

/// Provisions and connects through `proxy`, sends a telemetry message, round-trips a
/// reported property (MQTT-WS, AMQP-WS) or uploads a file (HTTPS, which has no twin), and
/// checks that the proxy's log shows the tunnels.
async fn round_trip(protocol: Protocol, proxy: ProxyConfig, log_var: &str) {
    let emulator = emulator().await;
    let mut received = emulator.telemetry();
    let device_id = id(protocol, "proxied");
    let device = within(
        "connect through the proxy",
        builder(&emulator, protocol, &device_id)
            .proxy(proxy)
            .connect(),
    )
    .await
    .expect("the device connects through the proxy");
    assert_eq!(device.hub_host(), emulator.hub_hostname());
    // DPS and the hub are separate connections, each through its own tunnel.
    let after_connect = tunnels_to(&log_from(log_var), &emulator);
    assert!(
        after_connect >= 2,
        "expected CONNECTs to DPS and the hub in the proxy's log, found {after_connect}"
    );

    let message = iotc_sdk::Message::json(&json!({"temperature": 21.5})).unwrap();
    within("send", device.send_message(message)).await.unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    assert_eq!(got.device_id, device_id);
    assert_eq!(got.body_json(), Some(json!({"temperature": 21.5})));

    if protocol.supports_twin() {
        let version = within(
            "report",
            device.report_properties(&json!({"serial": "SN-proxy"})),
        )
        .await
        .unwrap();
        let twin = within("get twin", device.get_twin()).await.unwrap();
        assert_eq!(twin.reported_version(), version);
        assert_eq!(twin.reported["serial"], json!("SN-proxy"));
    } else {
        let content: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let uploaded = within(
            "upload through the proxy",
            device.upload_file("proxy.bin", content.clone()),
        )
        .await
        .unwrap();
        let blob = emulator.uploaded_file(&uploaded.blob_name).expect("stored");
        assert_eq!(blob.content, content);
    }
    within("close", device.close()).await.unwrap();

    // HTTPS: the upload to the blob store is one more client, one more tunnel.
    let log = log_from(log_var);
    let tunnels = tunnels_to(&log, &emulator);
    let expected = if protocol.supports_twin() { 2 } else { 3 };
    eprintln!("{protocol}: {tunnels} tunnels to the emulator in the proxy's log");
    assert!(
        tunnels >= expected,
        "expected at least {expected} CONNECTs to the emulator, found {tunnels}:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "Established connection to host \"{}\"",
            emulator.hub_hostname()
        )),
        "{log}"
    );
}

/// The proxy URL of `IOTC_TEST_PROXY_AUTH` with another password.
fn wrong_password() -> ProxyConfig {
    let right = proxy_from("IOTC_TEST_PROXY_AUTH");
    ProxyConfig::new(right.host(), right.port()).basic_auth("user", "not-the-password")
}

/// Connecting through `proxy` fails at once (well under the 10 s connect timeout and any
/// retry) with [`Error::Proxy`] naming the proxy, of the kind `expected` accepts.
async fn refused(protocol: Protocol, proxy: ProxyConfig, expected: fn(&ProxyErrorKind) -> bool) {
    let emulator = emulator().await;
    let address = proxy.address();
    let started = Instant::now();
    let result = within(
        "connect through a refusing proxy",
        builder(&emulator, protocol, &id(protocol, "refused"))
            .proxy(proxy)
            .connect(),
    )
    .await;
    let elapsed = started.elapsed();
    let error = result.expect_err("the connection fails");
    match &error {
        Error::Proxy { proxy, kind } => {
            assert_eq!(*proxy, address);
            assert!(expected(kind), "{kind:?}");
        }
        other => panic!("expected Error::Proxy, got {other:?}"),
    }
    assert!(error.to_string().contains(&address), "{error}");
    assert!(!error.to_string().contains("not-the-password"), "{error}");
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?}: a refusing proxy must fail fast"
    );
    // Nothing reached the service.
    assert!(emulator.device(&id(protocol, "refused")).is_none());
}

/// A loopback port nobody listens on (bound, then closed).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn through_the_proxy(protocol: Protocol) {
    round_trip(
        protocol,
        proxy_from("IOTC_TEST_PROXY"),
        "IOTC_TEST_PROXY_LOG",
    )
    .await;
}

pub async fn through_the_authenticating_proxy(protocol: Protocol) {
    let proxy = proxy_from("IOTC_TEST_PROXY_AUTH");
    assert_eq!(proxy.username(), Some("user"));
    round_trip(protocol, proxy, "IOTC_TEST_PROXY_AUTH_LOG").await;
}

pub async fn wrong_credentials_are_a_typed_407(protocol: Protocol) {
    refused(protocol, wrong_password(), |kind| {
        matches!(kind, ProxyErrorKind::AuthenticationRequired)
    })
    .await;
    // No credentials at all: the same.
    let right = proxy_from("IOTC_TEST_PROXY_AUTH");
    refused(
        protocol,
        ProxyConfig::new(right.host(), right.port()),
        |kind| matches!(kind, ProxyErrorKind::AuthenticationRequired),
    )
    .await;
}

pub async fn a_forbidden_port_is_a_typed_403(protocol: Protocol) {
    refused(protocol, proxy_from("IOTC_TEST_PROXY_STRICT"), |kind| {
        matches!(kind, ProxyErrorKind::Refused(403))
    })
    .await;
}

pub async fn an_unreachable_proxy_is_typed(protocol: Protocol) {
    let emulator = emulator().await;
    let proxy = ProxyConfig::new("127.0.0.1", closed_port());
    let address = proxy.address();
    let result = within(
        "connect through a closed port",
        builder(&emulator, protocol, &id(protocol, "unreachable"))
            .proxy(proxy)
            .connect(),
    )
    .await;
    match result.expect_err("the connection fails") {
        error @ Error::Proxy {
            kind: ProxyErrorKind::Unreachable(_),
            ..
        } => {
            assert!(error.to_string().contains(&address), "{error}");
            assert!(error.is_retryable());
        }
        other => panic!("expected an unreachable proxy, got {other:?}"),
    }
}

/// `ProvisioningClient::proxy` on its own, without a device.
pub async fn provisioning_client_through_the_proxy(protocol: Protocol) {
    let emulator = emulator().await;
    let registration_id = id(protocol, "dps-only");
    let client = ProvisioningClient::new(
        emulator.id_scope(),
        registration_id.clone(),
        iotc_sdk::Credentials::group_key(emulator.group_key()).unwrap(),
    )
    .protocol(protocol)
    .dps_endpoint(dps_endpoint(&emulator, protocol))
    .tls(tls(&emulator))
    .registration_timeout(Duration::from_secs(10))
    .proxy(proxy_from("IOTC_TEST_PROXY_AUTH"));
    let registration = within("register through the proxy", client.register())
        .await
        .unwrap();
    assert_eq!(registration.assigned_hub(), emulator.hub_hostname());
    assert!(tunnels_to(&log_from("IOTC_TEST_PROXY_AUTH_LOG"), &emulator) >= 1);
    let refused = within(
        "register through the proxy with a wrong password",
        client.clone().proxy(wrong_password()).register(),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(Error::Proxy {
                kind: ProxyErrorKind::AuthenticationRequired,
                ..
            })
        ),
        "{refused:?}"
    );
}

/// `matrix! { [scenario, …] on [row => Protocol::X, …] }`: a module per row with an ignored
/// test (it needs tinyproxy) per scenario.
macro_rules! matrix {
    ($scenarios:tt on [$($row:ident => $protocol:expr),* $(,)?]) => {$(
        mod $row {
            use iotc_sdk::transport::Protocol;
            const PROTOCOL: Protocol = $protocol;
            matrix!(@tests $scenarios);
        }
    )*};
    (@tests [$($scenario:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs tinyproxy: bash scripts/proxy/run.sh"]
        async fn $scenario() {
            super::$scenario(PROTOCOL).await;
        }
    )*};
}

matrix! {
    [
        through_the_proxy,
        through_the_authenticating_proxy,
        wrong_credentials_are_a_typed_407,
        a_forbidden_port_is_a_typed_403,
        an_unreachable_proxy_is_typed,
        provisioning_client_through_the_proxy,
    ] on [
        mqtt_ws => Protocol::MqttWs,
        amqp_ws => Protocol::AmqpWs,
        https => Protocol::Https,
    ]
}

/// MQTT on 8883 and AMQP on 5671 cannot go through an HTTP proxy: connecting (and
/// registering) with one fails at once with `Error::Unsupported`, never silently direct.
/// Needs no proxy: nothing is sent.
#[tokio::test]
async fn mqtt_and_amqp_refuse_a_proxy() {
    let emulator = emulator().await;
    let proxy = ProxyConfig::new("127.0.0.1", closed_port());
    for protocol in [Protocol::Mqtt, Protocol::Amqp] {
        let started = Instant::now();
        let result = builder(&emulator, protocol, &id(protocol, "no-proxy"))
            .proxy(proxy.clone())
            .connect()
            .await;
        assert!(
            matches!(result, Err(Error::Unsupported { .. })),
            "{protocol}: {:?}",
            result.err()
        );
        let registration = ProvisioningClient::new(
            emulator.id_scope(),
            id(protocol, "no-proxy"),
            iotc_sdk::Credentials::group_key(emulator.group_key()).unwrap(),
        )
        .protocol(protocol)
        .dps_endpoint(dps_endpoint(&emulator, protocol))
        .tls(tls(&emulator))
        .proxy(proxy.clone())
        .register()
        .await;
        assert!(
            matches!(registration, Err(Error::Unsupported { .. })),
            "{protocol}: {registration:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "not at once");
        assert_eq!(
            emulator.dps_attempts(&id(protocol, "no-proxy")),
            0,
            "nothing reached DPS"
        );
    }
}
