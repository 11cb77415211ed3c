//! A bare rumqttc device: what a hand-written client on rumqttc must do to talk to IoT hub
//! (TLS, CONNECT with a SAS token, the same four subscriptions as the SDK, one twin GET), with
//! no SDK layer. It is the limit the SDK is compared against.

use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter, TlsConfiguration,
    Transport,
};

use crate::{BoxError, Target};

/// The SDK's packet-size limit (IoT hub's 256 KB message plus topic), mirrored so that both
/// clients are configured alike.
const MAX_PACKET_SIZE: usize = 256 * 1024 + 8 * 1024;
/// The SDK's request-channel capacity, mirrored.
const REQUEST_CAPACITY: usize = 64;
/// The hub API version the SDK announces.
const API_VERSION: &str = "2021-04-12";

/// One TLS client configuration shared by every connection of the process.
#[derive(Clone)]
pub enum Tls {
    /// native-tls (OpenSSL on Linux): one `TlsConnector`, only the emulator's CA trusted
    /// (`TlsConfiguration::NativeConnector`).
    Native(native_tls::TlsConnector),
    /// rustls with the ring provider: one `ClientConfig`.
    #[cfg(feature = "rustls")]
    Rustls(std::sync::Arc<tokio_rustls::rustls::ClientConfig>),
}

impl Tls {
    /// A native-tls connector that trusts only `ca_pem` (like the SDK's
    /// `TlsConfig::with_pinned_roots_pem`), TLS 1.2 or later.
    ///
    /// # Errors
    ///
    /// The PEM holds no certificate, or OpenSSL refuses the configuration.
    pub fn native(ca_pem: &[u8]) -> Result<Tls, BoxError> {
        let mut builder = native_tls::TlsConnector::builder();
        builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
        builder.disable_built_in_roots(true);
        for cert in native_tls::Certificate::stack_from_pem(ca_pem)? {
            builder.add_root_certificate(cert);
        }
        Ok(Tls::Native(builder.build()?))
    }

    /// A rustls configuration (ring provider, TLS 1.2 and 1.3) that trusts only `ca_pem`.
    ///
    /// # Errors
    ///
    /// The PEM holds no usable certificate.
    #[cfg(feature = "rustls")]
    pub fn rustls(ca_pem: &[u8]) -> Result<Tls, BoxError> {
        use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert?)?;
        }
        // The SDK's own provider (see `iotc_sdk::tls`): *ring*, deprecated by rustls 0.23.48
        // only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Rustls(std::sync::Arc::new(config)))
    }

    fn configuration(&self) -> TlsConfiguration {
        match self {
            Tls::Native(connector) => TlsConfiguration::NativeConnector(connector.clone()),
            #[cfg(feature = "rustls")]
            Tls::Rustls(config) => TlsConfiguration::Rustls(config.clone()),
        }
    }
}

/// A connected, subscribed bare rumqttc device.
pub struct BareDevice {
    /// The client handle.
    pub client: AsyncClient,
    /// The event loop (drive it with `poll`).
    pub eventloop: EventLoop,
    /// The device id.
    pub device_id: String,
    /// The telemetry topic with the JSON content type and encoding, as the SDK builds it.
    pub telemetry_topic: String,
}

/// Connects `device_id` to the hub: TLS, CONNECT (SAS token), SUBSCRIBE to methods, twin
/// responses, desired patches and C2D (one packet, as the SDK), and a twin GET; returns once
/// the twin has arrived.
///
/// # Errors
///
/// Connection, TLS or protocol errors; a refused subscription; a timeout.
pub async fn connect(
    target: &Target,
    device_id: &str,
    tls: &Tls,
    keep_alive: Duration,
) -> Result<BareDevice, BoxError> {
    let key = target.device_key(device_id)?;
    let resource = iotc_sdk::auth::hub_device_resource(&target.hub_host, device_id);
    let token =
        iotc_sdk::auth::SasToken::with_ttl(&resource, &key, Duration::from_secs(3600), None);
    let username = format!(
        "{}/{device_id}/?api-version={API_VERSION}&DeviceClientType=bare-rumqttc",
        target.hub_host
    );
    let mut options = MqttOptions::new(device_id, target.hub_host.clone(), target.hub_port);
    options
        .set_keep_alive(keep_alive)
        .set_clean_session(false)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_credentials(username, token.as_secret().expose())
        .set_transport(Transport::tls_with_config(tls.configuration()));
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
    let work = async {
        wait_for(&mut eventloop, |p| matches!(p, Packet::ConnAck(_))).await?;
        client
            .subscribe_many([
                SubscribeFilter::new("$iothub/methods/POST/#".into(), QoS::AtMostOnce),
                SubscribeFilter::new("$iothub/twin/res/#".into(), QoS::AtMostOnce),
                SubscribeFilter::new(
                    "$iothub/twin/PATCH/properties/desired/#".into(),
                    QoS::AtMostOnce,
                ),
                SubscribeFilter::new(
                    format!("devices/{device_id}/messages/devicebound/#"),
                    QoS::AtLeastOnce,
                ),
            ])
            .await?;
        wait_for(&mut eventloop, |p| matches!(p, Packet::SubAck(_))).await?;
        client
            .publish(
                "$iothub/twin/GET/?$rid=0",
                QoS::AtMostOnce,
                false,
                Vec::new(),
            )
            .await?;
        wait_for(&mut eventloop, |p| match p {
            Packet::Publish(p) => p.topic.starts_with("$iothub/twin/res/200/?$rid=0"),
            _ => false,
        })
        .await
    };
    tokio::time::timeout(crate::OPERATION_TIMEOUT, work)
        .await
        .map_err(|_| "connect timed out")??;
    Ok(BareDevice {
        client,
        eventloop,
        device_id: device_id.to_owned(),
        telemetry_topic: format!(
            "devices/{device_id}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8"
        ),
    })
}

/// Polls until an incoming packet matches.
async fn wait_for(
    eventloop: &mut EventLoop,
    mut done: impl FnMut(&Packet) -> bool,
) -> Result<(), BoxError> {
    loop {
        if let Event::Incoming(packet) = eventloop.poll().await? {
            if let Packet::ConnAck(ack) = &packet {
                if ack.code != rumqttc::ConnectReturnCode::Success {
                    return Err(format!("CONNACK {:?}", ack.code).into());
                }
            }
            if done(&packet) {
                return Ok(());
            }
        }
    }
}
