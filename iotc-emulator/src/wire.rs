//! Pure wire-format helpers: CONNECT usernames, topic query strings, property bags
//! (protocol.md 2.1, 4.2, 4.4, 4.5).

use std::collections::BTreeMap;

use crate::types::C2dMessage;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` is escaped (upper-case hex).
pub(crate) const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes with [`STRICT`].
pub(crate) fn encode(value: &str) -> String {
    utf8_percent_encode(value, STRICT).to_string()
}

/// Percent-decodes (lossy UTF-8); `+` stays `+`.
pub(crate) fn decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

/// A parsed DPS CONNECT username: `{scope}/registrations/{reg}/api-version={v}[&ClientVersion=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DpsUsername {
    pub(crate) id_scope: String,
    pub(crate) registration_id: String,
    pub(crate) api_version: String,
    pub(crate) client_version: Option<String>,
}

/// Parses a DPS username; `None` if it does not have the DPS shape.
pub(crate) fn parse_dps_username(username: &str) -> Option<DpsUsername> {
    let mut parts = username.splitn(4, '/');
    let id_scope = parts.next()?;
    if parts.next()? != "registrations" {
        return None;
    }
    let registration_id = parts.next()?;
    let rest = parts.next()?;
    // Tolerate a `?` some clients might put before the parameters.
    let rest = rest.strip_prefix('?').unwrap_or(rest);
    if !rest.starts_with("api-version=") || id_scope.is_empty() || registration_id.is_empty() {
        return None;
    }
    let query = parse_query(rest);
    let api_version = query.get("api-version").cloned().flatten()?;
    if api_version.is_empty() {
        return None;
    }
    Some(DpsUsername {
        id_scope: id_scope.to_owned(),
        registration_id: registration_id.to_owned(),
        api_version,
        client_version: query.get("ClientVersion").cloned().flatten(),
    })
}

/// A parsed hub CONNECT username: `{hubHost}/{deviceId}[/{moduleId}]/?api-version=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HubUsername {
    pub(crate) host: String,
    pub(crate) device_id: String,
    pub(crate) module_id: Option<String>,
    /// `None` when the username has no `api-version` (the emulator refuses that).
    pub(crate) api_version: Option<String>,
    pub(crate) model_id: Option<String>,
    pub(crate) device_client_type: Option<String>,
}

/// Parses a hub username per the protocol.md 4.2 emulator rule: split at the first `?`; the
/// path is `{host}/{dev}/` or `{host}/{dev}/{mod}/` (trailing `/` optional, `?` optional);
/// query values are percent-decoded (`+` is not a space).
pub(crate) fn parse_hub_username(username: &str) -> Option<HubUsername> {
    let (path, query) = match username.split_once('?') {
        Some((p, q)) => (p, q),
        None => (username, ""),
    };
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let (host, device_id, module_id) = match segments.as_slice() {
        [host, dev] => (*host, *dev, None),
        [host, dev, module] => (*host, *dev, Some((*module).to_owned())),
        _ => return None,
    };
    if host.is_empty() || device_id.is_empty() || module_id.as_deref() == Some("") {
        return None;
    }
    let query = parse_query(query);
    let get = |k: &str| query.get(k).cloned().flatten().filter(|v| !v.is_empty());
    Some(HubUsername {
        host: host.to_owned(),
        device_id: device_id.to_owned(),
        module_id,
        api_version: get("api-version"),
        model_id: get("model-id"),
        device_client_type: get("DeviceClientType"),
    })
}

/// Parses `k1=v1&k2&k3=` (keys and values percent-decoded; `k` alone maps to `None`).
/// Later duplicates win.
pub(crate) fn parse_query(query: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((k, v)) => out.insert(decode(k), Some(decode(v))),
            None => out.insert(decode(pair), None),
        };
    }
    out
}

/// Gets a query parameter whose name may be written with `$` or `%24` (already decoded by
/// [`parse_query`], so `$rid` matches both).
pub(crate) fn query_value(query: &BTreeMap<String, Option<String>>, key: &str) -> Option<String> {
    query.get(key).cloned().flatten()
}

/// A decoded message property bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PropertyBag {
    /// System properties, keys without the `$.` prefix (`mid`, `ct`, …).
    pub(crate) system: BTreeMap<String, String>,
    /// Application properties.
    pub(crate) application: BTreeMap<String, String>,
}

/// Decodes a telemetry property bag (protocol.md 4.4 emulator rule): tolerates a leading `?`
/// and a trailing `/`; keys may use `$` or `%24`; `key` without `=` is an empty string.
pub(crate) fn decode_property_bag(bag: &str) -> PropertyBag {
    let bag = bag.strip_prefix('?').unwrap_or(bag);
    let bag = bag.strip_suffix('/').unwrap_or(bag);
    let mut out = PropertyBag::default();
    for (key, value) in parse_query(bag) {
        let value = value.unwrap_or_default();
        match key.strip_prefix("$.") {
            Some(sys) => out.system.insert(sys.to_owned(), value),
            None => out.application.insert(key, value),
        };
    }
    out
}

/// Encodes a bag as the hub emits it (protocol.md 4.5): `%24.{key}=…` system properties first in
/// the given order, then application properties; keys and values percent-encoded.
pub(crate) fn encode_property_bag(
    system: &[(&str, String)],
    application: &BTreeMap<String, String>,
) -> String {
    let mut parts = Vec::with_capacity(system.len() + application.len());
    for (key, value) in system {
        parts.push(format!("%24.{}={}", encode(key), encode(value)));
    }
    for (key, value) in application {
        parts.push(format!("{}={}", encode(key), encode(value)));
    }
    parts.join("&")
}

/// Splits a topic `prefix/?query` or `prefix?query` into `(prefix without trailing '/', query)`.
pub(crate) fn split_topic_query(topic: &str) -> (&str, &str) {
    let (path, query) = match topic.split_once('?') {
        Some((p, q)) => (p, q),
        None => (topic, ""),
    };
    (path.strip_suffix('/').unwrap_or(path), query)
}

/// True for a valid direct-method name (protocol.md 4.7): non-empty US-ASCII printable,
/// excluding `$ ( ) < > @ , ; : \ " / [ ] ? = { }` and space/tab.
pub(crate) fn valid_method_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && name
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"$()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Builds a C2D publish (topic with property bag) for `device_id`.
pub(crate) fn c2d_topic(device_id: &str, msg: &C2dMessage) -> String {
    let mut system: Vec<(&str, String)> = Vec::new();
    if let Some(v) = &msg.message_id {
        system.push(("mid", v.clone()));
    }
    if let Some(v) = &msg.correlation_id {
        system.push(("cid", v.clone()));
    }
    if let Some(v) = &msg.content_type {
        system.push(("ct", v.clone()));
    }
    if let Some(v) = &msg.content_encoding {
        system.push(("ce", v.clone()));
    }
    system.push(("to", format!("/devices/{device_id}/messages/deviceBound")));
    format!(
        "devices/{device_id}/messages/devicebound/{}",
        encode_property_bag(&system, &msg.properties)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2d_topic_shape() {
        let mut msg = C2dMessage::new("hi");
        msg.message_id = Some("m 1".into());
        msg.content_type = Some("application/json".into());
        msg.properties.insert("method-name".into(), "reboot".into());
        assert_eq!(
            c2d_topic("dev1", &msg),
            "devices/dev1/messages/devicebound/%24.mid=m%201&%24.ct=application%2Fjson&%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound&method-name=reboot"
        );
    }

    #[test]
    fn dps_usernames() {
        let u = parse_dps_username(
            "0neFEEDC0DE/registrations/myRegistrationId/api-version=2019-03-31&ClientVersion=c/1.2.3",
        )
        .unwrap();
        assert_eq!(u.id_scope, "0neFEEDC0DE");
        assert_eq!(u.registration_id, "myRegistrationId");
        assert_eq!(u.api_version, "2019-03-31");
        assert_eq!(u.client_version.as_deref(), Some("c/1.2.3"));
        let u = parse_dps_username(
            "0ne00000A0A/registrations/dev1/api-version=2019-03-31&ClientVersion=azure-iot-device-provisioning-py%2F2.14.0",
        )
        .unwrap();
        assert_eq!(
            u.client_version.as_deref(),
            Some("azure-iot-device-provisioning-py/2.14.0")
        );
        let u = parse_dps_username("0ne1/registrations/d/api-version=2021-06-01").unwrap();
        assert_eq!(u.api_version, "2021-06-01");
        assert!(parse_dps_username("0ne1/registrations/d").is_none());
        assert!(parse_dps_username("0ne1/registrations//api-version=1").is_none());
        assert!(parse_dps_username("host/dev/?api-version=2021-04-12").is_none());
        assert!(parse_dps_username("0ne1/registrations/d/api-version=").is_none());
    }

    #[test]
    fn hub_username_c_sdk() {
        let u = parse_hub_username("hub.azure-devices.net/dev1/?api-version=2020-09-30&DeviceClientType=iothubclient%2f1.9.0%20(native%3b%20Linux%3b%20aarch64)&model-id=dtmi%3acom%3aexample%3aThermostat%3b1").unwrap();
        assert_eq!(u.host, "hub.azure-devices.net");
        assert_eq!(u.device_id, "dev1");
        assert_eq!(u.module_id, None);
        assert_eq!(u.api_version.as_deref(), Some("2020-09-30"));
        assert_eq!(
            u.device_client_type.as_deref(),
            Some("iothubclient/1.9.0 (native; Linux; aarch64)")
        );
        assert_eq!(u.model_id.as_deref(), Some("dtmi:com:example:Thermostat;1"));
    }

    #[test]
    fn hub_username_embedded_c_and_csharp() {
        let u = parse_hub_username("h/d/?api-version=2020-09-30&DeviceClientType=azsdk-c%2F1.5.0&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1").unwrap();
        assert_eq!(u.model_id.as_deref(), Some("dtmi:com:example:Thermostat;1"));
        assert_eq!(u.device_client_type.as_deref(), Some("azsdk-c/1.5.0"));
    }

    #[test]
    fn hub_username_node_unencoded_model_id() {
        let u = parse_hub_username("h/d/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=azure-iot-device%2F1.18.0%20(node%20v18)").unwrap();
        assert_eq!(u.model_id.as_deref(), Some("dtmi:com:example:Thermostat;1"));
        assert_eq!(u.api_version.as_deref(), Some("2021-04-12"));
    }

    #[test]
    fn hub_username_python_variants() {
        let u = parse_hub_username(
            "h/d/?api-version=2019-10-01&DeviceClientType=py-azure-iot-device%2F2.12.0%3Bpython+3.11",
        )
        .unwrap();
        assert_eq!(
            u.device_client_type.as_deref(),
            Some("py-azure-iot-device/2.12.0;python+3.11")
        );
        assert_eq!(u.model_id, None);
    }

    #[test]
    fn hub_username_module_and_tolerances() {
        let u = parse_hub_username("h/d/m/?api-version=1").unwrap();
        assert_eq!(u.module_id.as_deref(), Some("m"));
        let u = parse_hub_username("h/d?api-version=1").unwrap();
        assert_eq!(u.device_id, "d");
        let u = parse_hub_username("h/d").unwrap();
        assert_eq!(u.api_version, None);
        assert!(parse_hub_username("h").is_none());
        assert!(parse_hub_username("h/a/b/c/?x").is_none());
        assert!(parse_hub_username("/d/?api-version=1").is_none());
    }

    #[test]
    fn property_bags() {
        let b = decode_property_bag("%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1");
        assert_eq!(
            b.system.get("ct").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(b.system.get("ce").map(String::as_str), Some("utf-8"));
        assert_eq!(b.system.get("sub").map(String::as_str), Some("thermostat1"));
        assert!(b.application.is_empty());

        let b = decode_property_bag("?$.mid=42&alert=high%20temp&flag&empty=/");
        assert_eq!(b.system.get("mid").map(String::as_str), Some("42"));
        assert_eq!(
            b.application.get("alert").map(String::as_str),
            Some("high temp")
        );
        assert_eq!(b.application.get("flag").map(String::as_str), Some(""));
        assert_eq!(b.application.get("empty").map(String::as_str), Some(""));

        let b = decode_property_bag("%24.on=alert/");
        assert_eq!(b.system.get("on").map(String::as_str), Some("alert"));
        assert_eq!(decode_property_bag(""), PropertyBag::default());
        let b = decode_property_bag("a+b=c+d");
        assert_eq!(b.application.get("a+b").map(String::as_str), Some("c+d"));
    }

    #[test]
    fn encode_bag() {
        let mut app = BTreeMap::new();
        app.insert("method-name".to_owned(), "reboot now".to_owned());
        let s = encode_property_bag(
            &[
                ("mid", "m1".to_owned()),
                ("to", "/devices/d1/messages/deviceBound".to_owned()),
            ],
            &app,
        );
        assert_eq!(
            s,
            "%24.mid=m1&%24.to=%2Fdevices%2Fd1%2Fmessages%2FdeviceBound&method-name=reboot%20now"
        );
        let back = decode_property_bag(&s);
        assert_eq!(
            back.system.get("to").map(String::as_str),
            Some("/devices/d1/messages/deviceBound")
        );
    }

    #[test]
    fn topic_queries() {
        assert_eq!(
            split_topic_query("$iothub/twin/GET/?$rid=1"),
            ("$iothub/twin/GET", "$rid=1")
        );
        let q = parse_query("%24rid=7&%24version=3");
        assert_eq!(query_value(&q, "$rid").as_deref(), Some("7"));
        assert_eq!(query_value(&q, "$version").as_deref(), Some("3"));
    }

    #[test]
    fn method_names() {
        assert!(valid_method_name("reboot"));
        assert!(valid_method_name("thermostat1*getMaxMinReport"));
        assert!(!valid_method_name(""));
        assert!(!valid_method_name("a b"));
        assert!(!valid_method_name("a/b"));
        assert!(!valid_method_name("$x"));
        assert!(!valid_method_name("é"));
    }
}
