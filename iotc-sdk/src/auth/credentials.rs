//! [`Credentials`]: how a device proves who it is.

use super::{CredentialError, SasKey, X509Identity};

/// How a device proves who it is to DPS and IoT hub.
///
/// `Debug` never prints key material.
///
/// # Examples
///
/// ```
/// use iotc_sdk::auth::Credentials;
///
/// // An IoT Central SAS enrollment group key: each device derives its own key.
/// let creds = Credentials::group_key(
///     "nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==",
/// )?;
/// let key = creds.device_sas_key("thermostat-01").expect("symmetric key credentials");
/// assert_eq!(key.to_base64().expose(), "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s=");
/// # Ok::<(), iotc_sdk::auth::CredentialError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// The device's own symmetric key (individual enrollment, or a key computed with
    /// `az iot central device compute-device-key`).
    DeviceKey(SasKey),
    /// An enrollment group's symmetric key; the device key is derived from it and the
    /// registration ID (protocol.md 1.5).
    GroupKey(SasKey),
    /// An X.509 certificate and private key.
    X509(X509Identity),
}

impl Credentials {
    /// The device's own base64 symmetric key.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidKey`] when the key is empty or not valid base64.
    pub fn device_key(base64_key: &str) -> Result<Credentials, CredentialError> {
        SasKey::new(base64_key).map(Credentials::DeviceKey)
    }

    /// An enrollment group's base64 symmetric key (IoT Central `SAS-IoT-Devices`).
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidKey`] when the key is empty or not valid base64.
    pub fn group_key(base64_group_key: &str) -> Result<Credentials, CredentialError> {
        SasKey::new(base64_group_key).map(Credentials::GroupKey)
    }

    /// An X.509 identity.
    pub fn x509(identity: X509Identity) -> Credentials {
        Credentials::X509(identity)
    }

    /// The symmetric key this device signs with: its own key, or the key derived from the
    /// group key and `registration_id`. `None` for X.509.
    pub fn device_sas_key(&self, registration_id: &str) -> Option<SasKey> {
        match self {
            Credentials::DeviceKey(key) => Some(key.clone()),
            Credentials::GroupKey(group) => Some(group.derive_device_key(registration_id)),
            Credentials::X509(_) => None,
        }
    }

    /// The X.509 identity, for X.509 credentials.
    pub fn x509_identity(&self) -> Option<&X509Identity> {
        match self {
            Credentials::X509(identity) => Some(identity),
            _ => None,
        }
    }
}

impl From<X509Identity> for Credentials {
    fn from(identity: X509Identity) -> Self {
        Credentials::X509(identity)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GROUP_KEY: &str =
        "nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==";
    const DEVICE_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn device_key_is_used_as_is() {
        let creds = Credentials::device_key(DEVICE_KEY).unwrap();
        let key = creds.device_sas_key("ignored").unwrap();
        assert_eq!(key.to_base64().expose(), DEVICE_KEY);
        assert!(creds.x509_identity().is_none());
    }

    #[test]
    fn group_key_is_derived_v3() {
        let creds = Credentials::group_key(GROUP_KEY).unwrap();
        let key = creds.device_sas_key("thermostat-01").unwrap();
        assert_eq!(
            key.to_base64().expose(),
            "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s="
        );
        // Registration IDs are used as given, not lower-cased.
        let upper = creds.device_sas_key("THERMOSTAT-01").unwrap();
        assert_ne!(upper.to_base64(), key.to_base64());
    }

    #[test]
    fn x509_has_no_sas_key() {
        let identity = X509Identity::from_pem(
            include_bytes!("testdata/thermostat-01.chain.pem"),
            include_bytes!("testdata/thermostat-01.key.pem"),
        )
        .unwrap();
        let creds = Credentials::x509(identity);
        assert!(creds.device_sas_key("thermostat-01").is_none());
        assert_eq!(
            creds.x509_identity().unwrap().common_name(),
            "thermostat-01"
        );
        let dbg = format!("{creds:?}");
        assert!(dbg.contains("thermostat-01"), "{dbg}");
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
    }

    #[test]
    fn invalid_keys() {
        assert!(matches!(
            Credentials::device_key(""),
            Err(CredentialError::InvalidKey(_))
        ));
        assert!(matches!(
            Credentials::group_key("not base64!"),
            Err(CredentialError::InvalidKey(_))
        ));
    }

    #[test]
    fn debug_hides_keys() {
        let dbg = format!(
            "{:?} {:?}",
            Credentials::device_key(DEVICE_KEY).unwrap(),
            Credentials::group_key(GROUP_KEY).unwrap()
        );
        assert_eq!(dbg, "DeviceKey(SasKey(***)) GroupKey(SasKey(***))");
    }
}
