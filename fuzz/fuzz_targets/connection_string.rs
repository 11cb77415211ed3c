//! `ConnectionString::from_str` (protocol.md §9.1).
//!
//! Invariants: no panic; an accepted string has a non-empty host and device id without `/`,
//! parses back from `to_secret()` to the same value (a fixed point); `Debug` and
//! `to_redacted_string()` do not depend on the key or token; error messages never repeat a
//! key or a signature.
#![no_main]

use iotc_sdk::auth::{ConnectionCredential, ConnectionString, SasKey, SasToken};
use iotc_sdk_fuzz::looks_secret;
use libfuzzer_sys::fuzz_target;

/// The fields of a parsed string, the credential reduced to what it says publicly.
fn fields(
    cs: &ConnectionString,
) -> (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
) {
    let credential = match cs.credential() {
        ConnectionCredential::SharedAccessKey(key) => format!("key {}", key.to_base64().expose()),
        ConnectionCredential::SharedAccessSignature(token) => {
            format!("token {}", token.as_secret().expose())
        }
        ConnectionCredential::X509 => "x509".to_owned(),
    };
    (
        cs.host_name().to_owned(),
        cs.device_id().to_owned(),
        cs.module_id().map(str::to_owned),
        cs.gateway_host_name().map(str::to_owned),
        cs.shared_access_key_name().map(str::to_owned),
        credential,
    )
}

/// The same string with another key or token: what `Debug` and the redacted form must not
/// tell apart.
fn with_other_secret(cs: &ConnectionString) -> ConnectionString {
    let credential = match cs.credential() {
        ConnectionCredential::SharedAccessKey(_) => ConnectionCredential::SharedAccessKey(
            SasKey::new("AAAAAAAAAAAAAAAAAAAAAA==").expect("a valid key"),
        ),
        ConnectionCredential::SharedAccessSignature(token) => {
            let key = SasKey::new("AAAAAAAAAAAAAAAAAAAAAA==").expect("a valid key");
            ConnectionCredential::SharedAccessSignature(SasToken::new(
                token.resource_uri(),
                &key,
                token.expiry_unix(),
                token.key_name(),
            ))
        }
        ConnectionCredential::X509 => ConnectionCredential::X509,
    };
    let mut other = ConnectionString::new(cs.host_name(), cs.device_id(), credential);
    if let Some(m) = cs.module_id() {
        other = other.with_module_id(m);
    }
    if let Some(g) = cs.gateway_host_name() {
        other = other.with_gateway_host_name(g);
    }
    if let Some(n) = cs.shared_access_key_name() {
        other = other.with_shared_access_key_name(n);
    }
    other
}

/// The values of `SharedAccessKey` and of a token's `sig`, as the parser would see them.
fn secrets(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for segment in s.split(';') {
        let Some((name, value)) = segment.trim().split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim() {
            "SharedAccessKey" => out.push(value),
            "SharedAccessSignature" => {
                for field in value.split(['&', ' ']) {
                    if let Some((n, v)) = field.split_once('=') {
                        if n.eq_ignore_ascii_case("sig") {
                            out.push(v);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match s.parse::<ConnectionString>() {
        Ok(cs) => {
            assert!(!cs.host_name().is_empty());
            assert!(!cs.device_id().is_empty() && !cs.device_id().contains('/'));
            if let Some(m) = cs.module_id() {
                assert!(!m.is_empty() && !m.contains('/'));
            }
            let text = cs.to_secret();
            let back: ConnectionString = text
                .expose()
                .parse()
                .unwrap_or_else(|e| panic!("to_secret() does not parse back: {e}"));
            assert_eq!(fields(&back), fields(&cs));
            assert_eq!(back.to_secret(), text);

            let other = with_other_secret(&cs);
            assert_eq!(format!("{cs:?}"), format!("{other:?}"));
            assert_eq!(cs.to_redacted_string(), other.to_redacted_string());
        }
        Err(e) => {
            let message = format!("{e} {e:?}");
            for secret in secrets(s) {
                if looks_secret(secret) {
                    assert!(
                        !message.contains(secret),
                        "the error repeats a secret: {message}"
                    );
                }
            }
        }
    }
});
