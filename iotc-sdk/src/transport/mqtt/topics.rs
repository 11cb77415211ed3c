//! Sans-IO MQTT topic and username formats for DPS and IoT hub (protocol.md §2 and §4).
//!
//! Everything here is a pure function over strings so it can be unit-tested against the
//! protocol reference without a network.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::message::{CloudMessage, Message, JSON_CONTENT_TYPE, UTF_8};

/// api-version sent in the hub CONNECT username.
pub(crate) const HUB_API_VERSION: &str = "2021-04-12";
/// api-version sent in the DPS CONNECT username.
pub(crate) const DPS_API_VERSION: &str = "2021-06-01";
/// What the SDK calls itself in `DeviceClientType` / `ClientVersion`.
pub(crate) const CLIENT_NAME: &str = concat!("iotc-sdk/", env!("CARGO_PKG_VERSION"));

pub(crate) const C2D_SUFFIX: &str = "/messages/devicebound/#";
pub(crate) const METHODS_FILTER: &str = "$iothub/methods/POST/#";
pub(crate) const TWIN_RESPONSE_FILTER: &str = "$iothub/twin/res/#";
pub(crate) const DESIRED_FILTER: &str = "$iothub/twin/PATCH/properties/desired/#";
pub(crate) const DPS_RESPONSE_FILTER: &str = "$dps/registrations/res/#";

/// Characters left as they are: the RFC 3986 unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query-string key or value (upper-case hex, unreserved set kept).
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The bytes [`UNRESERVED`] leaves as they are, as a table: one load per byte.
const KEPT: [bool; 256] = {
    let mut kept = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        kept[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~');
        b += 1;
    }
    kept
};

/// [`JSON_CONTENT_TYPE`], the content type nearly every message has, already encoded.
const JSON_ENCODED: &str = "application%2Fjson";

/// Appends `s` percent-encoded. Values that need no encoding (message ids, most names) are
/// copied as they are, which is several times cheaper than the encoder's byte-by-byte walk;
/// so is the JSON content type, whose encoding is a constant.
fn encode_into(out: &mut String, s: &str) {
    if s.bytes().all(|b| KEPT[usize::from(b)]) {
        out.push_str(s);
    } else if s == JSON_CONTENT_TYPE {
        out.push_str(JSON_ENCODED);
    } else {
        out.extend(utf8_percent_encode(s, UNRESERVED));
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Hub CONNECT username: `{host}/{device}[/{module}]/?api-version=…&DeviceClientType=…[&model-id=…]`.
pub(crate) fn hub_username(
    hub_host: &str,
    device_id: &str,
    module_id: Option<&str>,
    model_id: Option<&str>,
) -> String {
    let mut username = format!("{hub_host}/{device_id}/");
    if let Some(module) = module_id {
        username.push_str(module);
        username.push('/');
    }
    username.push_str("?api-version=");
    username.push_str(HUB_API_VERSION);
    username.push_str("&DeviceClientType=");
    username.push_str(&encode(CLIENT_NAME));
    if let Some(model) = model_id {
        username.push_str("&model-id=");
        username.push_str(&encode(model));
    }
    username
}

/// DPS CONNECT username: `{scope}/registrations/{reg}/api-version=…&ClientVersion=…` (no `?`).
pub(crate) fn dps_username(id_scope: &str, registration_id: &str) -> String {
    format!(
        "{id_scope}/registrations/{registration_id}/api-version={DPS_API_VERSION}&ClientVersion={}",
        encode(CLIENT_NAME)
    )
}

/// The C2D subscription filter for a device.
pub(crate) fn c2d_filter(device_id: &str) -> String {
    format!("devices/{device_id}{C2D_SUFFIX}")
}

/// The part of a device's (or module's) telemetry topic before the property bag; built once
/// per connection.
pub(crate) fn telemetry_prefix(device_id: &str, module_id: Option<&str>) -> String {
    match module_id {
        Some(module) => format!("devices/{device_id}/modules/{module}/messages/events/"),
        None => format!("devices/{device_id}/messages/events/"),
    }
}

/// Telemetry topic with the message's property bag (protocol.md §4.4), after `prefix` from
/// [`telemetry_prefix`].
pub(crate) fn telemetry_topic(prefix: &str, message: &Message) -> String {
    // What `Device::send_telemetry` and `send_component_telemetry` send: the topic in a few
    // pieces, without sizing and looking at every other property.
    if message.has_generated_id() && message.is_plain_json() {
        if let Some(id) = message.message_id() {
            const MID: &str = "%24.mid=";
            const JSON_BAG: &str = "&%24.ct=application%2Fjson&%24.ce=utf-8";
            const SUB: &str = "&%24.sub=";
            let component = message.component();
            let mut topic = String::with_capacity(
                prefix.len()
                    + MID.len()
                    + id.len()
                    + JSON_BAG.len()
                    + component.map_or(0, |c| SUB.len() + c.len() + 8),
            );
            topic.push_str(prefix);
            topic.push_str(MID);
            topic.push_str(id);
            topic.push_str(JSON_BAG);
            if let Some(component) = component {
                topic.push_str(SUB);
                encode_into(&mut topic, component);
            }
            return topic;
        }
    }
    // Looked up once: a generated id is checked as UTF-8 on each look-up.
    let message_id = message.message_id();
    // Room for the bag without percent-encoding growth: one allocation for most messages.
    let fields = [
        message_id,
        message.correlation_id(),
        message.content_type(),
        message.content_encoding(),
        message.component(),
        message.output(),
    ];
    let capacity = prefix.len()
        + fields.iter().flatten().map(|v| v.len() + 10).sum::<usize>()
        + message.creation_time().map_or(0, |_| 48)
        + message
            .properties()
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
        + 8;
    let mut topic = String::with_capacity(capacity);
    topic.push_str(prefix);
    // Every property after the first is preceded by `&`.
    let separator = |topic: &mut String| {
        if topic.len() > prefix.len() {
            topic.push('&');
        }
    };
    let push_encoded = |topic: &mut String, key_and_equals: &str, value: &str| {
        separator(topic);
        topic.push_str(key_and_equals);
        topic.push_str(value);
    };
    let push = |topic: &mut String, key: &str, value: &str| {
        separator(topic);
        topic.push_str(key);
        topic.push('=');
        encode_into(topic, value);
    };
    if let Some(v) = message_id {
        if message.has_generated_id() {
            // base64url characters: nothing to encode.
            push_encoded(&mut topic, "%24.mid=", v);
        } else {
            push(&mut topic, "%24.mid", v);
        }
    }
    if let Some(v) = message.correlation_id() {
        push(&mut topic, "%24.cid", v);
    }
    match (message.content_type(), message.content_encoding()) {
        // What `Message::json` sets, nearly every message: one constant.
        (Some(JSON_CONTENT_TYPE), Some(UTF_8)) => {
            push_encoded(&mut topic, "%24.ct=", "application%2Fjson&%24.ce=utf-8");
        }
        (content_type, content_encoding) => {
            if let Some(v) = content_type {
                push(&mut topic, "%24.ct", v);
            }
            if let Some(v) = content_encoding {
                push(&mut topic, "%24.ce", v);
            }
        }
    }
    if let Some(v) = message.component() {
        push(&mut topic, "%24.sub", v);
    }
    if let Some(v) = message.output() {
        push(&mut topic, "%24.on", v);
    }
    // `$.ctime` is the creation time in UTC (`iothub-creation-time-utc`, protocol.md §4.4).
    // Formatting the caller's offset dropped the property silently when the offset had
    // seconds, which RFC 3339 cannot write (found by fuzzing, fuzz/regressions/telemetry_topic).
    // Only instants outside the years 0000 to 9999 have no RFC 3339 form and are left out.
    if let Some(t) = message
        .creation_time()
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
    {
        if let Ok(s) = t.format(&time::format_description::well_known::Rfc3339) {
            push(&mut topic, "%24.ctime", &s);
        }
    }
    for (key, value) in message.properties() {
        separator(&mut topic);
        encode_into(&mut topic, key);
        topic.push('=');
        encode_into(&mut topic, value);
    }
    topic
}

/// Splits a property bag or query string into decoded pairs. A key without `=` has no value.
/// A leading `?` and a trailing `/` are tolerated.
pub(crate) fn parse_property_bag(bag: &str) -> Vec<(String, Option<String>)> {
    let bag = bag.strip_prefix('?').unwrap_or(bag);
    let bag = bag.strip_suffix('/').unwrap_or(bag);
    bag.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), Some(decode(v))),
            None => (decode(pair), None),
        })
        .collect()
}

fn query_value<'a>(pairs: &'a [(String, Option<String>)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_deref())
}

/// The module input subscription filter (IoT Edge, protocol.md 8.4).
pub(crate) fn inputs_filter(device_id: &str, module_id: &str) -> String {
    format!("devices/{device_id}/modules/{module_id}/inputs/#")
}

/// Parses a module input publish (`devices/{d}/modules/{m}/inputs/{input}/{bag}`) into the
/// input name and a [`CloudMessage`] (the sender is in the system properties `cdid`/`cmid`).
pub(crate) fn parse_input(topic: &str, payload: &[u8]) -> Option<(String, CloudMessage)> {
    let rest = topic.strip_prefix("devices/")?;
    let (_, rest) = rest.split_once("/modules/")?;
    let (_, rest) = rest.split_once("/inputs/")?;
    let (input, bag) = rest.split_once('/').unwrap_or((rest, ""));
    if input.is_empty() {
        return None;
    }
    Some((decode(input), parse_message(bag, payload)))
}

/// Parses a C2D publish (`devices/{id}/messages/devicebound/{bag}`) into a [`CloudMessage`].
pub(crate) fn parse_c2d(topic: &str, payload: &[u8]) -> Option<CloudMessage> {
    let rest = topic.strip_prefix("devices/")?;
    let (_, bag) = rest.split_once("/messages/devicebound")?;
    let bag = bag.strip_prefix('/').unwrap_or(bag);
    Some(parse_message(bag, payload))
}

/// A message from its property bag (system properties `$.…`, then application ones) and body.
fn parse_message(bag: &str, payload: &[u8]) -> CloudMessage {
    let mut message = CloudMessage {
        payload: payload.to_vec(),
        ..CloudMessage::default()
    };
    for (key, value) in parse_property_bag(bag) {
        match key.strip_prefix("$.") {
            Some("mid") => message.message_id = value,
            Some("cid") => message.correlation_id = value,
            Some("ct") => message.content_type = value,
            Some("ce") => message.content_encoding = value,
            Some(name) => message
                .system_properties
                .push((name.to_owned(), value.unwrap_or_default())),
            None if key == "iothub-ack" => message
                .system_properties
                .push((key, value.unwrap_or_default())),
            None => message.properties.push((key, value)),
        }
    }
    message
}

/// A parsed `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TwinResponse {
    pub(crate) status: u16,
    pub(crate) request_id: String,
    pub(crate) version: Option<u64>,
}

pub(crate) fn parse_twin_response(topic: &str) -> Option<TwinResponse> {
    let rest = topic.strip_prefix("$iothub/twin/res/")?;
    let (status, query) = rest.split_once('/').unwrap_or((rest, ""));
    let pairs = parse_property_bag(query);
    Some(TwinResponse {
        status: status.parse().ok()?,
        request_id: query_value(&pairs, "$rid")?.to_owned(),
        version: query_value(&pairs, "$version").and_then(|v| v.parse().ok()),
    })
}

/// Parses `$iothub/twin/PATCH/properties/desired/?$version={v}`; returns the version if present.
pub(crate) fn parse_desired_patch(topic: &str) -> Option<Option<u64>> {
    let rest = topic.strip_prefix("$iothub/twin/PATCH/properties/desired")?;
    let pairs = parse_property_bag(rest.strip_prefix('/').unwrap_or(rest));
    Some(query_value(&pairs, "$version").and_then(|v| v.parse().ok()))
}

/// A parsed direct-method request `$iothub/methods/POST/{name}/?$rid={rid}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MethodRequest {
    pub(crate) name: String,
    pub(crate) request_id: String,
}

pub(crate) fn parse_method_request(topic: &str) -> Option<MethodRequest> {
    let rest = topic.strip_prefix("$iothub/methods/POST/")?;
    let (name, query) = rest.split_once('/').unwrap_or((rest, ""));
    let pairs = parse_property_bag(query);
    Some(MethodRequest {
        name: decode(name),
        request_id: query_value(&pairs, "$rid")?.to_owned(),
    })
}

/// The topic a method response is published on.
pub(crate) fn method_response_topic(status: u16, request_id: &str) -> String {
    format!("$iothub/methods/res/{status}/?$rid={}", encode(request_id))
}

pub(crate) fn twin_get_topic(request_id: &str) -> String {
    format!("$iothub/twin/GET/?$rid={request_id}")
}

pub(crate) fn twin_patch_reported_topic(request_id: &str) -> String {
    format!("$iothub/twin/PATCH/properties/reported/?$rid={request_id}")
}

pub(crate) fn dps_register_topic(request_id: &str) -> String {
    format!("$dps/registrations/PUT/iotdps-register/?$rid={request_id}")
}

pub(crate) fn dps_poll_topic(request_id: &str, operation_id: &str) -> String {
    format!(
        "$dps/registrations/GET/iotdps-get-operationstatus/?$rid={request_id}&operationId={}",
        encode(operation_id)
    )
}

/// A parsed DPS response `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`
/// (parameters in either order).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DpsResponse {
    pub(crate) status: u16,
    pub(crate) request_id: String,
    pub(crate) retry_after: Option<u64>,
}

pub(crate) fn parse_dps_response(topic: &str) -> Option<DpsResponse> {
    let rest = topic.strip_prefix("$dps/registrations/res/")?;
    let (status, query) = rest.split_once('/').unwrap_or((rest, ""));
    let pairs = parse_property_bag(query);
    Some(DpsResponse {
        status: status.parse().ok()?,
        request_id: query_value(&pairs, "$rid")?.to_owned(),
        retry_after: query_value(&pairs, "retry-after").and_then(|v| v.parse().ok()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The session checks only the prefix of a telemetry topic for MQTT wildcards: everything
    /// after it must come out percent-encoded.
    #[test]
    fn telemetry_topics_carry_no_wildcards_after_the_prefix() {
        let m = Message::new("x")
            .with_message_id("#+")
            .with_correlation_id("a+b")
            .with_content_type("+/#")
            .with_content_encoding("#")
            .with_component("c+")
            .with_output("o#")
            .with_property("k+#", "v#+");
        let topic = telemetry_topic(&telemetry_prefix("d", None), &m);
        assert!(!topic.contains(['+', '#']), "{topic}");
        assert!(rumqttc::valid_topic(&topic));
    }

    /// The fast paths of `telemetry_topic` (a generated id, the JSON content type and encoding)
    /// write what the general path writes.
    #[test]
    fn telemetry_topic_fast_paths_agree() {
        let mut fast = Message::json(&1).unwrap().with_component("c");
        fast.set_generated_id();
        let id = fast.message_id().unwrap().to_owned();
        let slow = Message::new(fast.payload().to_vec())
            .with_message_id(id.clone())
            .with_content_type("application/json")
            .with_content_encoding("utf-8")
            .with_component("c");
        let prefix = telemetry_prefix("d", None);
        assert_eq!(
            telemetry_topic(&prefix, &fast),
            telemetry_topic(&prefix, &slow)
        );
        assert_eq!(
            telemetry_topic(&prefix, &fast),
            format!("devices/d/messages/events/%24.mid={id}&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=c")
        );
        let mut plain = Message::json(&1).unwrap();
        plain.set_generated_id();
        let id = plain.message_id().unwrap().to_owned();
        assert_eq!(
            telemetry_topic(&prefix, &plain),
            format!(
                "devices/d/messages/events/%24.mid={id}&%24.ct=application%2Fjson&%24.ce=utf-8"
            )
        );
        let encoded = plain.clone().with_component("a b/c");
        assert_eq!(
            telemetry_topic(&prefix, &encoded),
            telemetry_topic(
                &prefix,
                &encoded
                    .clone()
                    .with_content_encoding("utf-8")
                    .with_message_id(id.clone())
            )
        );
        assert!(telemetry_topic(&prefix, &encoded).ends_with("&%24.sub=a%20b%2Fc"));
        // Anything more goes the general way, in the general order.
        let more = plain.clone().with_component("c").with_property("k", "v");
        assert_eq!(
            telemetry_topic(&prefix, &more),
            format!("devices/d/messages/events/%24.mid={id}&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=c&k=v")
        );
        let other = Message::new("x").with_content_type("application/json");
        assert_eq!(
            telemetry_topic(&prefix, &other),
            "devices/d/messages/events/%24.ct=application%2Fjson"
        );
    }

    /// The fast paths of `encode_into` (the table, the JSON constant) agree with the encoder
    /// on every byte and on the values messages carry.
    #[test]
    fn encode_into_agrees_with_the_encoder() {
        let mut values: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        values.extend(
            [
                "application/json",
                "application/jsonx",
                "Application/json",
                "utf-8",
                "0123456789abcdef",
                "a b&c=d/e",
                "é ü",
                "",
            ]
            .map(String::from),
        );
        for value in values {
            let mut out = String::new();
            encode_into(&mut out, &value);
            assert_eq!(out, encode(&value), "{value:?}");
        }
    }

    #[test]
    fn hub_username_encodes_model_id() {
        assert_eq!(
            hub_username(
                "contoso.azure-devices.net",
                "thermostat-01",
                None,
                Some("dtmi:com:example:Thermostat;1")
            ),
            format!(
                "contoso.azure-devices.net/thermostat-01/?api-version=2021-04-12&DeviceClientType=iotc-sdk%2F{}&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(hub_username("h", "d", Some("m"), None).starts_with("h/d/m/?api-version="));
    }

    #[test]
    fn dps_username_has_no_question_mark() {
        let u = dps_username("0ne00000A0A", "thermostat-01");
        assert!(u.starts_with("0ne00000A0A/registrations/thermostat-01/api-version=2021-06-01&ClientVersion=iotc-sdk%2F"));
        assert!(!u.contains('?'));
    }

    #[test]
    fn telemetry_topic_matches_protocol_examples() {
        let m = Message::json(&1).unwrap();
        assert_eq!(
            telemetry_topic(&telemetry_prefix("thermostat-01", None), &m),
            "devices/thermostat-01/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8"
        );
        let m = m
            .with_component("thermostat1")
            .with_message_id("a b")
            .with_property("k&=", "v/1");
        assert_eq!(
            telemetry_topic(&telemetry_prefix("tc-01", None), &m),
            "devices/tc-01/messages/events/%24.mid=a%20b&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&k%26%3D=v%2F1"
        );
        assert_eq!(
            telemetry_topic(&telemetry_prefix("gw", Some("filter")), &Message::new("x")),
            "devices/gw/modules/filter/messages/events/"
        );
    }

    /// Fuzzing (fuzz/regressions/telemetry_topic/ctime-offset-with-seconds): a creation time
    /// with the offset +12:29:32 has no RFC 3339 form in that offset, and `$.ctime` vanished
    /// from the topic; other offsets were sent as local time although `$.ctime` is UTC.
    #[test]
    fn ctime_is_sent_in_utc_whatever_the_offset() {
        use time::macros::datetime;
        let m =
            Message::new("x").with_creation_time(datetime!(1970-01-27 9:47:56.722927616 +12:29:32));
        assert_eq!(
            telemetry_topic(&telemetry_prefix("d", None), &m),
            "devices/d/messages/events/%24.ctime=1970-01-26T21%3A18%3A24.722927616Z"
        );
        let m = Message::new("x").with_creation_time(datetime!(2024-05-01 10:00 +02:00));
        assert_eq!(
            telemetry_topic(&telemetry_prefix("d", None), &m),
            "devices/d/messages/events/%24.ctime=2024-05-01T08%3A00%3A00Z"
        );
        // Year 10000 in UTC: no RFC 3339 form, no `$.ctime` (and no panic).
        let m = Message::new("x").with_creation_time(datetime!(9999-12-31 23:00 -02:00));
        assert_eq!(
            telemetry_topic(&telemetry_prefix("d", None), &m),
            "devices/d/messages/events/"
        );
    }

    #[test]
    fn property_bag_round_trips_and_tolerates_forms() {
        let m = Message::new("x")
            .with_property("a=b", "c&d")
            .with_property("e", "");
        let topic = telemetry_topic(&telemetry_prefix("d", None), &m);
        let bag = topic.strip_prefix("devices/d/messages/events/").unwrap();
        assert_eq!(
            parse_property_bag(bag),
            vec![
                ("a=b".into(), Some("c&d".into())),
                ("e".into(), Some(String::new()))
            ]
        );
        assert_eq!(
            parse_property_bag("?prop1&prop2=&prop3=a%20string/"),
            vec![
                ("prop1".into(), None),
                ("prop2".into(), Some(String::new())),
                ("prop3".into(), Some("a string".into()))
            ]
        );
    }

    #[test]
    fn module_outputs_and_inputs() {
        let m = Message::new("x").with_output("avg");
        assert_eq!(
            telemetry_topic(&telemetry_prefix("edge", Some("agg")), &m),
            "devices/edge/modules/agg/messages/events/%24.on=avg"
        );
        assert_eq!(
            inputs_filter("edge", "agg"),
            "devices/edge/modules/agg/inputs/#"
        );
        let (input, msg) = parse_input(
            "devices/TestEdgeDevice/modules/TestModule/inputs/TestInput/%24.cdid=TestEdgeDevice&%24.cmid=SenderModule&%24.ct=application%2Fjson&k=v",
            b"{}",
        )
        .unwrap();
        assert_eq!(input, "TestInput");
        assert_eq!(msg.content_type(), Some("application/json"));
        assert_eq!(msg.property("k"), Some("v"));
        assert_eq!(
            msg.system_properties(),
            &[
                ("cdid".to_owned(), "TestEdgeDevice".to_owned()),
                ("cmid".to_owned(), "SenderModule".to_owned())
            ]
        );
        let (input, msg) = parse_input("devices/e/modules/m/inputs/in1", b"").unwrap();
        assert_eq!((input.as_str(), msg.properties().len()), ("in1", 0));
        assert!(parse_input("devices/e/modules/m/inputs/", b"").is_none());
        assert!(parse_input("devices/e/messages/devicebound/x", b"").is_none());
    }

    #[test]
    fn parses_c2d_with_system_and_app_properties() {
        let msg = parse_c2d(
            "devices/dev_c/messages/devicebound/%24.mid=m1&%24.ct=text%2Fplain&%24.to=%2Fdevices%2Fdev_c%2Fmessages%2FdeviceBound&propertyName=propertyValue&flag",
            b"hi",
        )
        .unwrap();
        assert_eq!(msg.body(), b"hi");
        assert_eq!(msg.message_id(), Some("m1"));
        assert_eq!(msg.content_type(), Some("text/plain"));
        assert_eq!(msg.property("propertyName"), Some("propertyValue"));
        assert_eq!(msg.properties()[1], ("flag".to_owned(), None));
        assert_eq!(
            msg.system_properties(),
            &[(
                "to".to_owned(),
                "/devices/dev_c/messages/deviceBound".to_owned()
            )]
        );
        assert!(parse_c2d("devices/x/messages/events/", b"").is_none());
    }

    #[test]
    fn parses_twin_method_and_dps_topics() {
        assert_eq!(
            parse_twin_response("$iothub/twin/res/204/?$rid=7&$version=12"),
            Some(TwinResponse {
                status: 204,
                request_id: "7".into(),
                version: Some(12)
            })
        );
        assert_eq!(
            parse_twin_response("$iothub/twin/res/200/?$rid=abc"),
            Some(TwinResponse {
                status: 200,
                request_id: "abc".into(),
                version: None
            })
        );
        assert_eq!(
            parse_desired_patch("$iothub/twin/PATCH/properties/desired/?$version=3"),
            Some(Some(3))
        );
        assert_eq!(
            parse_method_request("$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1f"),
            Some(MethodRequest {
                name: "thermostat1*getMaxMinReport".into(),
                request_id: "1f".into()
            })
        );
        assert_eq!(
            parse_dps_response("$dps/registrations/res/202/?retry-after=3&$rid=1"),
            Some(DpsResponse {
                status: 202,
                request_id: "1".into(),
                retry_after: Some(3)
            })
        );
        assert_eq!(parse_dps_response("$dps/registrations/res/x/?$rid=1"), None);
        assert_eq!(
            method_response_topic(200, "1f"),
            "$iothub/methods/res/200/?$rid=1f"
        );
        assert_eq!(
            dps_poll_topic("2", "4.d0a6:x"),
            "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.d0a6%3Ax"
        );
    }
}
