//! Changing a device's registered credentials, as IoT Central does: an individual X.509
//! enrollment whose primary and secondary certificates are replaced, and a device's SAS key
//! regenerated. DPS and the hub (MQTT, AMQP, HTTPS) check the device against them from then
//! on, so the old credential is refused.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::x509::X509;

use crate::state::DeviceAuth;
use crate::tls::{common_name, PeerCert};
use crate::{tls, Emulator, EmulatorError};

pub(crate) use crate::state::Thumbprint;

/// `cert`'s SHA-256 thumbprint.
pub(crate) fn thumbprint(cert: &X509) -> Option<Thumbprint> {
    let digest = cert.digest(MessageDigest::sha256()).ok()?;
    digest.as_ref().try_into().ok()
}

/// Whether the client certificate is one of `enrolled` (an individual X.509 enrollment's
/// primary or secondary certificate).
pub(crate) fn is_enrolled(enrolled: &[Thumbprint], cert: &PeerCert) -> bool {
    thumbprint(&cert.leaf).is_some_and(|t| enrolled.contains(&t))
}

/// Credential changes (IoT Central's device attestation).
impl Emulator {
    /// Adds or replaces an individual X.509 enrollment: `registration_id` authenticates with a
    /// client certificate that is `primary_pem` or `secondary_pem` (the leaf, self-signed or
    /// CA-signed; its subject CN must be the registration id). It wins over the X.509 enrollment
    /// groups and the SAS enrollments: from now on DPS and the hub refuse that device's other
    /// certificates (one that chains to a group's CA included) and its SAS keys. Replacing the
    /// certificates is how IoT Central rotates them; a device connected now stays connected.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Certificate`] when a PEM holds no certificate, or its CN is not the
    /// registration id; [`EmulatorError::InvalidConfig`] for an invalid registration id.
    pub fn set_x509_device_certificates(
        &self,
        registration_id: &str,
        primary_pem: &str,
        secondary_pem: Option<&str>,
    ) -> Result<(), EmulatorError> {
        check_id(registration_id)?;
        let mut enrolled = Vec::new();
        for pem in std::iter::once(primary_pem).chain(secondary_pem) {
            let leaf = tls::parse_pem_certs(pem)?
                .into_iter()
                .next()
                .ok_or_else(|| EmulatorError::Certificate("no certificate".into()))?;
            if common_name(&leaf).as_deref() != Some(registration_id) {
                return Err(EmulatorError::Certificate(format!(
                    "the certificate's CN is not the registration id {registration_id:?}"
                )));
            }
            enrolled.push(
                thumbprint(&leaf).ok_or_else(|| {
                    EmulatorError::Certificate("cannot hash the certificate".into())
                })?,
            );
        }
        let mut state = self.shared.lock();
        state.individual.remove(registration_id);
        state
            .x509_individual
            .insert(registration_id.to_owned(), enrolled);
        if let Some(device) = state.devices.get_mut(registration_id) {
            if matches!(device.auth, DeviceAuth::Sas { .. }) {
                // An individual enrollment has no group.
                device.auth = DeviceAuth::X509 {
                    group: String::new(),
                };
            }
        }
        Ok(())
    }

    /// Sets a device's SAS key (base64), as regenerating its keys in IoT Central does: DPS
    /// takes it as the device's individual enrollment (no longer the group's derived key, nor
    /// a certificate) and the hub checks the device's tokens against it. Tokens signed with
    /// the old key are refused from now on; a device connected now stays connected until its
    /// token is renewed.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] when the key is not base64 or the id is invalid.
    pub fn set_device_key(&self, device_id: &str, key_base64: &str) -> Result<(), EmulatorError> {
        check_id(device_id)?;
        if B64.decode(key_base64).map(|b| b.is_empty()).unwrap_or(true) {
            return Err(EmulatorError::InvalidConfig(
                "the device key is not valid base64".into(),
            ));
        }
        let mut state = self.shared.lock();
        state.x509_individual.remove(device_id);
        state
            .individual
            .insert(device_id.to_owned(), key_base64.to_owned());
        if let Some(device) = state.devices.get_mut(device_id) {
            device.auth = DeviceAuth::Sas {
                key: key_base64.to_owned(),
            };
        }
        Ok(())
    }

    /// Gives a device a new random SAS key (32 bytes, base64) with
    /// [`set_device_key`](Self::set_device_key), and returns it.
    ///
    /// # Errors
    ///
    /// As [`set_device_key`](Self::set_device_key).
    pub fn regenerate_device_key(&self, device_id: &str) -> Result<String, EmulatorError> {
        let mut key = [0u8; 32];
        openssl::rand::rand_bytes(&mut key)
            .map_err(|e| EmulatorError::InvalidConfig(format!("no random bytes: {e}")))?;
        let key = B64.encode(key);
        self.set_device_key(device_id, &key)?;
        Ok(key)
    }
}

fn check_id(id: &str) -> Result<(), EmulatorError> {
    if id.is_empty() || id.contains('/') {
        return Err(EmulatorError::InvalidConfig(format!(
            "invalid registration id {id:?}"
        )));
    }
    Ok(())
}
