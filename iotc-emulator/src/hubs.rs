//! The emulator's IoT hubs (`EmulatorConfig::hubs`): which hub a device belongs to, which hub a
//! device addressed, and how DPS names a hub for the transport a device registered on.
//!
//! Hub 0 is the hub of a one-hub emulator, unchanged: its host name is
//! `EmulatorConfig::hub_hostname` and it listens where that hub always did. Hub `k` (`k ≥ 1`)
//! has the host name `127.0.0.{k + 1}` (a loopback address, so it resolves everywhere without
//! a hosts file) and listens on that address, on the same port numbers as hub 0 (MQTT, AMQP and
//! HTTPS). A hub endpoint (`host[:port]`) of hub 0 therefore becomes hub `k`'s by replacing the
//! host name alone, whatever the transport.
//!
//! A device's home hub is chosen by a hash of its registration id (stable across runs);
//! `manual_failover` moves it to another hub until `manual_failback`.

use sha2::{Digest, Sha256};

use crate::state::{Device, Settings};

/// The host names of hubs `1..count`: `127.0.0.2`, `127.0.0.3`, …, skipping addresses the
/// configuration already uses (`taken`).
pub(crate) fn extra_hub_ips(count: usize, taken: &[String]) -> Vec<std::net::Ipv4Addr> {
    let mut out = Vec::new();
    let mut last = 1u8;
    while out.len() + 1 < count {
        last = match last.checked_add(1) {
            Some(n) => n,
            None => break,
        };
        let ip = std::net::Ipv4Addr::new(127, 0, 0, last);
        if !taken.iter().any(|t| t == &ip.to_string()) {
            out.push(ip);
        }
    }
    out
}

/// The home hub of a registry key (a module goes with its device): a hash of the device id.
pub(crate) fn home_hub(settings: &Settings, key: &str) -> usize {
    let n = settings.hubs.len().max(1);
    if n == 1 {
        return 0;
    }
    let (device_id, _) = crate::ids::split_identity(key);
    let digest = Sha256::digest(device_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % n as u64) as usize
}

/// The hub a registry entry belongs to now: its failover hub, else its home hub.
pub(crate) fn device_hub(settings: &Settings, device: &Device) -> usize {
    device
        .failover_hub
        .unwrap_or_else(|| home_hub(settings, &device.device_id))
}

/// The host name of the hub `key` belongs to now (hub 0's for an unknown key).
pub(crate) fn current_hostname(shared: &crate::state::Shared, key: &str) -> String {
    let settings = &shared.settings;
    let hub = shared
        .lock()
        .devices
        .get(key)
        .map_or(0, |d| device_hub(settings, d));
    settings
        .hubs
        .get(hub)
        .map_or_else(|| settings.hub_hostname.clone(), |h| h.hostname.clone())
}

/// The hub a host (`name` or `name:port`) names, if any (host names compare case-insensitively).
pub(crate) fn hub_named(settings: &Settings, host: &str) -> Option<usize> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    settings
        .hubs
        .iter()
        .position(|h| h.hostname.eq_ignore_ascii_case(name))
}

/// Hub 0's endpoint `endpoint` (`host` or `host:port`, as announced on one transport) as hub
/// `hub`'s endpoint on the same transport: the host name replaced.
pub(crate) fn endpoint_on(settings: &Settings, hub: usize, endpoint: &str) -> String {
    let Some(target) = settings.hubs.get(hub).filter(|_| hub > 0) else {
        return endpoint.to_owned();
    };
    match endpoint.rsplit_once(':') {
        Some((_, port)) => format!("{}:{port}", target.hostname),
        None => target.hostname.clone(),
    }
}

/// What DPS announces on a listener whose hub-0 endpoint is `listener_hub`, for a registration
/// whose body names `body_hub` (a hub endpoint of the assigned hub).
pub(crate) fn announce(settings: &Settings, body_hub: &str, listener_hub: &str) -> String {
    let hub = hub_named(settings, body_hub).unwrap_or(0);
    endpoint_on(settings, hub, listener_hub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_ips_skip_taken_addresses() {
        assert!(extra_hub_ips(1, &[]).is_empty());
        let ips = extra_hub_ips(3, &["127.0.0.2".into()]);
        assert_eq!(
            ips,
            vec![
                std::net::Ipv4Addr::new(127, 0, 0, 3),
                std::net::Ipv4Addr::new(127, 0, 0, 4)
            ]
        );
    }
}
