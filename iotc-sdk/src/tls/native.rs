//! The `tls-native` stack: `native-tls` (OpenSSL on Linux) for MQTT, AMQP and HTTPS.

#[cfg(feature = "amqp")]
use tokio::net::TcpStream;

use super::TlsConfig;
use crate::auth::X509Identity;
use crate::{Error, Result};

/// The connector (cloning shares the OpenSSL context).
pub(super) type Connector = native_tls::TlsConnector;

#[cfg(feature = "amqp")]
pub(super) type Stream = tokio_native_tls::TlsStream<TcpStream>;

/// A connector trusting the roots of `tls` (and the system's unless pinned), presenting
/// `identity` if given. TLS 1.2 at least.
pub(super) fn connector(tls: &TlsConfig, identity: Option<&X509Identity>) -> Result<Connector> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    builder.disable_built_in_roots(tls.inner.only_extra_roots);
    for root in &tls.inner.extra_roots {
        let root = native_tls::Certificate::from_der(root)
            .map_err(|e| Error::Config(format!("invalid trusted CA certificate: {e}")))?;
        builder.add_root_certificate(root);
    }
    if let Some(identity) = identity {
        builder.identity(identity.to_native_identity()?);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the TLS connector: {e}")))
}

pub(super) fn mqtt(connector: Connector) -> rumqttc::TlsConfiguration {
    rumqttc::TlsConfiguration::NativeConnector(connector)
}

#[cfg(feature = "amqp")]
pub(super) async fn handshake(connector: Connector, host: &str, tcp: TcpStream) -> Result<Stream> {
    tokio_native_tls::TlsConnector::from(connector)
        .connect(host, tcp)
        .await
        .map_err(|e| Error::connection_caused("TLS", e))
}

#[cfg(feature = "https")]
pub(super) fn reqwest(
    builder: reqwest::ClientBuilder,
    connector: Connector,
) -> reqwest::ClientBuilder {
    builder.tls_backend_preconfigured(connector)
}

/// Every certificate in `pem`, each checked to be one OpenSSL can use as a trust anchor (the
/// builds without rustls: `tls-native` without `websocket`).
#[cfg(not(feature = "websocket"))]
pub(super) fn parse_roots(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let invalid =
        |e: &dyn std::fmt::Display| Error::Config(format!("invalid trusted CA certificate: {e}"));
    let mut roots = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| invalid(&e))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        native_tls::Certificate::from_der(&block.contents).map_err(|e| invalid(&e))?;
        roots.push(block.contents);
    }
    Ok(roots)
}
