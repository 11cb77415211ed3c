//! A desired-property patch (protocol.md §4.6, §7.2, §7.3): `parse_desired_patch` on the topic,
//! `WritablePropertyUpdate::from_patch` on the JSON body, then `ack_patch`.
//!
//! Input: the topic, a NUL byte, the JSON body. Invariants: no panic; the update's version is
//! the topic's `$version`, else the body's, else 0; every property is a non-metadata member of
//! the body (or of a component of it) with that version; its ack is
//! `{name: {value, ac, av, ad}}` (component-wrapped with `"__t": "c"`); once the hub merges the
//! acks into the reported section, a twin with this patch as desired has nothing pending.
#![no_main]

use iotc_sdk::__fuzz::{
    ack_patch, from_patch, parse_desired_patch, pending_from_twin, twin_from_json,
};
use iotc_sdk_fuzz::merge_patch;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let (topic, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"$iothub/twin/PATCH/properties/desired/"[..], data),
    };
    let Ok(topic) = std::str::from_utf8(topic) else {
        return;
    };
    let Some(topic_version) = parse_desired_patch(topic) else {
        return;
    };
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let update = from_patch(&patch, topic_version);
    assert!(!update.is_initial());
    let version = topic_version
        .or_else(|| patch.get("$version").and_then(Value::as_u64))
        .unwrap_or(0);
    assert_eq!(update.version(), version);

    let mut reported = json!({});
    for (i, p) in update.properties().iter().enumerate() {
        assert_eq!(p.version(), version);
        assert!(!p.name().starts_with('$') && p.name() != "__t");
        let section = match p.component() {
            Some(c) => &patch[c],
            None => &patch,
        };
        assert_eq!(section.get(p.name()), Some(p.value()));

        let status = 200 + (i as u16 % 300);
        let ack = ack_patch(p, p.value(), status, Some("done")).expect("an ack patch");
        let inner = match p.component() {
            Some(c) => {
                assert_eq!(ack[c]["__t"], "c", "{ack}");
                &ack[c][p.name()]
            }
            None => &ack[p.name()],
        };
        assert_eq!(inner["value"], *p.value());
        assert_eq!(inner["ac"], status);
        assert_eq!(inner["av"], version);
        assert_eq!(inner["ad"], "done");
        merge_patch(&mut reported, &ack);
    }

    let mut desired = patch.clone();
    if let Some(map) = desired.as_object_mut() {
        map.insert("$version".into(), version.into());
    }
    let body =
        serde_json::to_vec(&json!({ "desired": desired, "reported": reported })).expect("json");
    let twin = twin_from_json(&body).expect("a twin we wrote");
    let pending = pending_from_twin(&twin);
    assert!(
        pending.properties().is_empty(),
        "still pending after the acks: {:?}",
        pending.properties()
    );
});
