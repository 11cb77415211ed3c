//! `Dtmi::from_str`: model ids from the application or a DPS payload.
//!
//! Invariants: no panic; an accepted id is its own text, at most 128 bytes, starts with
//! `dtmi:`, has a version from 1 to 999999999 equal to the number after `;`, parses again from
//! its `Display` to an equal value, and its repository path is the lower-cased id with `:` →
//! `/`, `;` → `-` and `.json`.
#![no_main]

use iotc_sdk::Dtmi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(id) = s.parse::<Dtmi>() else {
        return;
    };
    assert_eq!(id.as_str(), s);
    assert!(s.len() <= 128);
    assert!(s.starts_with("dtmi:"));
    let (_, version) = s.split_once(';').expect("a version");
    let major = version.split('.').next().expect("a major version");
    assert_eq!(major.parse::<u32>().ok(), Some(id.version()));
    assert!((1..=999_999_999).contains(&id.version()));
    assert_eq!(id.to_string().parse::<Dtmi>().expect("reparse"), id);
    assert!(s.is_ascii());
    assert_eq!(
        id.repository_path(),
        format!(
            "{}.json",
            s.to_ascii_lowercase().replace(':', "/").replace(';', "-")
        )
    );
});
