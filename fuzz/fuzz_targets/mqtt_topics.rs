//! The inbound MQTT topic parsers (protocol.md §2.4, §4.5 to §4.7): `parse_c2d`,
//! `parse_twin_response`, `parse_desired_patch`, `parse_method_request`, `parse_dps_response`.
//!
//! Input: the topic, a NUL byte, the payload (C2D body). Invariants: no panic; at most one
//! parser claims a topic; whatever a parser extracts (status, request id, version, method
//! name, message properties) survives being written back in the canonical, percent-encoded
//! form and parsed again; a method response topic carries the request id back.
#![no_main]

use iotc_sdk::__fuzz::{
    encode, method_response_topic, parse_c2d, parse_desired_patch, parse_dps_response,
    parse_method_request, parse_property_bag, parse_twin_response,
};
use iotc_sdk::CloudMessage;
use libfuzzer_sys::fuzz_target;

/// `key[=value]` with both encoded; `$.` system keys sent as `%24.` like the hub does.
fn pair(key: &str, value: Option<&str>) -> String {
    let key = match key.strip_prefix("$.") {
        Some(name) => format!("%24.{}", encode(name)),
        None => encode(key),
    };
    match value {
        Some(v) => format!("{key}={}", encode(v)),
        None => key,
    }
}

/// The canonical C2D topic for a parsed message.
fn c2d_topic(m: &CloudMessage) -> String {
    let mut pairs = Vec::new();
    for (key, value) in [
        ("$.mid", m.message_id()),
        ("$.cid", m.correlation_id()),
        ("$.ct", m.content_type()),
        ("$.ce", m.content_encoding()),
    ] {
        if let Some(v) = value {
            pairs.push(pair(key, Some(v)));
        }
    }
    for (name, value) in m.system_properties() {
        let key = if name == "iothub-ack" {
            name.clone()
        } else {
            format!("$.{name}")
        };
        pairs.push(pair(&key, Some(value)));
    }
    for (key, value) in m.properties() {
        pairs.push(pair(key, value.as_deref()));
    }
    format!("devices/d/messages/devicebound/{}", pairs.join("&"))
}

fn version_suffix(key: &str, v: Option<u64>) -> String {
    v.map(|v| format!("&{key}={v}")).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(topic) = std::str::from_utf8(topic) else {
        return;
    };

    let c2d = parse_c2d(topic, payload);
    let twin = parse_twin_response(topic);
    let desired = parse_desired_patch(topic);
    let method = parse_method_request(topic);
    let dps = parse_dps_response(topic);
    let claimed = [
        c2d.is_some(),
        twin.is_some(),
        desired.is_some(),
        method.is_some(),
        dps.is_some(),
    ];
    assert!(
        claimed.iter().filter(|&&c| c).count() <= 1,
        "{topic:?} claimed twice: {claimed:?}"
    );

    if let Some(message) = c2d {
        assert_eq!(message.body(), payload);
        let canonical = c2d_topic(&message);
        let again = parse_c2d(&canonical, payload).expect("the canonical C2D topic parses");
        assert_eq!(again, message, "{topic:?} -> {canonical:?}");
    }
    if let Some((status, rid, version)) = twin {
        let canonical = format!(
            "$iothub/twin/res/{status}/?$rid={}{}",
            encode(&rid),
            version_suffix("$version", version)
        );
        assert_eq!(
            parse_twin_response(&canonical),
            Some((status, rid, version)),
            "{canonical:?}"
        );
    }
    if let Some(version) = desired {
        let canonical = match version {
            Some(v) => format!("$iothub/twin/PATCH/properties/desired/?$version={v}"),
            None => "$iothub/twin/PATCH/properties/desired/".to_owned(),
        };
        assert_eq!(
            parse_desired_patch(&canonical),
            Some(version),
            "{canonical:?}"
        );
    }
    if let Some((name, rid)) = method {
        let canonical = format!(
            "$iothub/methods/POST/{}/?$rid={}",
            encode(&name),
            encode(&rid)
        );
        assert_eq!(
            parse_method_request(&canonical),
            Some((name.clone(), rid.clone())),
            "{canonical:?}"
        );
        let response = method_response_topic(200, &rid);
        let query = response
            .strip_prefix("$iothub/methods/res/200/")
            .expect("the method response prefix");
        assert_eq!(
            parse_property_bag(query),
            vec![("$rid".to_owned(), Some(rid))],
            "{response:?}"
        );
    }
    if let Some((status, rid, retry_after)) = dps {
        let canonical = format!(
            "$dps/registrations/res/{status}/?$rid={}{}",
            encode(&rid),
            version_suffix("retry-after", retry_after)
        );
        assert_eq!(
            parse_dps_response(&canonical),
            Some((status, rid, retry_after)),
            "{canonical:?}"
        );
    }
});
