//! `Twin::from_json` (protocol.md §4.6, the twin GET body) and
//! `WritablePropertyUpdate::pending_from_twin` (the Plug and Play start-up rule, §7.3).
//!
//! Invariants: no panic; every pending property comes from the desired section (a component's
//! when it has a component), is not metadata, and carries the desired `$version`; after the
//! device acknowledges every pending property with `ack_patch` and the hub merges the acks
//! into the reported section, nothing is pending any more.
#![no_main]

use iotc_sdk::__fuzz::{ack_patch, pending_from_twin, twin_from_json};
use iotc_sdk_fuzz::merge_patch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut twin) = twin_from_json(data) else {
        return;
    };
    let pending = pending_from_twin(&twin);
    assert!(pending.is_initial());
    assert_eq!(pending.version(), twin.desired_version());
    for p in pending.properties() {
        assert_eq!(p.version(), pending.version());
        assert!(
            !p.name().starts_with('$') && p.name() != "__t",
            "{:?}",
            p.name()
        );
        let section = match p.component() {
            Some(c) => {
                assert_eq!(twin.desired[c]["__t"], "c");
                &twin.desired[c]
            }
            None => &twin.desired,
        };
        assert_eq!(section.get(p.name()), Some(p.value()));
    }

    for p in pending.properties() {
        let ack = ack_patch(p, p.value(), 200, Some("applied")).expect("an ack patch");
        merge_patch(&mut twin.reported, &ack);
    }
    let after = pending_from_twin(&twin);
    assert!(
        after.properties().is_empty(),
        "still pending after the acks: {:?}",
        after.properties()
    );
});
