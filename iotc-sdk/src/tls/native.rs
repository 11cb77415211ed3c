//! The `tls-native` stack: `native-tls` (OpenSSL on Linux) for MQTT, AMQP and HTTPS.

use tokio::net::TcpStream;

use super::TlsConfig;
use crate::auth::X509Identity;
use crate::{Error, Result};

/// The connector (cloning shares the OpenSSL context).
pub(super) type Connector = native_tls::TlsConnector;

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

pub(super) async fn handshake(connector: Connector, host: &str, tcp: TcpStream) -> Result<Stream> {
    tokio_native_tls::TlsConnector::from(connector)
        .connect(host, tcp)
        .await
        .map_err(|e| Error::Connection(format!("TLS: {e}")))
}

pub(super) fn reqwest(
    builder: reqwest::ClientBuilder,
    connector: Connector,
) -> reqwest::ClientBuilder {
    builder.tls_backend_preconfigured(connector)
}
