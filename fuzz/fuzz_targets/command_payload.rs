//! Command payloads (protocol.md §4.7, §7.4, §7.5): `Command::request_value` and
//! `Command::payload_json` for direct and queued commands, and a derived `Commands::parse`
//! reached through `Command::parse`.
//!
//! Input: the method name (or a queued command's `method-name`), a NUL byte, the payload.
//! Invariants: no panic; the name splits as documented (after the last `:` for queued
//! commands, at the first `*` into component and command); a direct command's request is the
//! payload read as JSON (empty or white space reads as `null`), an error exactly when the
//! payload is not JSON; a queued command's request never fails; `payload_json::<Value>()`
//! equals `request_value()`; parsing a direct command whose payload is JSON into a derived
//! `Commands` enum agrees with that enum's own `parse` of the payload.
#![no_main]

use iotc_sdk::__fuzz::{direct_command, queued_command};
use iotc_sdk::{Command, Commands};
use iotc_sdk_fuzz::{ControllerCommand, ThermostatCommand};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check_names(command: &Command, method: &str) {
    assert_eq!(command.method_name(), method);
    match method.split_once('*') {
        Some((component, name)) => {
            assert_eq!(command.component(), Some(component));
            assert_eq!(command.name(), name);
        }
        None => {
            assert_eq!(command.component(), None);
            assert_eq!(command.name(), method);
        }
    }
}

fn agrees<C: Commands + PartialEq + std::fmt::Debug>(command: &Command, payload: &[u8]) {
    // A direct command hands its payload to the derived parser as it came: the two must agree
    // exactly (this was a finding: a detour through `serde_json::Value` answered 400 for an
    // unknown command with a non-JSON payload and accepted duplicate keys).
    let via_command = command.parse::<C>();
    let direct = C::parse(command.name(), payload);
    match (&via_command, &direct) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("Command::parse {via_command:?} but Commands::parse {direct:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (name, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"getMaxMinReport"[..], data),
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };

    // Direct method.
    let direct = direct_command(name, "1", payload);
    check_names(&direct, name);
    assert!(!direct.is_queued());
    assert_eq!(direct.payload(), payload);
    let expected = if payload.iter().all(u8::is_ascii_whitespace) {
        Some(Value::Null)
    } else {
        serde_json::from_slice::<Value>(payload).ok()
    };
    let value = direct.request_value().ok();
    assert_eq!(
        value,
        expected,
        "payload {:?}",
        String::from_utf8_lossy(payload)
    );
    assert_eq!(direct.payload_json::<Value>().ok(), value);
    agrees::<ThermostatCommand>(&direct, payload);
    agrees::<ControllerCommand>(&direct, payload);

    // Queued (offline) command: the command is the text after the last `:`.
    let queued = queued_command(name, payload);
    let method = name.rsplit(':').next().unwrap_or(name);
    check_names(&queued, method);
    assert!(queued.is_queued());
    let value = queued
        .request_value()
        .expect("a queued command's request never fails");
    assert_eq!(queued.payload_json::<Value>().ok(), Some(value));
    let _ = queued.parse::<ThermostatCommand>();
    let _ = queued.parse::<ControllerCommand>();
});
