//! X.509 group enrollment: DPS and hub accept a client certificate chaining to the group CA
//! with CN = registration/device id, and refuse others.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{provision_with, start, Client};
use iotc_emulator::AuthKind;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::x509::X509;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rumqttc::{ConnectReturnCode, ConnectionError};
use tokio::time::timeout;

fn make_ca(cn: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(p, key))
}

/// A PKCS#12 (DER, password) for a leaf with `cn` signed by `issuer`.
fn make_leaf(cn: &str, issuer: &Issuer<'static, KeyPair>) -> (Vec<u8>, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let cert = p.signed_by(&key, issuer).unwrap();
    let pkey = PKey::private_key_from_der(&key.serialize_der()).unwrap();
    let x509 = X509::from_der(cert.der()).unwrap();
    let p12 = Pkcs12::builder()
        .name(cn)
        .pkey(&pkey)
        .cert(&x509)
        .build2("pw")
        .unwrap();
    (p12.to_der().unwrap(), "pw".to_owned())
}

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
        let (ca_pem, issuer) = make_ca("group CA");
        emulator
            .add_x509_enrollment_group("x509-group", &ca_pem)
            .unwrap();
        let leaf = make_leaf("cert-dev-01", &issuer);

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
        let (ca_pem, issuer) = make_ca("group CA");
        let (_, stranger) = make_ca("stranger CA");
        emulator
            .add_x509_enrollment_group("x509-group", &ca_pem)
            .unwrap();
        let port = emulator.dps_addr().port();
        let user = |reg: &str| {
            format!(
                "{}/registrations/{reg}/api-version=2021-06-01",
                emulator.id_scope()
            )
        };

        // CN differs from the registration id.
        let leaf = make_leaf("other-name", &issuer);
        let mut c =
            Client::connect_with(&emulator, "dev-a", port, &user("dev-a"), None, Some(leaf));
        assert!(matches!(
            c.connack().await,
            Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized
            ))
        ));

        // Signed by a CA that is not enrolled.
        let leaf = make_leaf("dev-b", &stranger);
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
        let good = make_leaf("dev-d", &issuer);
        provision_with(&emulator, "dev-d", None, Some(good)).await;
        let wrong = make_leaf("dev-e", &issuer);
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
