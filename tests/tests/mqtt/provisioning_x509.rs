use iotc_sdk::auth::X509Identity;
use iotc_sdk::{Credentials, Device, Error};

use iotc_tests::certs::TestCa;
use iotc_tests::*;

use crate::MQTT;

fn ca(name: &str) -> TestCa {
    TestCa::new(name)
}

/// A device identity with subject CN `cn`, signed by `ca`.
fn leaf(ca: &TestCa, cn: &str) -> X509Identity {
    ca.leaf(cn, None).0
}

fn x509_builder(
    emulator: &iotc_emulator::Emulator,
    device_id: &str,
    identity: X509Identity,
) -> iotc_sdk::DeviceBuilder {
    builder(emulator, MQTT, device_id).credentials(Credentials::x509(identity))
}

#[tokio::test]
async fn a_device_certificate_from_the_group_ca_provisions_and_connects() {
    let emulator = emulator().await;
    let ca = ca("iotc-tests x509 group CA");
    emulator
        .add_x509_enrollment_group("x509-devices", &ca.pem)
        .unwrap();

    let identity = leaf(&ca, "x509-01");
    assert_eq!(identity.common_name(), "x509-01");
    let device: Device = within(
        "connect",
        x509_builder(&emulator, "x509-01", identity).connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    within(
        "send",
        device.send_telemetry(&serde_json::json!({"temperature": 20})),
    )
    .await
    .unwrap();
    let message = within("receive", received.recv()).await.unwrap();
    assert_eq!(message.device_id, "x509-01");
    let auth = message
        .system_properties
        .get("iothub-connection-auth-method")
        .cloned()
        .unwrap_or_default();
    assert!(auth.contains("x509"), "auth method stamp: {auth}");

    let info = emulator
        .devices()
        .into_iter()
        .find(|d| d.device_id == "x509-01")
        .unwrap();
    assert_eq!(info.enrollment_group.as_deref(), Some("x509-devices"));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let emulator = emulator().await;
    let trusted = ca("trusted CA");
    emulator
        .add_x509_enrollment_group("x509-devices", &trusted.pem)
        .unwrap();
    let stranger = ca("stranger CA");
    let result = within(
        "connect",
        x509_builder(&emulator, "x509-02", leaf(&stranger, "x509-02")).connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
}

#[tokio::test]
async fn a_certificate_for_another_device_is_refused() {
    let emulator = emulator().await;
    let ca = ca("group CA");
    emulator
        .add_x509_enrollment_group("x509-devices", &ca.pem)
        .unwrap();
    // CN says x509-other, the device registers as x509-03.
    let result = within(
        "connect",
        x509_builder(&emulator, "x509-03", leaf(&ca, "x509-other")).connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
}
