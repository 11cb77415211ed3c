//! Identifiers and times: registry keys of devices and modules, random ids, service time stamps.

/// The registry key of a device (`{device}`) or of a module (`{device}/{module}`). Device
/// and module ids cannot contain `/`, so the key is unambiguous.
pub(crate) fn identity_key(device_id: &str, module_id: Option<&str>) -> String {
    match module_id {
        Some(m) => format!("{device_id}/{m}"),
        None => device_id.to_owned(),
    }
}

/// Splits a registry key into device id and module id.
pub(crate) fn split_identity(key: &str) -> (&str, Option<&str>) {
    match key.split_once('/') {
        Some((d, m)) => (d, Some(m)),
        None => (key, None),
    }
}

/// The resource path of an identity in SAS audiences: `devices/{d}` or
/// `devices/{d}/modules/{m}` (protocol.md 1.4).
pub(crate) fn identity_resource(key: &str) -> String {
    match split_identity(key) {
        (d, Some(m)) => format!("devices/{d}/modules/{m}"),
        (d, None) => format!("devices/{d}"),
    }
}

/// Random bytes as lower-case hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if openssl::rand::rand_bytes(&mut buf).is_err() {
        // Extremely unlikely; fall back to time-derived bytes (ids only, not secrets).
        let t = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ i as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID v4 text.
pub(crate) fn random_uuid() -> String {
    let h = random_hex(16);
    let (a, rest) = h.split_at(8);
    let (b, rest) = rest.split_at(4);
    let (c, rest) = rest.split_at(4);
    let (d, e) = rest.split_at(4);
    format!("{a}-{b}-4{}-a{}-{e}", &c[1..], &d[1..])
}

/// RFC 3339 UTC time with 7 fractional digits like the service (`2020-04-10T03:11:13.0276997Z`).
pub(crate) fn service_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let t = time::macros::datetime!(2020-04-10 03:11:13.0276997 UTC);
        assert_eq!(service_time(t), "2020-04-10T03:11:13.0276997Z");
    }
}
