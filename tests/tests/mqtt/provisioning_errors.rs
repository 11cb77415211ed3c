use std::time::Duration;

use iotc_sdk::{Credentials, Error, ProvisioningClient};

use iotc_tests::*;

use crate::MQTT;

#[tokio::test]
async fn provisioning_returns_the_assigned_hub() {
    let emulator = emulator().await;
    let registration = within(
        "register",
        ProvisioningClient::new(
            emulator.id_scope(),
            "prov-01",
            Credentials::group_key(emulator.group_key()).unwrap(),
        )
        .dps_endpoint(emulator.dps_endpoint())
        .tls(tls(&emulator))
        .model_id(THERMOSTAT)
        .provisioning_payload(serde_json::json!({"custom": 1}))
        .register(),
    )
    .await
    .unwrap();
    assert_eq!(registration.device_id, "prov-01");
    assert_eq!(registration.assigned_hub, emulator.hub_hostname());
    assert_eq!(registration.hub_port, emulator.hub_addr().port());

    let recorded = emulator
        .registrations()
        .into_iter()
        .find(|r| r.registration_id == "prov-01")
        .unwrap();
    assert_eq!(recorded.payload.unwrap()["modelId"], THERMOSTAT);
    let device = emulator
        .devices()
        .into_iter()
        .find(|d| d.device_id == "prov-01")
        .unwrap();
    assert!(!device.connected);
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_not_a_hang() {
    let emulator = emulator().await;
    let wrong = Credentials::group_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let result = within(
        "connect",
        builder(&emulator, MQTT, "prov-02")
            .credentials(wrong)
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
}

#[tokio::test]
async fn an_unknown_id_scope_is_not_found() {
    let emulator = emulator().await;
    let result = within(
        "connect",
        builder(&emulator, MQTT, "prov-03")
            .id_scope("0ne00000000")
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
}

#[tokio::test]
async fn a_hub_connection_string_skips_dps() {
    let emulator = emulator().await;
    // Provision once so the hub knows the device, then connect straight to the hub.
    let device = connect(&emulator, MQTT, "prov-04").await;
    within("close", device.close()).await.unwrap();
    let key = iotc_sdk::auth::SasKey::new(emulator.group_key())
        .unwrap()
        .derive_device_key("prov-04");
    let cs = format!(
        "HostName={}:{};DeviceId=prov-04;SharedAccessKey={}",
        emulator.hub_hostname(),
        emulator.hub_addr().port(),
        key.to_base64().expose()
    );
    let device = within(
        "connect",
        iotc_sdk::Device::builder()
            .connection_string(cs.parse().unwrap())
            .tls(tls(&emulator))
            .operation_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    within(
        "send",
        device.send_telemetry(&serde_json::json!({"ok": true})),
    )
    .await
    .unwrap();
    assert_eq!(
        within("receive", received.recv()).await.unwrap().device_id,
        "prov-04"
    );

    // The same with a wrong key is refused by the hub.
    let bad = cs.replace(
        key.to_base64().expose(),
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    );
    let result = within(
        "connect",
        iotc_sdk::Device::builder()
            .connection_string(bad.parse().unwrap())
            .tls(tls(&emulator))
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
}

#[tokio::test]
async fn missing_settings_fail_before_any_io() {
    let result = iotc_sdk::Device::builder().device_id("x").connect().await;
    assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
    let result = iotc_sdk::Device::builder().id_scope("s").connect().await;
    assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
    let creds = Credentials::device_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let result = iotc_sdk::Device::builder()
        .id_scope("s")
        .device_id("a/b")
        .credentials(creds)
        .connect()
        .await;
    assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
}

#[tokio::test]
async fn provisioning_polls_until_assigned_honouring_retry_after() {
    let config = iotc_emulator::EmulatorConfig {
        dps_retry_after: Duration::from_secs(1),
        dps_polls_before_assign: 3,
        ..iotc_emulator::EmulatorConfig::default()
    };
    let emulator = within("emulator", iotc_emulator::Emulator::start(config))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let registration = within(
        "register",
        ProvisioningClient::new(
            emulator.id_scope(),
            "prov-05",
            Credentials::group_key(emulator.group_key()).unwrap(),
        )
        .dps_endpoint(emulator.dps_endpoint())
        .tls(tls(&emulator))
        .register(),
    )
    .await
    .unwrap();
    assert_eq!(registration.device_id, "prov-05");
    // Three `assigning` answers, each asking for a 1 s wait: a client that did not wait
    // would be done at once.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_silent_dps_endpoint_is_a_timeout_not_a_hang() {
    // Accepts TCP connections and never answers, not even the TLS handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let creds = Credentials::device_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let result = within(
        "register",
        ProvisioningClient::new("0ne00000A0A", "prov-06", creds)
            .dps_endpoint(format!("127.0.0.1:{port}"))
            .registration_timeout(Duration::from_secs(1))
            .register(),
    )
    .await;
    assert!(matches!(result, Err(Error::Timeout(..))), "{result:?}");
}
