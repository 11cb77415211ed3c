//! `X509Identity::from_pem` (protocol.md §1.6): certificate chain PEM and PKCS#8 key PEM.
//!
//! Input: the certificate PEM, a NUL byte, the key PEM (without a NUL both are the whole
//! input). Invariants: no panic; an accepted identity has a non-empty CN, a 64-character
//! upper-case hex thumbprint, a leaf DER that is the first certificate of its re-encoded chain,
//! a `Debug` without key material; and its re-encoded chain is accepted again with the same key
//! (the canonical PEM is a fixed point).
#![no_main]

use iotc_sdk::auth::X509Identity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cert, key) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let Ok(id) = X509Identity::from_pem(cert, key) else {
        return;
    };
    assert!(!id.common_name().is_empty());
    let thumbprint = id.thumbprint_sha256();
    assert_eq!(thumbprint.len(), 64);
    assert!(thumbprint
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
    let debug = format!("{id:?}");
    assert!(!debug.contains("PRIVATE"), "{debug}");

    let again = X509Identity::from_pem(id.chain_pem().as_bytes(), key)
        .unwrap_or_else(|e| panic!("the re-encoded chain is refused: {e}"));
    assert_eq!(again.common_name(), id.common_name());
    assert_eq!(again.leaf_der(), id.leaf_der());
    assert_eq!(again.chain_pem(), id.chain_pem());
    assert_eq!(again.not_after(), id.not_after());
    assert_eq!(again.not_before(), id.not_before());
});
