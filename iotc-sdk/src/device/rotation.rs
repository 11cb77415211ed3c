//! Credential rotation without rebuilding the [`Device`]: [`Device::update_credentials`] hands
//! new credentials to the connection supervisor, which uses them from the next connection on
//! (and registers with DPS again first, so that the hub learns them);
//! [`Device::update_credentials_now`] also asks for a clean reconnection at once. Beside it, the
//! certificate-expiry check that runs at every connection.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::{ConnectionState, Device};
use crate::auth::{CredentialError, Credentials, TokenSource, X509Identity};
use crate::transport::Request;
use crate::{Error, Result};

/// How long before its `not_after` a device certificate is reported as expiring, by default:
/// 30 days (see [`DeviceBuilder::certificate_expiry_warning`](super::DeviceBuilder::certificate_expiry_warning)).
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// How the device's identity is fixed, which says what may replace its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Through DPS under this registration id (the X.509 CN must stay it).
    Dps {
        /// The registration id.
        registration_id: String,
        /// A gateway's downstream device on the gateway's shared AMQP connection: the TLS
        /// client identity is the gateway's, so no certificate of its own.
        shared_connection: bool,
    },
    /// Straight to a hub with a key or token (a connection string); `device_id` derives a
    /// group key.
    Direct {
        /// The hub device id.
        device_id: String,
    },
    /// Tokens signed by the IoT Edge workload API: the SDK holds no credential to replace.
    EdgeWorkload,
}

impl Identity {
    /// The identity of a device that authenticates with `auth` and came through DPS as
    /// `registration_id` (or not).
    pub(crate) fn of(
        auth: &TokenSource,
        registration_id: Option<&str>,
        device_id: &str,
        shared_connection: bool,
    ) -> Identity {
        match (auth, registration_id) {
            (TokenSource::External(_), _) => Identity::EdgeWorkload,
            (_, Some(registration_id)) => Identity::Dps {
                registration_id: registration_id.to_owned(),
                shared_connection,
            },
            (_, None) => Identity::Direct {
                device_id: device_id.to_owned(),
            },
        }
    }

    /// Checks that `credentials` can replace the device's at `now`, and returns what the hub
    /// sessions authenticate with from then on.
    ///
    /// # Errors
    ///
    /// [`CredentialError::NotRotatable`] when the kind cannot work for this device (an IoT Edge
    /// workload identity, a certificate for a connection-string device or a gateway's shared
    /// connection, a certificate whose CN is not the registration id);
    /// [`CredentialError::InvalidCertificate`] for a certificate that has expired.
    pub(crate) fn check(
        &self,
        credentials: &Credentials,
        now: OffsetDateTime,
    ) -> Result<TokenSource, CredentialError> {
        let not_rotatable = |why: String| Err(CredentialError::NotRotatable(why));
        let registration_id = match self {
            Identity::EdgeWorkload => {
                return not_rotatable(
                    "the module's identity comes from the IoT Edge workload API, which signs its tokens".into(),
                )
            }
            Identity::Direct { device_id } => device_id,
            Identity::Dps {
                registration_id, ..
            } => registration_id,
        };
        match credentials.x509_identity() {
            Some(identity) => {
                match self {
                    Identity::Direct { .. } => {
                        return not_rotatable(
                            "a device that connects with a connection string authenticates with a key; X.509 devices connect through DPS".into(),
                        )
                    }
                    Identity::Dps {
                        shared_connection: true,
                        ..
                    } => {
                        return not_rotatable(
                            "the device shares its gateway's AMQP connection, whose TLS client identity is the gateway's".into(),
                        )
                    }
                    _ => {}
                }
                if identity.common_name() != registration_id {
                    return not_rotatable(format!(
                        "the certificate's CN `{}` is not the registration id `{registration_id}`",
                        identity.common_name()
                    ));
                }
                if identity.not_after() <= now {
                    return Err(CredentialError::InvalidCertificate(format!(
                        "the certificate for `{}` expired at {}",
                        identity.common_name(),
                        identity.not_after()
                    )));
                }
                Ok(TokenSource::X509(identity.clone()))
            }
            None => credentials
                .device_sas_key(registration_id)
                .map(TokenSource::Key)
                .ok_or_else(|| {
                    CredentialError::InvalidKey(
                        "the credentials hold neither a key nor a certificate".into(),
                    )
                }),
        }
    }
}

/// Credentials waiting for the next connection, shared by the device handles and the
/// connection supervisor.
#[derive(Debug)]
pub(crate) struct Rotation {
    identity: Identity,
    /// How long before expiry a certificate is reported.
    pub(crate) expiry_warning: Duration,
    pending: Mutex<Pending>,
    /// The generation of the credentials of the connection open now (0: the builder's).
    connected: watch::Sender<u64>,
}

/// What [`Rotation`] guards.
#[derive(Default)]
struct Pending {
    /// The generation of the newest update.
    generation: u64,
    /// Credentials not yet taken by the supervisor.
    next: Option<(Credentials, TokenSource)>,
    /// The newest credentials' hub authentication (for connections outside the supervisor:
    /// file upload).
    latest: Option<TokenSource>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("generation", &self.generation)
            .field("waiting", &self.next.is_some())
            .finish_non_exhaustive()
    }
}

impl Rotation {
    pub(crate) fn new(identity: Identity, expiry_warning: Duration) -> Self {
        Rotation {
            identity,
            expiry_warning,
            pending: Mutex::new(Pending::default()),
            connected: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and stores `credentials` for the next connection; returns their generation.
    fn update(&self, credentials: Credentials) -> Result<u64> {
        let auth = self
            .identity
            .check(&credentials, OffsetDateTime::now_utc())?;
        let mut pending = self.lock();
        pending.generation += 1;
        pending.latest = Some(auth.clone());
        pending.next = Some((credentials, auth));
        Ok(pending.generation)
    }

    /// The credentials to connect with from now on, if they changed, and their generation.
    pub(crate) fn take(&self) -> Option<(Credentials, TokenSource, u64)> {
        let mut pending = self.lock();
        let generation = pending.generation;
        pending
            .next
            .take()
            .map(|(credentials, auth)| (credentials, auth, generation))
    }

    /// The device is connected with the credentials of `generation`.
    pub(crate) fn connected_with(&self, generation: u64) {
        self.connected.send_if_modified(|current| {
            let changed = *current != generation;
            *current = generation;
            changed
        });
    }

    /// The newest credentials' hub authentication, when they were updated.
    #[cfg_attr(not(feature = "https"), allow(dead_code))]
    pub(crate) fn latest(&self) -> Option<TokenSource> {
        self.lock().latest.clone()
    }
}

/// A certificate that expires within `warning` of `now` (or has expired): what the device
/// reports of it.
pub(crate) fn expiring(
    identity: &X509Identity,
    now: OffsetDateTime,
    warning: Duration,
) -> Option<(String, OffsetDateTime)> {
    let left = identity.not_after() - now;
    (left < warning).then(|| (identity.common_name().to_owned(), identity.not_after()))
}

impl Device {
    /// Replaces the device's credentials: a new X.509 certificate and key, a new device key, or
    /// a new enrollment-group key (the device key is derived from it). The connection open now
    /// goes on with the old credentials; the next connection (a reconnection after a loss, a
    /// SAS token renewal, or a re-registration with DPS) uses the new ones. A device that came
    /// through DPS registers again first (same registration id: the certificate's CN must not
    /// change), so that the hub learns the new credential. Nothing queued or in flight is lost.
    /// To switch at once, use [`update_credentials_now`](Self::update_credentials_now).
    ///
    /// File uploads ([`Device::upload_file`]) use the new credentials at once.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] with [`CredentialError::NotRotatable`] when the credentials
    /// cannot work for this device: an IoT Edge module whose tokens the workload API signs, a
    /// certificate for a device that connects with a connection string or shares a gateway's
    /// AMQP connection, a certificate whose CN is not the registration id; with
    /// [`CredentialError::InvalidCertificate`] for a certificate that has already expired. The
    /// device's credentials are unchanged then.
    pub fn update_credentials(&self, credentials: Credentials) -> Result<()> {
        self.inner.rotation.update(credentials).map(|_| ())
    }

    /// Replaces the device's credentials as [`update_credentials`](Self::update_credentials)
    /// does, then reconnects cleanly at once: what is in flight is acknowledged first (for up to
    /// the operation timeout), the connection closes, and the device connects again with the
    /// new credentials (registering with DPS first when it came through DPS); queued requests
    /// wait for the new connection. Returns once the device is connected with them; the state
    /// stream shows [`ConnectionState::Renewing`] and then [`ConnectionState::Connected`].
    ///
    /// # Errors
    ///
    /// As [`update_credentials`](Self::update_credentials); [`Error::Timeout`] when the device
    /// is not connected with the new credentials within the operation timeout (the service
    /// refused them, or cannot be reached; the device keeps trying as after any loss);
    /// [`Error::Closed`] when the device is closed.
    pub async fn update_credentials_now(&self, credentials: Credentials) -> Result<()> {
        // Subscribed before anything changes, so that no transition is missed.
        let mut changes = self.state_changes();
        let mut connected = self.inner.rotation.connected.subscribe();
        let generation = self.inner.rotation.update(credentials)?;
        self.inner
            .requests
            .send(Request::Reconnect)
            .await
            .map_err(|_| Error::Closed)?;
        let reconnected = std::pin::pin!(async {
            loop {
                // Connected with these credentials (or newer ones)?
                if *connected.borrow_and_update() >= generation {
                    return Ok(());
                }
                tokio::select! {
                    change = changes.next() => match change {
                        None | Some(ConnectionState::Closed { .. }) => return Err(Error::Closed),
                        Some(_) => {}
                    },
                    changed = connected.changed() => if changed.is_err() {
                        return Err(Error::Closed);
                    },
                }
            }
        });
        self.inner
            .deadlines
            .within("the reconnection with the new credentials", reconnected)
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const GROUP_KEY: &str =
        "nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==";

    fn thermostat() -> X509Identity {
        X509Identity::from_pem(
            include_bytes!("../auth/testdata/thermostat-01.chain.pem"),
            include_bytes!("../auth/testdata/thermostat-01.key.pem"),
        )
        .unwrap()
    }

    fn dps(registration_id: &str) -> Identity {
        Identity::Dps {
            registration_id: registration_id.into(),
            shared_connection: false,
        }
    }

    fn refused(result: Result<TokenSource, CredentialError>) -> CredentialError {
        match result {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    /// A moment when the test certificate is valid.
    fn valid_at(identity: &X509Identity) -> OffsetDateTime {
        identity.not_before() + time::Duration::DAY
    }

    #[test]
    fn keys_replace_keys_and_group_keys_are_derived_for_the_registration_id() {
        let now = OffsetDateTime::now_utc();
        let auth = dps("thermostat-01")
            .check(&Credentials::group_key(GROUP_KEY).unwrap(), now)
            .unwrap();
        match auth {
            TokenSource::Key(key) => assert_eq!(
                key.to_base64().expose(),
                "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s="
            ),
            _ => panic!("a key"),
        }
        let direct = Identity::Direct {
            device_id: "d1".into(),
        };
        assert!(matches!(
            direct.check(&Credentials::device_key(KEY).unwrap(), now),
            Ok(TokenSource::Key(_))
        ));
    }

    #[test]
    fn certificates_keep_the_registration_id() {
        let identity = thermostat();
        let now = valid_at(&identity);
        let creds = Credentials::x509(identity);
        assert!(matches!(
            dps("thermostat-01").check(&creds, now),
            Ok(TokenSource::X509(_))
        ));
        let err = refused(dps("thermostat-02").check(&creds, now));
        assert!(
            matches!(err, CredentialError::NotRotatable(ref m) if m.contains("thermostat-01")),
            "{err}"
        );
    }

    #[test]
    fn kinds_that_cannot_work_are_typed_errors() {
        let identity = thermostat();
        let now = valid_at(&identity);
        let creds = Credentials::x509(identity);
        let direct = Identity::Direct {
            device_id: "thermostat-01".into(),
        };
        let shared = Identity::Dps {
            registration_id: "thermostat-01".into(),
            shared_connection: true,
        };
        for identity in [direct, shared] {
            assert!(matches!(
                identity.check(&creds, now),
                Err(CredentialError::NotRotatable(_))
            ));
        }
        assert!(matches!(
            Identity::EdgeWorkload.check(&Credentials::device_key(KEY).unwrap(), now),
            Err(CredentialError::NotRotatable(_))
        ));
    }

    #[test]
    fn an_expired_certificate_is_refused() {
        let identity = thermostat();
        let after = identity.not_after() + time::Duration::SECOND;
        let err = refused(dps("thermostat-01").check(&Credentials::x509(identity), after));
        assert!(
            matches!(err, CredentialError::InvalidCertificate(_)),
            "{err}"
        );
    }

    #[test]
    fn expiry_is_reported_within_the_warning() {
        let identity = thermostat();
        let not_after = identity.not_after();
        let month = Duration::from_secs(30 * 24 * 3600);
        let early = not_after - time::Duration::days(31);
        assert_eq!(expiring(&identity, early, month), None);
        let close = not_after - time::Duration::days(29);
        assert_eq!(
            expiring(&identity, close, month),
            Some(("thermostat-01".to_owned(), not_after))
        );
        let expired = not_after + time::Duration::DAY;
        assert!(expiring(&identity, expired, month).is_some());
        assert!(expiring(&identity, close, Duration::ZERO).is_none());
    }

    #[test]
    fn updates_wait_for_the_supervisor_in_order() {
        let rotation = Rotation::new(
            Identity::Direct {
                device_id: "d1".into(),
            },
            DEFAULT_EXPIRY_WARNING,
        );
        assert!(rotation.take().is_none());
        assert!(rotation.latest().is_none());
        let first = rotation
            .update(Credentials::device_key(KEY).unwrap())
            .unwrap();
        let second = rotation
            .update(Credentials::group_key(GROUP_KEY).unwrap())
            .unwrap();
        assert!(second > first);
        let (creds, auth, generation) = rotation.take().unwrap();
        assert_eq!(generation, second, "the newest update wins");
        assert!(matches!(creds, Credentials::GroupKey(_)));
        assert!(matches!(auth, TokenSource::Key(_)));
        assert!(rotation.take().is_none(), "taken once");
        assert!(rotation.latest().is_some());
        let refused = rotation.update(Credentials::x509(thermostat()));
        assert!(matches!(
            refused,
            Err(Error::Credentials(CredentialError::NotRotatable(_)))
        ));
        assert!(
            rotation.take().is_none(),
            "a refused update changes nothing"
        );
    }
}
