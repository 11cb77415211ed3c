//! `telemetry_topic` (protocol.md §4.4): a structured message encoded into a topic and its
//! property bag parsed back with `parse_property_bag`.
//!
//! Invariants: no panic; the bag holds exactly the system properties that were set (`$.mid`,
//! `$.cid`, `$.ct`, `$.ce`, `$.sub`, `$.ctime`) and then the application properties, in order,
//! with their values; `$.ctime` is RFC 3339 in UTC ("creation time UTC") and names the same
//! instant as the message's creation time whenever that instant has an RFC 3339 form.
#![no_main]

use iotc_sdk::__fuzz::{parse_property_bag, telemetry_topic};
use iotc_sdk::Message;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

#[derive(Arbitrary, Debug)]
struct Input {
    module: bool,
    message_id: Option<String>,
    correlation_id: Option<String>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    component: Option<String>,
    /// Unix seconds, nanoseconds and the offset in seconds.
    creation_time: Option<(i64, u32, i32)>,
    properties: Vec<(String, String)>,
    payload: Vec<u8>,
}

fn creation_time(unix: i64, nanos: u32, offset: i32) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::from_unix_timestamp(unix).ok()?;
    let t = t.replace_nanosecond(nanos % 1_000_000_000).ok()?;
    let offset = UtcOffset::from_whole_seconds(offset % 86_400).ok()?;
    t.checked_to_offset(offset)
}

fuzz_target!(|input: Input| {
    let mut message = Message::new(input.payload.clone());
    let mut expected: Vec<(String, Option<String>)> = Vec::new();
    if let Some(v) = &input.message_id {
        message = message.with_message_id(v.clone());
        expected.push(("$.mid".into(), Some(v.clone())));
    }
    if let Some(v) = &input.correlation_id {
        message = message.with_correlation_id(v.clone());
        expected.push(("$.cid".into(), Some(v.clone())));
    }
    if let Some(v) = &input.content_type {
        message = message.with_content_type(v.clone());
        expected.push(("$.ct".into(), Some(v.clone())));
    }
    if let Some(v) = &input.content_encoding {
        message = message.with_content_encoding(v.clone());
        expected.push(("$.ce".into(), Some(v.clone())));
    }
    if let Some(v) = &input.component {
        message = message.with_component(v.clone());
        expected.push(("$.sub".into(), Some(v.clone())));
    }
    let ctime = input
        .creation_time
        .and_then(|(unix, nanos, offset)| creation_time(unix, nanos, offset));
    if let Some(t) = ctime {
        message = message.with_creation_time(t);
    }
    for (k, v) in &input.properties {
        message = message.with_property(k.clone(), v.clone());
    }

    let (topic, prefix) = if input.module {
        (
            telemetry_topic("d", Some("m"), &message),
            "devices/d/modules/m/messages/events/",
        )
    } else {
        (
            telemetry_topic("d", None, &message),
            "devices/d/messages/events/",
        )
    };
    let bag = topic
        .strip_prefix(prefix)
        .expect("the telemetry topic prefix");
    let mut parsed = parse_property_bag(bag);

    // `$.ctime` comes right after the other system properties.
    let ctime_at = expected.len();
    let sent_ctime = match parsed.get(ctime_at) {
        Some((key, value)) if key == "$.ctime" && ctime.is_some() => {
            let value = value.clone().expect("$.ctime has a value");
            parsed.remove(ctime_at);
            Some(value)
        }
        _ => None,
    };
    for (k, v) in &input.properties {
        expected.push((k.clone(), Some(v.clone())));
    }
    assert_eq!(parsed, expected, "topic {topic:?}");

    if let Some(t) = ctime {
        // Every instant of years 0000 to 9999 has an RFC 3339 form in UTC.
        let representable = (0..=9999).contains(&t.to_offset(UtcOffset::UTC).year());
        match sent_ctime {
            Some(text) => {
                assert!(text.ends_with('Z'), "$.ctime is not UTC: {text}");
                let back = OffsetDateTime::parse(&text, &Rfc3339).expect("$.ctime is RFC 3339");
                assert_eq!(back, t, "$.ctime {text} is not {t}");
            }
            None => assert!(!representable, "$.ctime missing for {t}"),
        }
    }
});
