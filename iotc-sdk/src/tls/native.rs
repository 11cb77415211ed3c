//! The `tls-native` stack: `native-tls` (OpenSSL on Linux).

use rumqttc::TlsConfiguration;

use crate::auth::X509Identity;
use crate::{Error, Result};

/// A trusted root certificate.
pub(super) type Root = native_tls::Certificate;

/// What rumqttc connects with; cloning shares the OpenSSL context.
pub(super) type Connector = native_tls::TlsConnector;

/// Every certificate in `pem`.
pub(super) fn parse_roots(pem: &[u8]) -> Result<Vec<Root>> {
    native_tls::Certificate::stack_from_pem(pem)
        .map_err(|e| Error::Config(format!("invalid trusted CA certificate: {e}")))
}

/// A connector trusting `roots` (and the system's unless `only_roots`), presenting `identity`
/// if given. TLS 1.2 at least.
pub(super) fn connector(
    roots: &[Root],
    only_roots: bool,
    identity: Option<&X509Identity>,
) -> Result<Connector> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    builder.disable_built_in_roots(only_roots);
    for root in roots {
        builder.add_root_certificate(root.clone());
    }
    if let Some(identity) = identity {
        builder.identity(identity.to_native_identity()?);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the TLS connector: {e}")))
}

pub(super) fn transport(connector: Connector) -> TlsConfiguration {
    TlsConfiguration::NativeConnector(connector)
}
