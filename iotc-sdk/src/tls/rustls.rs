//! The `tls-rustls` stack: rustls with the `ring` provider.

use std::sync::Arc;

use rumqttc::TlsConfiguration;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::auth::X509Identity;
use crate::{Error, Result};

/// A trusted root certificate (DER).
pub(super) type Root = CertificateDer<'static>;

/// What rumqttc connects with; cloning shares the configuration.
pub(super) type Connector = Arc<ClientConfig>;

fn invalid_root(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("invalid trusted CA certificate: {e}"))
}

/// Every certificate in `pem`, each checked to be usable as a trust anchor.
pub(super) fn parse_roots(pem: &[u8]) -> Result<Vec<Root>> {
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
pub(super) fn connector(
    roots: &[Root],
    only_roots: bool,
    identity: Option<&X509Identity>,
) -> Result<Connector> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("cannot build the TLS configuration: {e}")))?
        .with_root_certificates(store);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = identity.to_rustls_identity()?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("cannot use the client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

pub(super) fn transport(connector: Connector) -> TlsConfiguration {
    TlsConfiguration::Rustls(connector)
}
