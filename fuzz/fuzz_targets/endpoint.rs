//! `transport::parse_endpoint`: `host`, `host:port` or `[v6]:port`, from DPS's `assignedHub`,
//! a connection string's `HostName`/`GatewayHostName` or the application.
//!
//! Invariants: no panic; an accepted endpoint gives a host without `/`, and writing host and
//! port back (`host:port`, `[host]:port` for a host with `:`) parses to the same pair.
#![no_main]

use iotc_sdk::__fuzz::parse_endpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((host, port)) = parse_endpoint(s, 8883) else {
        return;
    };
    assert!(!host.contains('/'));
    if host.is_empty() || host.contains([']', '[']) || host.trim() != host {
        return;
    }
    let written = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let back = parse_endpoint(&written, 8883).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(back, (host, port));
});
