//! Protocols whose cargo feature is off fail at once with [`Error::Unsupported`] naming the
//! feature, for DPS and for the hub; their names still parse.

use std::time::Duration;

use crate::auth::ConnectionString;
use crate::{Credentials, Device, Error, Protocol, ProvisioningClient};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

const ALL: [Protocol; 5] = [
    Protocol::Mqtt,
    Protocol::MqttWs,
    Protocol::Https,
    Protocol::Amqp,
    Protocol::AmqpWs,
];

/// Asserts `result` is the typed error of a protocol missing from the build, naming a feature.
fn assert_unsupported<T>(protocol: Protocol, result: Result<T, Error>) {
    match result {
        Err(Error::Unsupported {
            operation,
            transport,
        }) => {
            assert_eq!(transport, protocol.name());
            assert!(operation.contains("cargo feature `"), "{operation}");
        }
        Err(other) => panic!("{protocol}: expected Error::Unsupported, got {other:?}"),
        Ok(_) => panic!("{protocol}: connected without the transport's feature"),
    }
}

#[test]
fn availability_follows_the_features() {
    assert!(Protocol::Mqtt.is_available());
    assert_eq!(Protocol::MqttWs.is_available(), cfg!(feature = "websocket"));
    assert_eq!(Protocol::Https.is_available(), cfg!(feature = "https"));
    assert_eq!(Protocol::Amqp.is_available(), cfg!(feature = "amqp"));
    assert_eq!(
        Protocol::AmqpWs.is_available(),
        cfg!(all(feature = "amqp", feature = "websocket"))
    );
    for (name, protocol) in ["mqtt", "mqtt-ws", "https", "amqp", "amqp-ws"]
        .into_iter()
        .zip(ALL)
    {
        assert_eq!(name.parse::<Protocol>().ok(), Some(protocol), "{name}");
    }
}

/// Every protocol missing from this build, through DPS and through a connection string. The
/// endpoints are a closed local port: anything but the typed error (a connection error, a
/// timeout) means the SDK tried the network.
#[tokio::test]
async fn missing_protocols_fail_at_once_with_a_typed_error() {
    for protocol in ALL.into_iter().filter(|p| !p.is_available()) {
        let credentials = Credentials::device_key(KEY).ok();
        let dps = ProvisioningClient::new("0ne00000A0A", "dev-1", credentials.clone().unwrap())
            .dps_endpoint("127.0.0.1:1")
            .protocol(protocol)
            .registration_timeout(Duration::from_secs(5))
            .register()
            .await;
        assert_unsupported(protocol, dps);

        let device = Device::builder()
            .id_scope("0ne00000A0A")
            .device_id("dev-1")
            .credentials(credentials.unwrap())
            .dps_endpoint("127.0.0.1:1")
            .protocol(protocol)
            .connect()
            .await;
        assert_unsupported(protocol, device);

        let cs: ConnectionString =
            format!("HostName=127.0.0.1:1;DeviceId=dev-1;SharedAccessKey={KEY}")
                .parse()
                .unwrap();
        let device = Device::builder()
            .connection_string(cs)
            .protocol(protocol)
            .connect()
            .await;
        assert_unsupported(protocol, device);
    }
}

/// The minimal MQTT-only build (`--no-default-features --features tls-native`): AMQP is off.
#[cfg(not(feature = "amqp"))]
#[tokio::test]
async fn amqp_without_its_feature_names_the_feature() {
    let error = ProvisioningClient::new(
        "0ne00000A0A",
        "dev-1",
        Credentials::device_key(KEY).unwrap(),
    )
    .protocol(Protocol::Amqp)
    .register()
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a connection from a build without the cargo feature `amqp` is not supported by the AMQP transport"
    );
}
