//! `SasToken::parse` (protocol.md §1.2).
//!
//! Invariants: no panic; an accepted token keeps its text, its expiry is consistent with
//! `is_expired_at`, and a token built by `SasToken::new` for the parsed resource, expiry and
//! key name parses back to the same three (the encoding of `sr` and `skn` round-trips); `Debug`
//! does not depend on the signature; error messages never repeat the signature.
#![no_main]

use iotc_sdk::auth::{SasKey, SasToken};
use iotc_sdk_fuzz::looks_secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match SasToken::parse(text) {
        Ok(token) => {
            assert_eq!(token.as_secret().expose(), text);
            let expiry = token.expiry_unix();
            assert!(token.is_expired_at(expiry));
            assert!(token.is_expired_at(expiry.saturating_add(1)));
            if expiry > 0 {
                assert!(!token.is_expired_at(expiry - 1));
            }

            let key = SasKey::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").expect("key");
            let rebuilt = SasToken::new(token.resource_uri(), &key, expiry, token.key_name());
            let reparsed = SasToken::parse(rebuilt.as_secret().expose())
                .unwrap_or_else(|e| panic!("a token built by SasToken::new does not parse: {e}"));
            assert_eq!(reparsed.resource_uri(), token.resource_uri());
            assert_eq!(reparsed.expiry_unix(), expiry);
            assert_eq!(reparsed.key_name(), token.key_name());
            // Debug shows resource, expiry and key name only: equal for both tokens.
            assert_eq!(format!("{token:?}"), format!("{rebuilt:?}"));
        }
        Err(e) => {
            let message = format!("{e} {e:?}");
            let fields = text.split_once(' ').map_or(text, |(_, rest)| rest);
            for field in fields.split('&') {
                if let Some((name, value)) = field.split_once('=') {
                    if name.eq_ignore_ascii_case("sig") && looks_secret(value) {
                        assert!(
                            !message.contains(value),
                            "the error repeats the signature: {message}"
                        );
                    }
                }
            }
        }
    }
});
