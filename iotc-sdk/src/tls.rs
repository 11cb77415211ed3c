//! TLS settings shared by every connection a process makes.
//!
//! Building a TLS connector loads the trusted roots and creates an OpenSSL context, which costs
//! about a megabyte and a hundred milliseconds. A [`TlsConfig`] builds its connector once and
//! shares it, so a process that simulates many devices should create one and pass it to each
//! [`DeviceBuilder`](crate::DeviceBuilder) with [`tls`](crate::DeviceBuilder::tls).

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::auth::X509Identity;
use crate::{Error, Result};

/// Which roots a connection trusts.
///
/// [`TlsConfig::default`] and [`TlsConfig::new`] return one process-wide configuration that
/// trusts the system's roots, so devices that set nothing still share one connector.
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    extra_roots: Vec<native_tls::Certificate>,
    only_extra_roots: bool,
    connector: OnceLock<native_tls::TlsConnector>,
    /// The same roots for rustls, which MQTT over WebSockets needs (rumqttc's WebSocket
    /// transport is built on rustls only).
    rustls_roots: OnceLock<Arc<rustls::RootCertStore>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("extra_roots", &self.inner.extra_roots.len())
            .field("only_extra_roots", &self.inner.only_extra_roots)
            .finish()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        static SYSTEM_ROOTS: OnceLock<TlsConfig> = OnceLock::new();
        SYSTEM_ROOTS
            .get_or_init(|| TlsConfig {
                inner: Arc::new(Inner::default()),
            })
            .clone()
    }
}

impl TlsConfig {
    /// Trusts the system's roots (what a device talking to Azure needs). Returns the shared
    /// process-wide configuration.
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts the system's roots plus every certificate in `pem` (one or more PEM blocks).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `pem` holds no parsable certificate.
    pub fn with_extra_roots_pem(pem: &[u8]) -> Result<Self> {
        Self::from_pem(pem, false)
    }

    /// Trusts only the certificates in `pem`: no system roots are loaded, which makes the
    /// connector cheaper. Use it for a private service such as `iotc-emulator`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `pem` holds no parsable certificate.
    pub fn with_pinned_roots_pem(pem: &[u8]) -> Result<Self> {
        Self::from_pem(pem, true)
    }

    fn from_pem(pem: &[u8], only_extra_roots: bool) -> Result<Self> {
        let extra_roots = native_tls::Certificate::stack_from_pem(pem)
            .map_err(|e| Error::Config(format!("invalid trusted CA certificate: {e}")))?;
        if extra_roots.is_empty() {
            return Err(Error::Config(
                "no certificate found in the trusted CA PEM".into(),
            ));
        }
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                extra_roots,
                only_extra_roots,
                connector: OnceLock::new(),
                rustls_roots: OnceLock::new(),
            }),
        })
    }

    fn builder(&self) -> native_tls::TlsConnectorBuilder {
        let mut builder = native_tls::TlsConnector::builder();
        builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
        builder.disable_built_in_roots(self.inner.only_extra_roots);
        for root in &self.inner.extra_roots {
            builder.add_root_certificate(root.clone());
        }
        builder
    }

    /// The shared connector for connections without a client certificate.
    pub(crate) fn connector(&self) -> Result<native_tls::TlsConnector> {
        if let Some(connector) = self.inner.connector.get() {
            return Ok(connector.clone());
        }
        let connector = self
            .builder()
            .build()
            .map_err(|e| Error::Config(format!("cannot build the TLS connector: {e}")))?;
        Ok(self.inner.connector.get_or_init(|| connector).clone())
    }

    /// A connector presenting `identity` as the client certificate (one per device identity).
    pub(crate) fn connector_with_identity(
        &self,
        identity: &X509Identity,
    ) -> Result<native_tls::TlsConnector> {
        let mut builder = self.builder();
        builder.identity(identity.to_native_identity()?);
        builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the TLS connector: {e}")))
    }
}

impl TlsConfig {
    /// The trusted roots for rustls: the extra roots, plus the system's unless pinned.
    fn rustls_roots(&self) -> Result<Arc<rustls::RootCertStore>> {
        if let Some(roots) = self.inner.rustls_roots.get() {
            return Ok(roots.clone());
        }
        let mut store = rustls::RootCertStore::empty();
        if !self.inner.only_extra_roots {
            let system = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(system.certs);
        }
        for root in &self.inner.extra_roots {
            let der = root
                .to_der()
                .map_err(|e| Error::Config(format!("cannot read a trusted CA certificate: {e}")))?;
            store
                .add(rustls::pki_types::CertificateDer::from(der))
                .map_err(|e| Error::Config(format!("unusable trusted CA certificate: {e}")))?;
        }
        if store.is_empty() {
            return Err(Error::Config("no trusted root certificate found".into()));
        }
        Ok(self
            .inner
            .rustls_roots
            .get_or_init(|| Arc::new(store))
            .clone())
    }

    /// A rustls client configuration with the same roots as [`connector`](Self::connector),
    /// presenting `identity` when given (TLS 1.2 and 1.3, ring).
    pub(crate) fn rustls_config(
        &self,
        identity: Option<&X509Identity>,
    ) -> Result<Arc<rustls::ClientConfig>> {
        let tls_err = |e: rustls::Error| Error::Config(format!("cannot set up TLS: {e}"));
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(self.rustls_roots()?);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = identity.to_rustls()?;
                builder.with_client_auth_cert(chain, key).map_err(tls_err)?
            }
        };
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_shared() {
        assert!(Arc::ptr_eq(
            &TlsConfig::new().inner,
            &TlsConfig::default().inner
        ));
    }

    #[test]
    fn rejects_pem_without_certificates() {
        assert!(matches!(
            TlsConfig::with_pinned_roots_pem(b"nothing"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            TlsConfig::with_extra_roots_pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(Error::Config(_))
        ));
    }
}
