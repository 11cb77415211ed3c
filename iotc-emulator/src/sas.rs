//! SAS token validation and group key derivation (protocol.md 1.2, 1.3 "Emulator rule", 1.5).
//!
//! Pure functions, no I/O. The service never re-encodes `sr`: it signs over the raw text it
//! received, so every SDK spelling of the resource (upper-case, lower-case or no escapes) works.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Allowed clock skew in seconds (the C# parser allows 5 minutes).
pub(crate) const CLOCK_SKEW_SECS: i64 = 300;

/// Why a token was refused. Never carries the token, the key or the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SasError {
    /// Not of the form `SharedAccessSignature sr=…&sig=…&se=…`.
    Malformed,
    /// The key is not valid base64.
    BadKey,
    /// Signature does not match.
    BadSignature,
    /// `se` (plus skew) is in the past.
    Expired,
    /// The audience (`sr`) does not name the resource.
    WrongAudience,
}

impl std::fmt::Display for SasError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SasError::Malformed => "malformed SAS token",
            SasError::BadKey => "key is not valid base64",
            SasError::BadSignature => "SAS signature mismatch",
            SasError::Expired => "SAS token expired",
            SasError::WrongAudience => "SAS token audience does not match the resource",
        })
    }
}

/// A parsed token: `sr` kept raw, other fields percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SasToken {
    /// `sr` exactly as it appears in the token.
    pub(crate) raw_sr: String,
    /// `se` exactly as it appears in the token (signed raw).
    pub(crate) raw_se: String,
    /// Decoded `sig` (base64 text).
    pub(crate) sig: String,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) expiry: i64,
    /// Decoded `skn`, if any.
    pub(crate) skn: Option<String>,
}

impl SasToken {
    /// Parses a token per protocol.md 1.3 steps 1-2.
    pub(crate) fn parse(token: &str) -> Result<SasToken, SasError> {
        let (scheme, rest) = token.split_once(' ').ok_or(SasError::Malformed)?;
        if scheme != "SharedAccessSignature" {
            return Err(SasError::Malformed);
        }
        let mut raw_sr = None;
        let mut raw_se = None;
        let mut sig = None;
        let mut skn = None;
        for field in rest.split('&') {
            if field.is_empty() {
                continue;
            }
            let (name, value) = field.split_once('=').ok_or(SasError::Malformed)?;
            let decoded = || {
                percent_decode_str(value)
                    .decode_utf8()
                    .map(|v| v.into_owned())
                    .map_err(|_| SasError::Malformed)
            };
            match name.to_ascii_lowercase().as_str() {
                "sr" => raw_sr = Some(value.to_owned()),
                "se" => raw_se = Some(value.to_owned()),
                "sig" => sig = Some(decoded()?),
                "skn" => skn = Some(decoded()?),
                _ => {}
            }
        }
        let raw_sr = raw_sr.ok_or(SasError::Malformed)?;
        let raw_se = raw_se.ok_or(SasError::Malformed)?;
        let sig = sig.ok_or(SasError::Malformed)?;
        let expiry = percent_decode_str(&raw_se)
            .decode_utf8()
            .map_err(|_| SasError::Malformed)?
            .parse::<i64>()
            .map_err(|_| SasError::Malformed)?;
        Ok(SasToken {
            raw_sr,
            raw_se,
            sig,
            expiry,
            skn,
        })
    }

    /// The audience: the percent-decoded `sr`.
    pub(crate) fn audience(&self) -> String {
        percent_decode_str(&self.raw_sr)
            .decode_utf8_lossy()
            .into_owned()
    }

    /// Checks the signature with `key_base64` (constant time) and the expiry against `now`
    /// (seconds since the epoch) with 5 minutes of skew.
    pub(crate) fn verify(&self, key_base64: &str, now: i64) -> Result<(), SasError> {
        let key = B64.decode(key_base64).map_err(|_| SasError::BadKey)?;
        let sig = B64.decode(&self.sig).map_err(|_| SasError::BadSignature)?;
        let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| SasError::BadKey)?;
        mac.update(self.raw_sr.as_bytes());
        mac.update(b"\n");
        mac.update(self.raw_se.as_bytes());
        mac.verify_slice(&sig).map_err(|_| SasError::BadSignature)?;
        if self.expiry.saturating_add(CLOCK_SKEW_SECS) < now {
            return Err(SasError::Expired);
        }
        Ok(())
    }
}

/// True when `audience` covers `resource`, compared segment by segment: `hub/devices` covers
/// `hub/devices/dev1` but not `hub/devices/dev10`; the first segment (host or ID scope) is
/// compared case-insensitively, the others exactly.
pub(crate) fn audience_covers(audience: &str, resource: &str) -> bool {
    let aud: Vec<&str> = audience.trim_end_matches('/').split('/').collect();
    let res: Vec<&str> = resource.split('/').collect();
    if aud.len() > res.len() || aud.is_empty() {
        return false;
    }
    aud.iter().zip(res.iter()).enumerate().all(|(i, (a, r))| {
        if i == 0 {
            a.eq_ignore_ascii_case(r)
        } else {
            a == r
        }
    })
}

/// Validates `token` for `resource` with `key_base64`: signature, expiry and audience.
/// Returns the token's expiry on success.
pub(crate) fn validate(
    token: &str,
    key_base64: &str,
    resources: &[&str],
    now: i64,
) -> Result<i64, SasError> {
    let parsed = SasToken::parse(token)?;
    parsed.verify(key_base64, now)?;
    let audience = parsed.audience();
    if !resources.iter().any(|r| audience_covers(&audience, r)) {
        return Err(SasError::WrongAudience);
    }
    Ok(parsed.expiry)
}

/// `base64(HMAC-SHA256(base64decode(group_key), registration_id))` (protocol.md 1.5).
pub(crate) fn derive_device_key(group_key_base64: &str, registration_id: &str) -> Option<String> {
    let key = B64.decode(group_key_base64).ok()?;
    let mut mac = HmacSha256::new_from_slice(&key).ok()?;
    mac.update(registration_id.as_bytes());
    Some(B64.encode(mac.finalize().into_bytes()))
}

/// Signs `sr`/`se` (used by tests and tools): returns the base64 signature.
#[cfg(test)]
pub(crate) fn sign(key_base64: &str, raw_sr: &str, se: i64) -> Option<String> {
    let key = B64.decode(key_base64).ok()?;
    let mut mac = HmacSha256::new_from_slice(&key).ok()?;
    mac.update(format!("{raw_sr}\n{se}").as_bytes());
    Some(B64.encode(mac.finalize().into_bytes()))
}

/// Current time in seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const V1_RESOURCE: &str = "contoso-hub.azure-devices.net/devices/thermostat-01";
    const NOW_BEFORE: i64 = 1_699_999_000;

    #[test]
    fn v1_upper_case_sr_verifies() {
        let token = "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01&sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        assert_eq!(
            validate(token, V1_KEY, &[V1_RESOURCE], NOW_BEFORE),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn v1_lower_case_sr_verifies() {
        let sig = "nUXaBbnAA7mgnVhwV+8EG43cfJ+MyGx4GDU0c1sodR4=";
        let token = format!(
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2fdevices%2fthermostat-01&sig={}&se=1700000000",
            sig.replace('+', "%2B").replace('=', "%3D")
        );
        assert!(validate(&token, V1_KEY, &[V1_RESOURCE], NOW_BEFORE).is_ok());
    }

    #[test]
    fn v1_raw_sr_verifies_any_field_order_and_skn() {
        let token = "SharedAccessSignature sig=u4A04aQyWtwQ18LSmhw%2Bu9uZNeDWl7hze9QpjApL5x0%3D&sr=contoso-hub.azure-devices.net/devices/thermostat-01&skn=device&se=1700000000";
        let parsed = SasToken::parse(token).unwrap();
        assert_eq!(parsed.skn.as_deref(), Some("device"));
        assert!(validate(token, V1_KEY, &[V1_RESOURCE], NOW_BEFORE).is_ok());
    }

    #[test]
    fn v1_signature_with_wrong_sr_spelling_fails() {
        // The upper-case signature does not verify the lower-case spelling.
        let token = "SharedAccessSignature sr=contoso-hub.azure-devices.net%2fdevices%2fthermostat-01&sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        assert_eq!(
            validate(token, V1_KEY, &[V1_RESOURCE], NOW_BEFORE),
            Err(SasError::BadSignature)
        );
    }

    #[test]
    fn expiry_allows_five_minutes_of_skew() {
        let token = "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01&sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        assert!(validate(token, V1_KEY, &[V1_RESOURCE], 1_700_000_300).is_ok());
        assert_eq!(
            validate(token, V1_KEY, &[V1_RESOURCE], 1_700_000_301),
            Err(SasError::Expired)
        );
    }

    #[test]
    fn audience_must_match_resource() {
        let token = "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01&sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        assert_eq!(
            validate(
                token,
                V1_KEY,
                &["contoso-hub.azure-devices.net/devices/thermostat-010"],
                NOW_BEFORE
            ),
            Err(SasError::WrongAudience)
        );
        assert!(audience_covers(
            "CONTOSO-hub.azure-devices.net/devices",
            "contoso-hub.azure-devices.net/devices/dev1"
        ));
        assert!(!audience_covers(
            "contoso-hub.azure-devices.net/devices/dev1",
            "contoso-hub.azure-devices.net/devices/dev10"
        ));
        assert!(!audience_covers(
            "contoso-hub.azure-devices.net/devices/DEV1",
            "contoso-hub.azure-devices.net/devices/dev1"
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "SharedAccessSignature",
            "Bearer sr=a&sig=b&se=1",
            "SharedAccessSignature sr=a&sig=b",
            "SharedAccessSignature sr=a&sig=b&se=soon",
            "SharedAccessSignature sr=a&sig&se=1",
        ] {
            assert_eq!(SasToken::parse(token), Err(SasError::Malformed), "{token}");
        }
        let token = "SharedAccessSignature sr=a&sig=%%%&se=1";
        assert!(validate(token, V1_KEY, &["a"], 0).is_err());
    }

    #[test]
    fn v3_derivation_and_dps_token() {
        let group = "nb/UMJmfUEJrCO/rzKIbIud4ZYZ+z2Q4d9DYsEu7i18+kbIxjqxg0vwlXwJpvl+KDmcP55hF7SVL1DIvRmypOg==";
        let derived = derive_device_key(group, "thermostat-01").unwrap();
        assert_eq!(derived, "ojbLCkwHXB98MEN3FmzC4lvuWDsw64hbGPNBjBerX/s=");
        let token = "SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fthermostat-01&sig=sSZKO67yjgF44SaaSPILwq1dEoHFkP8rX3PjsZALdE8%3D&se=1700007200&skn=registration";
        assert!(validate(
            token,
            &derived,
            &["0ne00000A0A/registrations/thermostat-01"],
            1_700_000_000
        )
        .is_ok());
        assert_eq!(
            sign(
                &derived,
                "0ne00000A0A%2Fregistrations%2Fthermostat-01",
                1_700_007_200
            )
            .unwrap(),
            "sSZKO67yjgF44SaaSPILwq1dEoHFkP8rX3PjsZALdE8="
        );
    }

    #[test]
    fn docs_derivation_vector() {
        let group = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
        assert_eq!(
            derive_device_key(group, "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6").unwrap(),
            "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc="
        );
    }
}
