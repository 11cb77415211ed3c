//! AMQP-only scenarios; the scenarios every transport shares (telemetry, C2D settlement, twin,
//! writable properties, commands, file upload) run in the `transports` matrix.

use std::time::Duration;

use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Error, Event, Message, ProvisioningClient};
use serde_json::json;

use iotc_tests::*;

const P: Protocol = Protocol::Amqp;

#[tokio::test]
async fn the_link_carries_model_id_creation_time_and_auth_method() {
    // What the transport matrix (`tests/transports`) does not check for AMQP: the model id as a
    // link property, the creation time as an application property, the SAS auth method, and a
    // run of messages each acknowledged in order.
    let emulator = emulator().await;
    let device = connect(&emulator, P, "amqp-tel-01").await;
    let mut received = emulator.telemetry();
    let message = Message::json(&json!({"temperature": 21.5}))
        .unwrap()
        .with_creation_time(time::macros::datetime!(2024-05-01 10:00 UTC));
    within("send", device.send_message(message)).await.unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    let system = &got.system_properties;
    assert_eq!(
        system.get("ctime").map(String::as_str),
        Some("2024-05-01T10:00:00Z")
    );
    assert!(system
        .get("iothub-connection-auth-method")
        .is_some_and(|m| m.contains("sas")));
    assert_eq!(
        emulator.twin("amqp-tel-01").unwrap().model_id.as_deref(),
        Some(THERMOSTAT)
    );
    for i in 0..20 {
        within("send", device.send_telemetry(&json!({"i": i})))
            .await
            .unwrap();
    }
    for i in 0..20 {
        let got = within("receive", received.recv()).await.unwrap();
        assert_eq!(got.body_json().unwrap(), json!({"i": i}));
    }
    within("close", device.close()).await.unwrap();
}

#[tokio::test]
async fn twin_reads_reported_patches_and_desired_updates() {
    let emulator = emulator().await;
    // Set while the device is away: arrives first, from the twin read at connect.
    let device = connect(&emulator, P, "amqp-twin-01").await;
    let v1 = within(
        "report",
        device.report_properties(&json!({"maxTempSinceLastReboot": 30.5})),
    )
    .await
    .unwrap();
    let v2 = within(
        "report",
        device.report_component_properties("deviceInformation", &json!({"manufacturer": "C"})),
    )
    .await
    .unwrap();
    assert!(v2 > v1);
    let twin = emulator.twin("amqp-twin-01").unwrap();
    assert_eq!(twin.reported["maxTempSinceLastReboot"], json!(30.5));
    assert_eq!(twin.reported["$version"], json!(v2));
    let seen = within("get twin", device.get_twin()).await.unwrap();
    assert_eq!(seen.reported_version(), v2);

    let version = within(
        "patch",
        emulator.update_desired("amqp-twin-01", json!({"targetTemperature": 25.0})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert_eq!(update.version(), version);
    let property = update.get("targetTemperature").unwrap();
    assert_eq!(property.value_as::<f64>().unwrap(), 25.0);
    within("ack", device.acknowledge(property, 200, Some("done")))
        .await
        .unwrap();
    let twin = emulator.twin("amqp-twin-01").unwrap();
    assert_eq!(twin.reported["targetTemperature"]["av"], json!(version));
    assert_eq!(twin.reported["targetTemperature"]["ac"], json!(200));

    // A reported patch the hub refuses comes back as a typed error.
    let big = "x".repeat(40 * 1024);
    assert!(matches!(
        within("report", device.report_properties(&json!({"big": big}))).await,
        Err(Error::Rejected { status: 400, .. })
    ));
}

#[tokio::test]
async fn desired_properties_set_while_offline_arrive_on_connect() {
    let emulator = emulator().await;
    let first = connect(&emulator, P, "amqp-twin-02").await;
    within("close", first.close()).await.unwrap();
    within(
        "patch",
        emulator.update_desired("amqp-twin-02", json!({"targetTemperature": 19.0})),
    )
    .await
    .unwrap();
    let device = connect(&emulator, P, "amqp-twin-02").await;
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert!(update.is_initial());
    assert!(update.get("targetTemperature").is_some());
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_dps_over_amqp() {
    let emulator = emulator().await;
    let wrong = Credentials::group_key("bm90IHRoZSBncm91cCBrZXk=").unwrap();
    let result = within(
        "register",
        ProvisioningClient::new(emulator.id_scope(), "amqp-bad-01", wrong)
            .protocol(P)
            .dps_endpoint(emulator.dps_amqp_endpoint())
            .tls(tls(&emulator))
            .registration_timeout(Duration::from_secs(10))
            .register(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    // An unknown ID scope is answered 404 like over MQTT.
    let result = within(
        "register",
        ProvisioningClient::new(
            "0neFFFFFFFF",
            "amqp-bad-02",
            Credentials::group_key(emulator.group_key()).unwrap(),
        )
        .protocol(P)
        .dps_endpoint(emulator.dps_amqp_endpoint())
        .tls(tls(&emulator))
        .registration_timeout(Duration::from_secs(10))
        .register(),
    )
    .await;
    assert!(matches!(result, Err(Error::NotFound(_))), "{result:?}");
}

#[tokio::test]
async fn dps_over_amqp_assigns_the_hub_on_its_amqp_port() {
    let emulator = emulator().await;
    let registration = within(
        "register",
        ProvisioningClient::new(
            emulator.id_scope(),
            "amqp-dps-01",
            Credentials::group_key(emulator.group_key()).unwrap(),
        )
        .protocol(P)
        .dps_endpoint(emulator.dps_amqp_endpoint())
        .tls(tls(&emulator))
        .model_id(THERMOSTAT)
        .register(),
    )
    .await
    .unwrap();
    assert_eq!(registration.assigned_hub(), emulator.hub_hostname());
    assert_eq!(registration.hub_port, emulator.amqp_port());
    assert_eq!(registration.device_id(), "amqp-dps-01");
}

#[tokio::test]
async fn a_token_for_another_device_cannot_attach_its_links() {
    let emulator = emulator().await;
    // Registered (through DPS) but the hub connection uses the key of another id.
    let _ = connect(&emulator, P, "amqp-auth-01").await;
    let key = emulator.derive_device_key("someone-else");
    let cs: iotc_sdk::auth::ConnectionString = format!(
        "HostName={}:{};DeviceId=amqp-auth-01;SharedAccessKey={key}",
        emulator.hub_hostname(),
        emulator.amqp_port()
    )
    .parse()
    .unwrap();
    let result = within(
        "connect",
        iotc_sdk::Device::builder()
            .protocol(P)
            .connection_string(cs)
            .tls(tls(&emulator))
            .connect_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
}

#[tokio::test]
async fn a_device_certificate_provisions_and_connects_without_sasl() {
    use iotc_sdk::auth::X509Identity;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let emulator = emulator().await;
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "amqp x509 group CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(params, ca_key);
    emulator
        .add_x509_enrollment_group("amqp-x509", &ca_pem)
        .unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "amqp-x509-01");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let identity = X509Identity::from_pem(
        format!("{}{}", cert.pem(), ca_pem).as_bytes(),
        key.serialize_pem().as_bytes(),
    )
    .unwrap();

    let device = within(
        "connect",
        builder(&emulator, P, "amqp-x509-01")
            .credentials(Credentials::x509(identity))
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"t": 1})))
        .await
        .unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    assert_eq!(got.device_id, "amqp-x509-01");
    assert!(got
        .system_properties
        .get("iothub-connection-auth-method")
        .is_some_and(|m| m.contains("x509")));
    within("twin", device.get_twin()).await.unwrap();
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_traffic_resumes() {
    let emulator = emulator().await;
    let device = connect(&emulator, P, "amqp-drop-01").await;
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"n": 1})))
        .await
        .unwrap();
    within("receive", received.recv()).await.unwrap();
    let mut changes = device.state_changes();
    assert!(emulator.disconnect_device("amqp-drop-01"));
    // The device notices, reconnects, and comes back.
    let mut saw_disconnect = false;
    within("reconnected", async {
        loop {
            match changes.next().await {
                Some(iotc_sdk::device::ConnectionState::Connected) if saw_disconnect => break,
                Some(iotc_sdk::device::ConnectionState::Connected) => {}
                Some(_) => saw_disconnect = true,
                None => panic!("state stream ended"),
            }
        }
    })
    .await;
    within("send", device.send_telemetry(&json!({"n": 2})))
        .await
        .unwrap();
    let got = within("receive", received.recv()).await.unwrap();
    assert_eq!(got.body_json().unwrap(), json!({"n": 2}));
    assert_eq!(emulator.connection_attempts("amqp-drop-01"), 2);
}
