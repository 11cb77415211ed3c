//! The one token source of the SDK: how a hub session proves who it is, and who signs its SAS
//! tokens. Transports ask it for a token; none of them signs one itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
#[cfg(feature = "https")]
use std::sync::Mutex;
use std::time::Duration;

#[cfg(feature = "https")]
use super::renewal;
use super::{SasKey, SasToken, X509Identity};
use crate::Result;

/// A future that signs a token outside the process.
pub(crate) type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<SasToken>> + Send + 'a>>;

/// Signs SAS tokens outside the process with a key the SDK never sees (the IoT Edge workload
/// API signs with a module's key). Implemented by the layer that talks to the signer, so that
/// the transports need not know it.
pub(crate) trait ExternalSigner: Send + Sync {
    /// A token for `resource` valid for `ttl`.
    fn sign<'a>(&'a self, resource: &'a str, ttl: Duration) -> SignFuture<'a>;
}

/// How a device or module authenticates to the hub.
#[derive(Clone)]
pub(crate) enum TokenSource {
    /// Signs fresh SAS tokens with this key: a device or module key, or one derived from a
    /// group enrollment key.
    Key(SasKey),
    /// A ready-made token (from a connection string); it cannot be renewed.
    Token(SasToken),
    /// A TLS client certificate; no token.
    X509(X509Identity),
    /// Tokens signed outside the process (the IoT Edge workload API).
    #[cfg_attr(not(feature = "edge"), allow(dead_code))]
    External(Arc<dyn ExternalSigner>),
}

/// A token the source handed out.
pub(crate) struct Issued {
    /// The token.
    pub(crate) token: SasToken,
    /// Whether the source can sign another one when this one is due for renewal.
    pub(crate) renewable: bool,
}

impl TokenSource {
    /// The token to present for `resource`, valid for `ttl` when the source signs it; `None`
    /// for a certificate.
    ///
    /// # Errors
    ///
    /// What an external signer reports.
    pub(crate) async fn token(&self, resource: &str, ttl: Duration) -> Result<Option<Issued>> {
        match self {
            TokenSource::Key(key) => Ok(Some(Issued {
                token: SasToken::with_ttl(resource, key, ttl, None),
                renewable: true,
            })),
            TokenSource::Token(token) => Ok(Some(Issued {
                token: token.clone(),
                renewable: false,
            })),
            TokenSource::X509(_) => Ok(None),
            TokenSource::External(signer) => Ok(Some(Issued {
                token: signer.sign(resource, ttl).await?,
                renewable: true,
            })),
        }
    }

    /// The certificate to present in the TLS handshake, if the source is one.
    pub(crate) fn identity(&self) -> Option<&X509Identity> {
        match self {
            TokenSource::X509(identity) => Some(identity),
            _ => None,
        }
    }

    /// Whether the source authenticates with a certificate rather than a token.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) fn is_x509(&self) -> bool {
        matches!(self, TokenSource::X509(_))
    }
}

#[cfg(feature = "https")]
/// A token for requests that each carry one (HTTPS): signed on demand with a key and renewed
/// by the one 80 % rule ([`renewal::is_due`]), or given, or none.
pub(crate) enum RequestToken {
    /// Tokens for `resource` signed with `key`.
    Signed(Box<Signed>),
    /// A ready-made token; it cannot be renewed.
    Given(SasToken),
    /// No `Authorization` header: a client certificate in the TLS handshake, or a URL that
    /// carries its own signature (a blob SAS URI).
    None,
}

#[cfg(feature = "https")]
/// What [`RequestToken::Signed`] holds.
pub(crate) struct Signed {
    key: SasKey,
    resource: String,
    key_name: Option<&'static str>,
    ttl: Duration,
    current: Mutex<Option<SasToken>>,
}

#[cfg(feature = "https")]
impl RequestToken {
    /// Tokens for `resource` signed with `key` (with `key_name` as `skn`), valid for `ttl`.
    pub(crate) fn signed(
        key: SasKey,
        resource: String,
        key_name: Option<&'static str>,
        ttl: Duration,
    ) -> Self {
        RequestToken::Signed(Box::new(Signed {
            key,
            resource,
            key_name,
            ttl,
            current: Mutex::new(None),
        }))
    }

    /// The token to send now, if any: the current one, or a new one once it is due.
    pub(crate) fn current(&self) -> Option<String> {
        match self {
            RequestToken::None => None,
            RequestToken::Given(token) => Some(token.as_secret().expose().to_owned()),
            RequestToken::Signed(signed) => {
                let Signed {
                    key,
                    resource,
                    key_name,
                    ttl,
                    current,
                } = &**signed;
                let now = renewal::unix_now();
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = current
                    .as_ref()
                    .is_some_and(|t| !renewal::is_due(now, t.expiry_unix(), *ttl));
                if !fresh {
                    *current = Some(SasToken::with_ttl(resource, key, *ttl, *key_name));
                }
                current.as_ref().map(|t| t.as_secret().expose().to_owned())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const RESOURCE: &str = "hub.example/devices/d1";
    const HOUR: Duration = Duration::from_secs(3600);

    fn key() -> SasKey {
        SasKey::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap()
    }

    /// A signer outside the process that counts its calls.
    struct Counting(AtomicUsize);

    impl ExternalSigner for Counting {
        fn sign<'a>(&'a self, resource: &'a str, ttl: Duration) -> SignFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(SasToken::with_ttl(resource, &key(), ttl, None)) })
        }
    }

    #[tokio::test]
    async fn each_source_hands_out_what_it_can() {
        let now = crate::auth::renewal::unix_now().as_secs();
        let signed = TokenSource::Key(key())
            .token(RESOURCE, HOUR)
            .await
            .unwrap()
            .unwrap();
        assert!(signed.renewable, "a key signs again");
        assert!((now + 3590..=now + 3610).contains(&signed.token.expiry_unix()));

        let given = SasToken::with_ttl(RESOURCE, &key(), HOUR, None);
        let issued = TokenSource::Token(given.clone())
            .token(RESOURCE, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert!(!issued.renewable, "a given token cannot be renewed");
        assert_eq!(issued.token.expiry_unix(), given.expiry_unix());
        assert!(!TokenSource::Token(given).is_x509());

        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let external = TokenSource::External(counting.clone());
        for _ in 0..2 {
            let issued = external.token(RESOURCE, HOUR).await.unwrap().unwrap();
            assert!(issued.renewable, "an external signer signs again");
        }
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            2,
            "one signature per token"
        );
        assert!(external.identity().is_none());
    }

    #[cfg(feature = "https")]
    #[test]
    fn request_tokens_are_reused_until_due() {
        let signed = RequestToken::signed(key(), RESOURCE.into(), Some("registration"), HOUR);
        let first = signed.current().unwrap();
        assert!(first.contains("skn=registration"));
        assert_eq!(signed.current().unwrap(), first, "fresh: the same token");
        // A lifetime too short to be fresh: every request gets a new one.
        let short = RequestToken::signed(key(), RESOURCE.into(), None, Duration::ZERO);
        assert!(short.current().is_some());
        let given = SasToken::with_ttl(RESOURCE, &key(), HOUR, None);
        assert_eq!(
            RequestToken::Given(given.clone()).current().unwrap(),
            given.as_secret().expose()
        );
        assert!(RequestToken::None.current().is_none());
    }
}
