//! TLS settings shared by every connection a process makes.
//!
//! Building a TLS connector loads the trusted roots and creates a TLS context, which costs
//! (with OpenSSL) about a megabyte and a hundred milliseconds. A [`TlsConfig`] builds its
//! connector once and shares it, so a process that simulates many devices should create one and
//! pass it to each [`DeviceBuilder`](crate::DeviceBuilder) with
//! [`tls`](crate::DeviceBuilder::tls).
//!
//! # TLS stacks
//!
//! Exactly one TLS stack is compiled in, chosen by a cargo feature:
//!
//! - `tls-native` (default): `native-tls`, the platform's TLS library (OpenSSL on Linux).
//! - `tls-rustls`: `rustls` with the `ring` provider; system roots from
//!   `rustls-native-certs`. It needs less memory and much less CPU per connection, which
//!   matters for fleets and gateways (see `docs/benchmarks.md`). Enable it with
//!   `default-features = false, features = ["tls-rustls"]` (add `"derive"` for the derives).
//!
//! [`TlsConfig`] has the same API with either.

#[cfg(all(feature = "tls-native", feature = "tls-rustls"))]
compile_error!(
    "iotc-sdk: the features `tls-native` and `tls-rustls` exclude each other; for rustls use \
     `default-features = false, features = [\"tls-rustls\"]`"
);
#[cfg(not(any(feature = "tls-native", feature = "tls-rustls")))]
compile_error!(
    "iotc-sdk needs one TLS stack: enable the feature `tls-native` (default) or `tls-rustls`"
);

#[cfg(feature = "tls-native")]
mod native;
#[cfg(feature = "tls-native")]
use native as backend;
#[cfg(all(feature = "tls-rustls", not(feature = "tls-native")))]
mod rustls;
#[cfg(all(feature = "tls-rustls", not(feature = "tls-native")))]
use self::rustls as backend;

use std::fmt;
use std::sync::{Arc, OnceLock};

use rumqttc::TlsConfiguration;

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
    extra_roots: Vec<backend::Root>,
    only_extra_roots: bool,
    connector: OnceLock<backend::Connector>,
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
        let extra_roots = backend::parse_roots(pem)?;
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
            }),
        })
    }

    /// The shared connector for connections without a client certificate, for rumqttc.
    pub(crate) fn connector(&self) -> Result<TlsConfiguration> {
        let connector = match self.inner.connector.get() {
            Some(connector) => connector.clone(),
            None => {
                let connector =
                    backend::connector(&self.inner.extra_roots, self.inner.only_extra_roots, None)?;
                self.inner.connector.get_or_init(|| connector).clone()
            }
        };
        Ok(backend::transport(connector))
    }

    /// A connector presenting `identity` as the client certificate (one per device identity).
    pub(crate) fn connector_with_identity(
        &self,
        identity: &X509Identity,
    ) -> Result<TlsConfiguration> {
        backend::connector(
            &self.inner.extra_roots,
            self.inner.only_extra_roots,
            Some(identity),
        )
        .map(backend::transport)
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
