//! Credential rotation on the emulator's side: IoT Central's `PUT /api/devices/{id}/attestation`
//! (and the Rust API behind it) replaces a device's SAS key or X.509 certificate, and DPS and
//! the hub refuse the old credential from then on. Over the real loopback socket, with raw MQTT
//! clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::{
    hub_client, hub_user, provision, provision_with, sas_token, start_with_api, Client, TestCa,
};
use serde_json::json;
use tokio::time::timeout;

/// Whether DPS takes an MQTT connection of `reg` with this password or certificate.
async fn dps_accepts(
    emulator: &iotc_emulator::Emulator,
    reg: &str,
    pass: Option<&str>,
    cert: Option<(Vec<u8>, String)>,
) -> bool {
    let user = format!(
        "{}/registrations/{reg}/api-version=2021-06-01&ClientVersion=test%2F1.0",
        emulator.id_scope()
    );
    let mut dps =
        Client::connect_with(emulator, reg, emulator.dps_addr().port(), &user, pass, cert);
    dps.connack().await.is_ok()
}

/// Whether the hub takes an MQTT connection of `dev` with this certificate.
async fn hub_accepts_cert(
    emulator: &iotc_emulator::Emulator,
    dev: &str,
    cert: (Vec<u8>, String),
) -> bool {
    let user = hub_user(emulator, dev);
    let mut hub = Client::connect_with(
        emulator,
        dev,
        emulator.hub_addr().port(),
        &user,
        None,
        Some(cert),
    );
    hub.connack().await.is_ok()
}

fn dps_pass(emulator: &iotc_emulator::Emulator, reg: &str, key: &str) -> String {
    let resource = format!("{}/registrations/{reg}", emulator.id_scope());
    sas_token(&resource, key, Some("registration"), 3600)
}

#[tokio::test]
async fn a_regenerated_key_refuses_the_old_one() {
    timeout(Duration::from_secs(60), async {
        let (emulator, _server, api) = start_with_api().await;
        let dev = "rotated-sas";
        let old = emulator.derive_device_key(dev);
        provision(&emulator, dev, &old).await;
        let mut hub = hub_client(&emulator, dev, &old, 3600);
        hub.connack().await.unwrap();

        let new = B64.encode([7u8; 32]);
        let (status, body) = api.call("PUT", &format!("/api/devices/{dev}/attestation"),
            Some(json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": new, "secondaryKey": new}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["symmetricKey"]["primaryKey"], new);
        let (_, body) = api.call("GET", &format!("/api/devices/{dev}/attestation"), None).await;
        assert_eq!(body["symmetricKey"]["primaryKey"], new, "{body}");

        // The old key: refused by the hub and by DPS. The new one: taken by both.
        assert!(hub_client(&emulator, dev, &old, 3600).connack().await.is_err());
        assert!(!dps_accepts(&emulator, dev, Some(&dps_pass(&emulator, dev, &old)), None).await);
        assert!(hub_client(&emulator, dev, &new, 3600).connack().await.is_ok());
        let reg = provision(&emulator, dev, &new).await;
        assert_eq!(reg["status"], "assigned", "{reg}");

        // And from Rust.
        let newer = emulator.regenerate_device_key(dev).unwrap();
        assert!(hub_client(&emulator, dev, &new, 3600).connack().await.is_err());
        assert!(hub_client(&emulator, dev, &newer, 3600).connack().await.is_ok());
        // Bad requests.
        let (status, _) = api.call("PUT", &format!("/api/devices/{dev}/attestation"),
            Some(json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": "not base64!"}}))).await;
        assert_eq!(status, 400);
        let (status, _) = api.call("PUT", "/api/devices/nobody/attestation",
            Some(json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": new}}))).await;
        assert_eq!(status, 404);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_replaced_certificate_refuses_the_old_one() {
    timeout(Duration::from_secs(60), async {
        let (emulator, _server, api) = start_with_api().await;
        let ca = TestCa::new("rotation CA");
        emulator.add_x509_enrollment_group("factory", &ca.pem).unwrap();
        let dev = "rotated-x509";
        let old = ca.leaf(dev).p12;
        let new = ca.leaf(dev);
        let (new, new_der) = (new.p12, B64.encode(&new.der));
        let reg = provision_with(&emulator, dev, None, Some(old.clone())).await;
        assert_eq!(reg["status"], "assigned", "{reg}");
        assert!(hub_accepts_cert(&emulator, dev, old.clone()).await);

        let (status, body) = api.call("PUT", &format!("/api/devices/{dev}/attestation"),
            Some(json!({"type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": new_der}}}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["x509"]["clientCertificates"]["primary"]["info"]["sha1Thumbprint"].as_str().unwrap().len(), 40);

        // The old certificate still chains to the group's CA, but the individual enrollment
        // wins: refused by the hub and by DPS. The new one is taken by both.
        assert!(!hub_accepts_cert(&emulator, dev, old.clone()).await);
        assert!(!dps_accepts(&emulator, dev, None, Some(old)).await);
        assert!(hub_accepts_cert(&emulator, dev, new.clone()).await);
        let reg = provision_with(&emulator, dev, None, Some(new)).await;
        assert_eq!(reg["status"], "assigned", "{reg}");

        // A certificate for another device is refused.
        let other_der = B64.encode(ca.leaf("someone-else").der);
        let (status, _) = api.call("PUT", &format!("/api/devices/{dev}/attestation"),
            Some(json!({"type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": other_der}}}}))).await;
        assert_eq!(status, 400);
    })
    .await
    .unwrap();
}
