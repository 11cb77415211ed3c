//! `parse_property_bag` (protocol.md §4.4, §4.5) and its round trip through `telemetry_topic`.
//!
//! Invariants: no panic; the pairs of any bag, sent again as application properties of a
//! telemetry message, come back from the topic as the same pairs in the same order (keys and
//! values percent-encoded by the SDK, decoded by the parser); the encoded bag holds only
//! unreserved characters, `%`, `=` and `&`.
#![no_main]

use iotc_sdk::__fuzz::{encode, parse_property_bag, telemetry_topic};
use iotc_sdk::Message;
use libfuzzer_sys::fuzz_target;

const PREFIX: &str = "devices/d/messages/events/";

fuzz_target!(|data: &[u8]| {
    let Ok(bag) = std::str::from_utf8(data) else {
        return;
    };
    let pairs = parse_property_bag(bag);
    let mut message = Message::new(Vec::new());
    let mut expected = Vec::new();
    for (key, value) in &pairs {
        let value = value.clone().unwrap_or_default();
        message = message.with_property(key.clone(), value.clone());
        expected.push((key.clone(), Some(value)));
    }
    let topic = telemetry_topic("d", None, &message);
    let encoded = topic
        .strip_prefix(PREFIX)
        .expect("the telemetry topic prefix");
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)),
        "{encoded}"
    );
    assert_eq!(
        parse_property_bag(encoded),
        expected,
        "bag {bag:?} -> {encoded:?}"
    );

    for (key, value) in &pairs {
        let e = encode(key);
        assert_eq!(
            parse_property_bag(&format!("{e}=x")),
            vec![(key.clone(), Some("x".to_owned()))]
        );
        if let Some(value) = value {
            assert_eq!(
                parse_property_bag(&format!("k={}", encode(value))),
                vec![("k".to_owned(), Some(value.clone()))]
            );
        }
    }
});
