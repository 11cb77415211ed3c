//! Symmetric keys and SharedAccessSignature tokens (protocol.md 1.2 to 1.5).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::{CredentialError, Secret};

type HmacSha256 = Hmac<Sha256>;

/// Bytes kept as is by [`encode_resource_uri`]: `A-Z a-z 0-9 - _ . ~` (RFC 3986 unreserved).
const SR_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The first word of every SAS token.
const SAS_PREFIX: &str = "SharedAccessSignature";

/// SHA-256 block size: HMAC keys are hashed when longer, zero-padded when shorter.
const SHA256_BLOCK_LEN: usize = 64;

/// Builds the HMAC-SHA256 state for `key` (RFC 2104 key preparation done here, so that no
/// fallible constructor is needed).
fn hmac_for_key(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() > SHA256_BLOCK_LEN {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// A base64 symmetric key: a device, module, group enrollment or shared access policy key.
///
/// The key is validated on construction (standard base64 alphabet with `=` padding, not
/// empty). `Debug` prints `SasKey(***)`.
///
/// # Examples
///
/// ```
/// use iotc_sdk::auth::SasKey;
///
/// let group = SasKey::new("nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==")?;
/// let device = group.derive_device_key("thermostat-01");
/// assert_eq!(device.to_base64().expose(), "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s=");
/// # Ok::<(), iotc_sdk::auth::CredentialError>(())
/// ```
#[derive(Clone)]
pub struct SasKey {
    /// The base64 text as given (canonical, since decoding is strict).
    text: Secret,
    /// HMAC state keyed with the decoded key bytes.
    mac: HmacSha256,
}

impl SasKey {
    /// Validates and wraps a base64 key.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidKey`] when the text is empty or not strict standard base64
    /// with padding (whitespace, the URL-safe alphabet and missing padding are rejected). The
    /// message never contains the key.
    pub fn new(base64_key: &str) -> Result<SasKey, CredentialError> {
        if base64_key.is_empty() {
            return Err(CredentialError::InvalidKey("the key is empty".into()));
        }
        if base64_key.trim() != base64_key {
            return Err(CredentialError::InvalidKey(
                "the key has leading or trailing whitespace".into(),
            ));
        }
        let decoded = STANDARD.decode(base64_key).map_err(|_| {
            CredentialError::InvalidKey(format!(
                "the key ({} characters) is not valid base64 (standard alphabet with `=` padding)",
                base64_key.chars().count()
            ))
        })?;
        if decoded.is_empty() {
            return Err(CredentialError::InvalidKey("the key is empty".into()));
        }
        Ok(SasKey {
            text: Secret::new(base64_key),
            mac: hmac_for_key(&decoded),
        })
    }

    /// Builds a key from raw bytes (used for derived keys, which are always valid).
    fn from_bytes(bytes: &[u8]) -> SasKey {
        SasKey {
            text: Secret::new(STANDARD.encode(bytes)),
            mac: hmac_for_key(bytes),
        }
    }

    fn mac(&self, message: &[u8]) -> Vec<u8> {
        self.mac
            .clone()
            .chain_update(message)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// `base64(HMAC-SHA256(key = decoded key, message))`, standard alphabet with padding.
    ///
    /// The result is a secret (a signature or a derived key): do not log it.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.mac(message))
    }

    /// Derives a device key from this group enrollment key (protocol.md 1.5):
    /// `base64(HMAC-SHA256(decoded group key, registration_id as UTF-8))`.
    ///
    /// The registration id is used exactly as given (not lower-cased).
    pub fn derive_device_key(&self, registration_id: &str) -> SasKey {
        SasKey::from_bytes(&self.mac(registration_id.as_bytes()))
    }

    /// The key as base64 text.
    pub fn to_base64(&self) -> Secret {
        self.text.clone()
    }
}

impl fmt::Debug for SasKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SasKey(***)")
    }
}

/// Percent-encodes a resource URI for a token's `sr` field.
///
/// Every byte except `A-Z a-z 0-9 - _ . ~` becomes upper-case `%XX` (protocol.md 1.3, SDK
/// rule); the same text goes into the token and into the string to sign.
///
/// ```
/// assert_eq!(
///     iotc_sdk::auth::encode_resource_uri("hub.azure-devices.net/devices/$edge"),
///     "hub.azure-devices.net%2Fdevices%2F%24edge"
/// );
/// ```
pub fn encode_resource_uri(uri: &str) -> String {
    utf8_percent_encode(uri, SR_ENCODE_SET).to_string()
}

/// The IoT hub resource URI of a device: `{hub_host}/devices/{device_id}`.
pub fn hub_device_resource(hub_host: &str, device_id: &str) -> String {
    format!("{hub_host}/devices/{device_id}")
}

/// The IoT hub resource URI of a module:
/// `{hub_host}/devices/{device_id}/modules/{module_id}`.
pub fn hub_module_resource(hub_host: &str, device_id: &str, module_id: &str) -> String {
    format!("{hub_host}/devices/{device_id}/modules/{module_id}")
}

/// The DPS resource URI of a registration: `{id_scope}/registrations/{registration_id}`.
pub fn dps_resource(id_scope: &str, registration_id: &str) -> String {
    format!("{id_scope}/registrations/{registration_id}")
}

/// A `SharedAccessSignature` token.
///
/// `Debug` shows the resource, the expiry and the key name, never the signature. Use
/// [`SasToken::as_secret`] to get the token text (the MQTT password).
///
/// # Examples
///
/// ```
/// use iotc_sdk::auth::{hub_device_resource, SasKey, SasToken};
///
/// let key = SasKey::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")?;
/// let resource = hub_device_resource("contoso-hub.azure-devices.net", "thermostat-01");
/// let token = SasToken::new(&resource, &key, 1_700_000_000, None);
/// assert_eq!(
///     token.as_secret().expose(),
///     "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\
///      &sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000"
/// );
/// # Ok::<(), iotc_sdk::auth::CredentialError>(())
/// ```
#[derive(Clone)]
pub struct SasToken {
    text: Secret,
    resource: String,
    expiry: u64,
    key_name: Option<String>,
}

impl SasToken {
    /// A token for `resource_uri` (not yet encoded) expiring at `expiry_unix` (seconds since
    /// 1970-01-01T00:00:00Z). `key_name` becomes the `skn` field: `Some("registration")` for
    /// DPS, a policy name for a hub policy key, `None` for the device's or module's own key.
    ///
    /// The text is exactly
    /// `SharedAccessSignature sr={enc}&sig={pct-encoded base64}&se={expiry}[&skn={name}]`
    /// where `{enc}` is [`encode_resource_uri`] and the string signed is `{enc}\n{expiry}`.
    pub fn new(
        resource_uri: &str,
        key: &SasKey,
        expiry_unix: u64,
        key_name: Option<&str>,
    ) -> SasToken {
        let sr = encode_resource_uri(resource_uri);
        let sig = key.sign(format!("{sr}\n{expiry_unix}").as_bytes());
        let sig = encode_resource_uri(&sig);
        let mut text = format!("{SAS_PREFIX} sr={sr}&sig={sig}&se={expiry_unix}");
        if let Some(name) = key_name {
            text.push_str("&skn=");
            text.push_str(&encode_resource_uri(name));
        }
        SasToken {
            text: Secret::new(text),
            resource: resource_uri.to_owned(),
            expiry: expiry_unix,
            key_name: key_name.map(str::to_owned),
        }
    }

    /// The string a token for `resource_uri` expiring at `expiry_unix` signs:
    /// `{encoded resource}\n{expiry}` (for a signer that holds the key elsewhere, such as the
    /// IoT Edge workload API).
    #[cfg_attr(not(feature = "edge"), allow(dead_code))]
    pub(crate) fn string_to_sign(resource_uri: &str, expiry_unix: u64) -> String {
        format!("{}\n{expiry_unix}", encode_resource_uri(resource_uri))
    }

    /// A token from a signature made elsewhere over
    /// [`string_to_sign`](Self::string_to_sign) (base64, as the HMAC's output); no `skn`.
    #[cfg_attr(not(feature = "edge"), allow(dead_code))]
    pub(crate) fn from_signature(
        resource_uri: &str,
        expiry_unix: u64,
        signature: &str,
    ) -> SasToken {
        let sr = encode_resource_uri(resource_uri);
        let sig = encode_resource_uri(signature);
        SasToken {
            text: Secret::new(format!("{SAS_PREFIX} sr={sr}&sig={sig}&se={expiry_unix}")),
            resource: resource_uri.to_owned(),
            expiry: expiry_unix,
            key_name: None,
        }
    }

    /// Like [`SasToken::new`], expiring `ttl` from now (`SystemTime::now()`, whole seconds).
    pub fn with_ttl(
        resource_uri: &str,
        key: &SasKey,
        ttl: Duration,
        key_name: Option<&str>,
    ) -> SasToken {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        SasToken::new(
            resource_uri,
            key,
            now.saturating_add(ttl.as_secs()),
            key_name,
        )
    }

    /// Parses an existing token (such as the `SharedAccessSignature` value of a connection
    /// string). The text is kept as is; `se`, `skn` and the decoded `sr` are extracted.
    ///
    /// Field names are case-insensitive and their order is free; `sr`, `sig` and `se` are
    /// required, `skn` is optional.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidToken`] when the token does not start with
    /// `SharedAccessSignature `, a field is missing, duplicated, unknown or empty, `se` is not
    /// a number, or `sr` does not decode to UTF-8. The message never contains the signature.
    pub fn parse(token: &str) -> Result<SasToken, CredentialError> {
        let bad = |msg: &str| CredentialError::InvalidToken(msg.to_owned());
        let fields = token
            .strip_prefix(SAS_PREFIX)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| bad("it must start with `SharedAccessSignature ` (one space)"))?;

        let mut sr: Option<&str> = None;
        let mut sig: Option<&str> = None;
        let mut se: Option<&str> = None;
        let mut skn: Option<&str> = None;
        for field in fields.split('&') {
            let (name, value) = field
                .split_once('=')
                .ok_or_else(|| bad("a field has no `=`"))?;
            let slot = if name.eq_ignore_ascii_case("sr") {
                &mut sr
            } else if name.eq_ignore_ascii_case("sig") {
                &mut sig
            } else if name.eq_ignore_ascii_case("se") {
                &mut se
            } else if name.eq_ignore_ascii_case("skn") {
                &mut skn
            } else {
                return Err(bad(
                    "unknown field (expected only `sr`, `sig`, `se` and `skn`)",
                ));
            };
            if slot.is_some() {
                return Err(CredentialError::InvalidToken(format!(
                    "field `{}` appears more than once",
                    name.to_ascii_lowercase()
                )));
            }
            if value.is_empty() {
                return Err(CredentialError::InvalidToken(format!(
                    "field `{}` is empty",
                    name.to_ascii_lowercase()
                )));
            }
            *slot = Some(value);
        }

        let sr = sr.ok_or_else(|| bad("field `sr` is missing"))?;
        if sig.is_none() {
            return Err(bad("field `sig` is missing"));
        }
        let se = se.ok_or_else(|| bad("field `se` is missing"))?;
        let expiry = percent_decode_str(se)
            .decode_utf8()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("field `se` is not a number of seconds"))?;
        let resource = percent_decode_str(sr)
            .decode_utf8()
            .map_err(|_| bad("field `sr` does not decode to UTF-8"))?
            .into_owned();
        let key_name = skn
            .map(|s| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| bad("field `skn` does not decode to UTF-8"))
            })
            .transpose()?;

        Ok(SasToken {
            text: Secret::new(token),
            resource,
            expiry,
            key_name,
        })
    }

    /// When the token expires, in seconds since 1970-01-01T00:00:00Z (`se`).
    pub fn expiry_unix(&self) -> u64 {
        self.expiry
    }

    /// The resource URI the token is for, decoded (`contoso.azure-devices.net/devices/d1`).
    pub fn resource_uri(&self) -> &str {
        &self.resource
    }

    /// The key name (`skn`), if any: `registration` for DPS, a policy name for policy keys.
    pub fn key_name(&self) -> Option<&str> {
        self.key_name.as_deref()
    }

    /// Whether the token has expired at `now_unix` (seconds since the epoch), i.e. `se <= now`.
    pub fn is_expired_at(&self, now_unix: u64) -> bool {
        self.expiry <= now_unix
    }

    /// The full token text, `SharedAccessSignature sr=…`. Do not log it.
    pub fn as_secret(&self) -> &Secret {
        &self.text
    }
}

impl fmt::Debug for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasToken")
            .field("resource_uri", &self.resource)
            .field("expiry_unix", &self.expiry)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const V1_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const V1_HOST: &str = "contoso-hub.azure-devices.net";

    fn key(s: &str) -> SasKey {
        SasKey::new(s).unwrap()
    }

    /// A token signed elsewhere (the workload API) over `string_to_sign` equals the token
    /// signed here with the same key.
    #[test]
    fn external_signature_makes_the_same_token() {
        let resource = hub_module_resource(V1_HOST, "edge-gw-01", "$edgeAgent");
        let signature =
            key(V1_KEY).sign(SasToken::string_to_sign(&resource, 1_700_000_000).as_bytes());
        let external = SasToken::from_signature(&resource, 1_700_000_000, &signature);
        let local = SasToken::new(&resource, &key(V1_KEY), 1_700_000_000, None);
        assert_eq!(external.as_secret().expose(), local.as_secret().expose());
        assert_eq!(external.expiry_unix(), 1_700_000_000);
        assert!(external.as_secret().expose().contains(
            "sr=contoso-hub.azure-devices.net%2Fdevices%2Fedge-gw-01%2Fmodules%2F%24edgeAgent&"
        ));
    }

    /// The key preparation in `hmac_for_key` must equal the hmac crate's own, for keys shorter
    /// than, equal to and longer than the SHA-256 block.
    #[test]
    fn key_preparation_matches_the_hmac_crate() {
        for len in [0usize, 1, 16, 32, 63, 64, 65, 128, 300] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut ours = hmac_for_key(&key);
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            ours.update(b"message");
            reference.update(b"message");
            assert_eq!(
                ours.finalize().into_bytes(),
                reference.finalize().into_bytes(),
                "key length {len}"
            );
        }
    }

    // ---- protocol.md 1.7 V1 ----

    #[test]
    fn v1_hub_device_token() {
        let resource = hub_device_resource(V1_HOST, "thermostat-01");
        assert_eq!(
            resource,
            "contoso-hub.azure-devices.net/devices/thermostat-01"
        );
        assert_eq!(
            encode_resource_uri(&resource),
            "contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01"
        );
        let k = key(V1_KEY);
        assert_eq!(
            k.sign(b"contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\n1700000000"),
            "oDD5WZvfIa6c4/ST4BdlHTlWE9s3fhe6PUi/KGS1NVM="
        );
        let token = SasToken::new(&resource, &k, 1_700_000_000, None);
        assert_eq!(
            token.as_secret().expose(),
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\
             &sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000"
        );
        assert_eq!(token.expiry_unix(), 1_700_000_000);
        assert_eq!(token.resource_uri(), resource);
        assert_eq!(token.key_name(), None);
    }

    #[test]
    fn v1_other_sr_spellings() {
        let k = key(V1_KEY);
        assert_eq!(
            k.sign(b"contoso-hub.azure-devices.net%2fdevices%2fthermostat-01\n1700000000"),
            "nUXaBbnAA7mgnVhwV+8EG43cfJ+MyGx4GDU0c1sodR4="
        );
        assert_eq!(
            k.sign(b"contoso-hub.azure-devices.net/devices/thermostat-01\n1700000000"),
            "u4A04aQyWtwQ18LSmhw+u9uZNeDWl7hze9QpjApL5x0="
        );
    }

    #[test]
    fn v1_skn_is_not_signed() {
        let k = key(V1_KEY);
        let resource = hub_device_resource(V1_HOST, "thermostat-01");
        let token = SasToken::new(&resource, &k, 1_700_000_000, Some("device"));
        assert_eq!(
            token.as_secret().expose(),
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\
             &sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000&skn=device"
        );
        assert_eq!(token.key_name(), Some("device"));
    }

    // ---- V2 ----

    #[test]
    fn v2_hub_module_token() {
        let k = key("OYNYTFau0TRmYkT+U43KYKo68NF3L1+cgexcwCJPadc=");
        let resource = hub_module_resource(V1_HOST, "edge-gw-01", "tempSensor");
        assert_eq!(
            resource,
            "contoso-hub.azure-devices.net/devices/edge-gw-01/modules/tempSensor"
        );
        let token = SasToken::new(&resource, &k, 1_700_003_600, None);
        assert_eq!(
            token.as_secret().expose(),
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fedge-gw-01%2Fmodules%2FtempSensor\
             &sig=lA6HeiBJWY2O%2FajaLvacb4%2B%2BYsO5d0lQCSu04K50XM8%3D&se=1700003600"
        );
    }

    #[test]
    fn v2_edge_agent_module_token() {
        let k = key("OYNYTFau0TRmYkT+U43KYKo68NF3L1+cgexcwCJPadc=");
        let resource = hub_module_resource(V1_HOST, "edge-gw-01", "$edgeAgent");
        let sr = encode_resource_uri(&resource);
        assert_eq!(
            sr,
            "contoso-hub.azure-devices.net%2Fdevices%2Fedge-gw-01%2Fmodules%2F%24edgeAgent"
        );
        assert_eq!(
            k.sign(format!("{sr}\n1700003600").as_bytes()),
            "lcCU0k7vnq+v0Mi6NBAypdFdQ+CynUCJwiE8nuWB5Q8="
        );
        let token = SasToken::new(&resource, &k, 1_700_003_600, None);
        assert_eq!(
            token.as_secret().expose(),
            format!(
                "SharedAccessSignature sr={sr}&sig=lcCU0k7vnq%2Bv0Mi6NBAypdFdQ%2BCynUCJwiE8nuWB5Q8%3D&se=1700003600"
            )
        );
    }

    // ---- V3 ----

    #[test]
    fn v3_group_key_derivation_and_dps_token() {
        let group = key(
            "nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==",
        );
        let derived = group.derive_device_key("thermostat-01");
        assert_eq!(
            derived.to_base64().expose(),
            "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s="
        );
        let resource = dps_resource("0ne00000A0A", "thermostat-01");
        assert_eq!(resource, "0ne00000A0A/registrations/thermostat-01");
        assert_eq!(
            derived.sign(b"0ne00000A0A%2Fregistrations%2Fthermostat-01\n1700007200"),
            "sSZKO67yjgF44SaaSPILwq1dEoHFkP8rX3PjsZALdE8="
        );
        let token = SasToken::new(&resource, &derived, 1_700_007_200, Some("registration"));
        assert_eq!(
            token.as_secret().expose(),
            "SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fthermostat-01\
             &sig=sSZKO67yjgF44SaaSPILwq1dEoHFkP8rX3PjsZALdE8%3D&se=1700007200&skn=registration"
        );
        // The derived key re-parses to the same key.
        let reparsed = key(derived.to_base64().expose());
        assert_eq!(reparsed.sign(b"x"), derived.sign(b"x"));
    }

    // ---- Microsoft docs ----

    #[test]
    fn ms_docs_derived_key() {
        let group = key(
            "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==",
        );
        assert_eq!(
            group
                .derive_device_key("sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6")
                .to_base64()
                .expose(),
            "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc="
        );
    }

    #[test]
    fn ms_docs_hub_token() {
        let k = key(
            "18RQk/hOPJR9EbsJlk2j8WA6vWaj/yi+oaYg7zmxfQNdOyMSu+SJ8O7TSlZhDJCYmn4rzEiVKIzNiVAWjLxrGA==",
        );
        let token = SasToken::new(
            "MyExampleHub.azure-devices.net/devices/my-symkey-device",
            &k,
            1_663_119_026,
            None,
        );
        assert!(token
            .as_secret()
            .expose()
            .contains("&sig=f%2BwW8XOKeJOtiPc9Iwjc4OpExvPM7NlhM9qxN2a1aAM%3D&"));
        assert!(token.as_secret().expose().starts_with(
            "SharedAccessSignature sr=MyExampleHub.azure-devices.net%2Fdevices%2Fmy-symkey-device&"
        ));
    }

    // ---- Node common vector: resource used as is ----

    #[test]
    fn node_common_vector() {
        let k = key("cGFzc3dvcmQ=");
        let sig = k.sign(b"uri\n12345");
        assert_eq!(sig, "kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk=");
        assert_eq!(
            encode_resource_uri(&sig),
            "kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D"
        );
        // `uri` has nothing to encode, so a token for it uses the same string to sign.
        let token = SasToken::new("uri", &k, 12345, None);
        assert_eq!(
            token.as_secret().expose(),
            "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345"
        );
    }

    #[test]
    fn node_device_vector_key_is_rejected_by_strict_decoder() {
        // protocol.md 1.7: `key` is not valid padded base64; only lenient decoders accept it.
        assert!(matches!(
            SasKey::new("key"),
            Err(CredentialError::InvalidKey(_))
        ));
    }

    // ---- encoding ----

    #[test]
    fn encode_resource_uri_rules() {
        assert_eq!(encode_resource_uri("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(
            encode_resource_uri("a/b:c@d!e'f(g)h*i j+k=l$m%n#o?p&q"),
            "a%2Fb%3Ac%40d%21e%27f%28g%29h%2Ai%20j%2Bk%3Dl%24m%25n%23o%3Fp%26q"
        );
        assert_eq!(encode_resource_uri("é"), "%C3%A9");
        assert_eq!(encode_resource_uri(""), "");
    }

    // ---- keys ----

    #[test]
    fn key_validation() {
        for bad in [
            "",
            "key",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", // no padding
            " MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", // whitespace
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
            "OYNYTFau0TRmYkT-U43KYKo68NF3L1_cgexcwCJPadc=", // URL-safe alphabet
            "====",
            "cGFzc3dvcmQ==",
            "cGFzc3dvcmR=", // non-canonical trailing bits
        ] {
            let err = SasKey::new(bad).err();
            assert!(
                matches!(err, Some(CredentialError::InvalidKey(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn key_error_does_not_echo_key() {
        let secret_ish = "c2VjcmV0LXNlY3JldC1zZWNyZXQ!";
        let err = SasKey::new(secret_ish).err().unwrap();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(secret_ish), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
    }

    #[test]
    fn key_debug_hides_material() {
        let k = key(V1_KEY);
        let dbg = format!("{k:?} {k:#?}");
        assert_eq!(format!("{k:?}"), "SasKey(***)");
        assert!(!dbg.contains("MDEy"));
        assert_eq!(k.to_base64().expose(), V1_KEY);
    }

    #[test]
    fn long_keys_are_hashed_like_hmac_does() {
        // 64-byte keys (block size) and longer keys: RFC 4231 test case 6.
        let k = SasKey::new(&STANDARD.encode([0xaa_u8; 131])).unwrap();
        let mac = STANDARD
            .decode(k.sign(b"Test Using Larger Than Block-Size Key - Hash Key First"))
            .unwrap();
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    // ---- tokens ----

    #[test]
    fn token_debug_hides_signature() {
        let k = key(V1_KEY);
        let token = SasToken::new("hub/devices/d1", &k, 1_700_000_000, Some("device"));
        let dbg = format!("{token:?}");
        assert!(!dbg.contains("sig"), "{dbg}");
        assert!(!dbg.contains("SharedAccessSignature"), "{dbg}");
        assert!(dbg.contains("hub/devices/d1"), "{dbg}");
        assert!(dbg.contains("1700000000"), "{dbg}");
    }

    #[test]
    fn with_ttl_expires_after_now() {
        let k = key(V1_KEY);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = SasToken::with_ttl("hub/devices/d1", &k, Duration::from_secs(3600), None);
        assert!(token.expiry_unix() >= now + 3600);
        assert!(token.expiry_unix() <= now + 3600 + 5);
        assert!(!token.is_expired_at(now));
        assert!(token.is_expired_at(token.expiry_unix()));
        // Round trip through the parser.
        let parsed = SasToken::parse(token.as_secret().expose()).unwrap();
        assert_eq!(parsed.expiry_unix(), token.expiry_unix());
        assert_eq!(parsed.resource_uri(), "hub/devices/d1");
    }

    #[test]
    fn parse_v1_and_v3_tokens() {
        let text =
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\
                    &sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        let t = SasToken::parse(text).unwrap();
        assert_eq!(t.as_secret().expose(), text);
        assert_eq!(t.expiry_unix(), 1_700_000_000);
        assert_eq!(
            t.resource_uri(),
            "contoso-hub.azure-devices.net/devices/thermostat-01"
        );
        assert_eq!(t.key_name(), None);

        // Docs order (sig first), lower-case escapes, skn.
        let t = SasToken::parse(
            "SharedAccessSignature sig=abc%3D&se=1700007200&skn=registration&sr=0ne00000A0A%2fregistrations%2fthermostat-01",
        )
        .unwrap();
        assert_eq!(t.resource_uri(), "0ne00000A0A/registrations/thermostat-01");
        assert_eq!(t.expiry_unix(), 1_700_007_200);
        assert_eq!(t.key_name(), Some("registration"));

        // Field names are case-insensitive.
        let t = SasToken::parse("SharedAccessSignature SR=a%2Fb&SIG=x&SE=1").unwrap();
        assert_eq!(t.resource_uri(), "a/b");
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "SharedAccessSignature",
            "SharedAccessSignature ",
            "sharedaccesssignature sr=a&sig=b&se=1",
            "SharedAccessSignature  sr=a&sig=b&se=1",
            "Bearer sr=a&sig=b&se=1",
            "SharedAccessSignature sig=b&se=1",
            "SharedAccessSignature sr=a&se=1",
            "SharedAccessSignature sr=a&sig=b",
            "SharedAccessSignature sr=a&sig=b&se=soon",
            "SharedAccessSignature sr=a&sig=b&se=-1",
            "SharedAccessSignature sr=a&sig=b&se=1&se=2",
            "SharedAccessSignature sr=a&sig=&se=1",
            "SharedAccessSignature sr=a&sig=b&se=1&foo=bar",
            "SharedAccessSignature sr=a&sigb&se=1",
            "SharedAccessSignature sr=%FF&sig=b&se=1",
            "SharedAccessSignature sr=a&sig=b&se=1&",
        ] {
            assert!(
                matches!(SasToken::parse(bad), Err(CredentialError::InvalidToken(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn parse_error_does_not_echo_signature() {
        let err =
            SasToken::parse("SharedAccessSignature sr=a&sig=TOPSECRETSIG&sig=TOPSECRETSIG&se=1")
                .err()
                .unwrap();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("TOPSECRETSIG"), "{text}");
    }
}
