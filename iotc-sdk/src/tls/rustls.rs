//! rustls with the `ring` provider: MQTT over WebSockets always, every transport with the
//! `tls-rustls` feature.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::auth::X509Identity;
use crate::{Error, Result};

fn invalid_root(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("invalid trusted CA certificate: {e}"))
}

/// Every certificate in `pem`, each checked to be usable as a trust anchor.
pub(super) fn parse_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let roots = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(invalid_root)?;
    let mut check = RootCertStore::empty();
    for root in &roots {
        check.add(root.clone()).map_err(invalid_root)?;
    }
    Ok(roots)
}

/// A configuration trusting `roots` (and the system's unless `only_roots`), presenting
/// `identity` if given. TLS 1.2 and 1.3, as rustls offers by default.
pub(super) fn client_config(
    roots: &[CertificateDer<'static>],
    only_roots: bool,
    identity: Option<&X509Identity>,
) -> Result<Arc<ClientConfig>> {
    let mut store = RootCertStore::empty();
    if !only_roots {
        let system = rustls_native_certs::load_native_certs();
        // Unreadable or unparsable system certificates are skipped, as OpenSSL does.
        let (added, skipped) = store.add_parsable_certificates(system.certs);
        tracing::debug!(
            added,
            skipped,
            errors = system.errors.len(),
            "system root certificates loaded"
        );
    }
    for root in roots {
        store.add(root.clone()).map_err(invalid_root)?;
    }
    if store.is_empty() {
        return Err(Error::Config("no trusted root certificate found".into()));
    }
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("cannot build the TLS configuration: {e}")))?
        .with_root_certificates(store);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = identity.to_rustls()?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("cannot use the client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// The cryptography under every rustls connection: the application's process-wide default
/// when it installed one (`rustls::crypto::CryptoProvider::install_default`, e.g. aws-lc-rs
/// for post-quantum key exchange), otherwise *ring*, the provider this crate builds with.
///
/// rustls 0.23.48 deprecates `ring::default_provider` because *ring* has no post-quantum key
/// exchange. The SDK keeps *ring* as its own choice (no C/cmake build of aws-lc on small device
/// toolchains) and leaves post-quantum to the application's installed default; the lint is
/// allowed for that one call so that a user's build stays free of warnings.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return Arc::clone(installed);
    }
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(ring)
}

#[cfg(feature = "tls-rustls")]
pub(super) use stack::*;

/// rustls as the stack of every transport (`tls-rustls`).
#[cfg(feature = "tls-rustls")]
mod stack {
    use std::sync::Arc;

    #[cfg(feature = "amqp")]
    use rustls::pki_types::ServerName;
    use rustls::ClientConfig;
    #[cfg(feature = "amqp")]
    use tokio::net::TcpStream;

    use super::super::TlsConfig;
    use crate::auth::X509Identity;
    #[cfg(feature = "amqp")]
    use crate::Error;
    use crate::Result;

    /// The connector: the client configuration (cloning shares it).
    pub(in crate::tls) type Connector = Arc<ClientConfig>;

    #[cfg(feature = "amqp")]
    pub(in crate::tls) type Stream = tokio_rustls::client::TlsStream<TcpStream>;

    pub(in crate::tls) fn connector(
        tls: &TlsConfig,
        identity: Option<&X509Identity>,
    ) -> Result<Connector> {
        tls.rustls_config(identity)
    }

    pub(in crate::tls) fn mqtt(connector: Connector) -> rumqttc::TlsConfiguration {
        rumqttc::TlsConfiguration::Rustls(connector)
    }

    #[cfg(feature = "amqp")]
    pub(in crate::tls) async fn handshake(
        connector: Connector,
        host: &str,
        tcp: TcpStream,
    ) -> Result<Stream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::Config(format!("invalid TLS server name {host:?}: {e}")))?;
        tokio_rustls::TlsConnector::from(connector)
            .connect(name, tcp)
            .await
            .map_err(|e| Error::connection_caused("TLS", e))
    }

    #[cfg(feature = "https")]
    pub(in crate::tls) fn reqwest(
        builder: reqwest::ClientBuilder,
        connector: Connector,
    ) -> reqwest::ClientBuilder {
        builder.tls_backend_preconfigured(ClientConfig::clone(&connector))
    }
}
