//! X.509 group enrollment: DPS and hub accept a client certificate chaining to the group CA
//! with CN = registration/device id, and refuse others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{provision_with, start, Client, TestCa};
use iotc_emulator::AuthKind;
use rumqttc::{ConnectReturnCode, ConnectionError};
use tokio::time::timeout;

fn hub_x509(emulator: &iotc_emulator::Emulator, dev: &str, auth: (Vec<u8>, String)) -> Client {
    let user = format!("{}/{dev}/?api-version=2021-04-12", emulator.hub_hostname());
    Client::connect_with(
        emulator,
        dev,
        emulator.hub_addr().port(),
        &user,
        None,
        Some(auth),
    )
}

#[tokio::test]
async fn x509_group_provisions_and_connects() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let ca = TestCa::new("group CA");
        emulator
            .add_x509_enrollment_group("x509-group", &ca.pem)
            .unwrap();
        let leaf = ca.leaf("cert-dev-01").p12;

        let body = provision_with(&emulator, "cert-dev-01", None, Some(leaf.clone())).await;
        assert_eq!(body["status"], "assigned");
        assert_eq!(
            body["registrationState"]["x509"]["enrollmentGroupId"],
            "x509-group"
        );
        let device = emulator.device("cert-dev-01").unwrap();
        assert_eq!(device.auth, AuthKind::X509);
        assert_eq!(device.enrollment_group.as_deref(), Some("x509-group"));

        let mut hub = hub_x509(&emulator, "cert-dev-01", leaf);
        hub.connack().await.unwrap();
        assert!(emulator.device("cert-dev-01").unwrap().connected);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn x509_refusals() {
    timeout(Duration::from_secs(60), async {
        let emulator = start().await;
        let ca = TestCa::new("group CA");
        let stranger = TestCa::new("stranger CA");
        emulator
            .add_x509_enrollment_group("x509-group", &ca.pem)
            .unwrap();
        let port = emulator.dps_addr().port();
        let user = |reg: &str| {
            format!(
                "{}/registrations/{reg}/api-version=2021-06-01",
                emulator.id_scope()
            )
        };

        // CN differs from the registration id.
        let leaf = ca.leaf("other-name").p12;
        let mut c =
            Client::connect_with(&emulator, "dev-a", port, &user("dev-a"), None, Some(leaf));
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // Signed by a CA that is not enrolled.
        let leaf = stranger.leaf("dev-b").p12;
        let mut c =
            Client::connect_with(&emulator, "dev-b", port, &user("dev-b"), None, Some(leaf));
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // No certificate and no password.
        let mut c = Client::connect_with(&emulator, "dev-c", port, &user("dev-c"), None, None);
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // Provisioned device presenting another device's certificate on the hub.
        let good = ca.leaf("dev-d").p12;
        provision_with(&emulator, "dev-d", None, Some(good)).await;
        let wrong = ca.leaf("dev-e").p12;
        let mut hub = hub_x509(&emulator, "dev-d", wrong);
        assert!(matches!(
            hub.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));
    })
    .await
    .unwrap();
}
