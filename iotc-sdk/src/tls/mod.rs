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
//! A cargo feature picks the stack of MQTT, AMQP and HTTPS:
//!
//! - `tls-native` (default): `native-tls`, the platform's TLS library (OpenSSL on Linux).
//! - `tls-rustls`: `rustls` with the `ring` provider; system roots from
//!   `rustls-native-certs`. It needs less memory and less CPU per connection, which matters for
//!   fleets and gateways (see `docs/benchmarks.md`). It wins when both features are on; with
//!   `default-features = false, features = ["tls-rustls"]` (add `"derive"` for the derives)
//!   OpenSSL is not linked at all.
//!
//! MQTT over WebSockets (feature `websocket`, on by default) always runs on rustls, whatever
//! the feature: rumqttc's WebSocket transport has no native-tls path. It trusts the same roots
//! and presents the same client certificate. [`TlsConfig`] has the same API with either stack.
//! With `tls-native` and without `websocket`, rustls is not built at all.

#[cfg(not(any(feature = "tls-native", feature = "tls-rustls")))]
compile_error!(
    "iotc-sdk needs a TLS stack: enable the feature `tls-native` (default) or `tls-rustls`"
);

#[cfg(all(feature = "tls-native", not(feature = "tls-rustls")))]
mod native;
#[cfg(all(feature = "tls-native", not(feature = "tls-rustls")))]
use native as backend;
// rustls: the stack of `tls-rustls`, and MQTT over WebSockets with either stack.
#[cfg(any(feature = "tls-rustls", feature = "websocket"))]
mod rustls;
#[cfg(feature = "tls-rustls")]
use self::rustls as backend;

#[cfg(any(feature = "tls-rustls", feature = "websocket"))]
use self::rustls::parse_roots;
#[cfg(not(any(feature = "tls-rustls", feature = "websocket")))]
use native::parse_roots;

use std::fmt;
use std::sync::{Arc, OnceLock};

#[cfg(feature = "amqp")]
use tokio::net::TcpStream;

use crate::auth::X509Identity;
use crate::{Error, Result};

/// The TLS connector of this build's stack (cloning shares it).
pub(crate) type Connector = backend::Connector;

/// A TLS stream over TCP of this build's stack.
#[cfg(feature = "amqp")]
pub(crate) type TlsStream = backend::Stream;

/// A trusted root certificate, DER encoded.
#[cfg(any(feature = "tls-rustls", feature = "websocket"))]
type RootDer = ::rustls::pki_types::CertificateDer<'static>;
/// A trusted root certificate, DER encoded.
#[cfg(not(any(feature = "tls-rustls", feature = "websocket")))]
type RootDer = Vec<u8>;

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
    /// Trusted roots besides (or, when `only_extra_roots`, instead of) the system's, DER.
    extra_roots: Vec<RootDer>,
    only_extra_roots: bool,
    /// The shared connector without a client certificate.
    connector: OnceLock<Connector>,
    /// The shared rustls configuration without a client certificate (MQTT over WebSockets;
    /// every transport with `tls-rustls`).
    #[cfg(any(feature = "tls-rustls", feature = "websocket"))]
    rustls: OnceLock<Arc<::rustls::ClientConfig>>,
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
        let extra_roots = parse_roots(pem)?;
        if extra_roots.is_empty() {
            return Err(Error::Config(
                "no certificate found in the trusted CA PEM".into(),
            ));
        }
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                extra_roots,
                only_extra_roots,
                ..Inner::default()
            }),
        })
    }

    /// The shared connector for connections without a client certificate.
    pub(crate) fn connector(&self) -> Result<Connector> {
        if let Some(connector) = self.inner.connector.get() {
            return Ok(connector.clone());
        }
        let connector = backend::connector(self, None)?;
        Ok(self.inner.connector.get_or_init(|| connector).clone())
    }

    /// A connector presenting `identity` as the client certificate (one per device identity).
    pub(crate) fn connector_with_identity(&self, identity: &X509Identity) -> Result<Connector> {
        backend::connector(self, Some(identity))
    }

    /// A rustls configuration with the same roots, presenting `identity` when given (TLS 1.2
    /// and 1.3, ring); shared when there is no identity. MQTT over WebSockets uses it with
    /// either stack.
    #[cfg(any(feature = "tls-rustls", feature = "websocket"))]
    pub(crate) fn rustls_config(
        &self,
        identity: Option<&X509Identity>,
    ) -> Result<Arc<::rustls::ClientConfig>> {
        if identity.is_none() {
            if let Some(config) = self.inner.rustls.get() {
                return Ok(config.clone());
            }
        }
        let config = rustls::client_config(
            &self.inner.extra_roots,
            self.inner.only_extra_roots,
            identity,
        )?;
        Ok(match identity {
            None => self.inner.rustls.get_or_init(|| config).clone(),
            Some(_) => config,
        })
    }
}

/// The rumqttc transport setting for a TLS connection made with `connector`.
pub(crate) fn mqtt(connector: Connector) -> rumqttc::TlsConfiguration {
    backend::mqtt(connector)
}

/// Runs the TLS handshake on `tcp` with `connector`, checking the server's name `host`.
#[cfg(feature = "amqp")]
pub(crate) async fn handshake(
    connector: Connector,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream> {
    backend::handshake(connector, host, tcp).await
}

/// A reqwest client builder that makes its TLS connections with `connector`.
#[cfg(feature = "https")]
pub(crate) fn reqwest(
    builder: reqwest::ClientBuilder,
    connector: Connector,
) -> reqwest::ClientBuilder {
    backend::reqwest(builder, connector)
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
