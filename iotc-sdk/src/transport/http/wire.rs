//! The hub's HTTPS message encoding (protocol.md §6.1–6.3): telemetry as headers, batches as
//! JSON, cloud-to-device messages from response headers.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::message::{CloudMessage, Message};
use crate::{Error, Result};

/// The hub's device REST api-version (protocol.md §0.1).
pub(crate) const HUB_API_VERSION: &str = "2021-04-12";

/// The content type of a batch of messages.
pub(crate) const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.iothub.json";

/// Prefix of application properties in headers and batch property maps.
const APP_PREFIX: &str = "iothub-app-";

/// The system properties of `message` and its application properties, by header name.
fn properties(message: &Message) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut system = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            out.push((name.to_owned(), value.to_owned()));
        }
    };
    system("iothub-messageid", message.message_id());
    system("iothub-correlationid", message.correlation_id());
    system("iothub-contenttype", message.content_type());
    system("iothub-contentencoding", message.content_encoding());
    system("dt-subject", message.component());
    if let Some(time) = message.creation_time() {
        if let Ok(text) = time.format(&time::format_description::well_known::Rfc3339) {
            out.push((format!("{APP_PREFIX}iothub-creation-time-utc"), text));
        }
    }
    for (name, value) in message.properties() {
        out.push((format!("{APP_PREFIX}{name}"), value.clone()));
    }
    out
}

/// Whether `c` may appear in an HTTP header name (an RFC 9110 token).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The headers that carry `message` on `POST /devices/{id}/messages/events`.
///
/// # Errors
///
/// [`Error::Serialization`] when a property name is not an HTTP token or a value is not
/// printable ASCII: headers cannot carry them (send such messages over MQTT, or in a batch).
pub(crate) fn telemetry_headers(
    device_id: &str,
    message: &Message,
) -> Result<Vec<(String, String)>> {
    let mut headers = vec![(
        "iothub-to".to_owned(),
        format!("/devices/{device_id}/messages/events"),
    )];
    for (name, value) in properties(message) {
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(Error::Serialization(format!(
                "the property name `{name}` cannot be an HTTP header (letters, digits and !#$%&'*+-.^_`|~ only)"
            )));
        }
        if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(Error::Serialization(format!(
                "the value of `{name}` cannot be an HTTP header value (printable ASCII only)"
            )));
        }
        headers.push((name, value));
    }
    if let Some(content_type) = message.content_type() {
        if content_type
            .chars()
            .all(|c| c == ' ' || c.is_ascii_graphic())
        {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
    }
    Ok(headers)
}

/// The JSON body of a batch (protocol.md §6.2): each message's body in base64 with its
/// properties (system properties under their header names, application properties prefixed).
pub(crate) fn batch_body(messages: &[Message]) -> Result<Vec<u8>> {
    let items: Vec<Value> = messages
        .iter()
        .map(|message| {
            let mut item = Map::new();
            item.insert("body".into(), Value::String(B64.encode(message.payload())));
            item.insert("base64Encoded".into(), Value::Bool(true));
            let props: Map<String, Value> = properties(message)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            if !props.is_empty() {
                item.insert("properties".into(), Value::Object(props));
            }
            Value::Object(item)
        })
        .collect();
    Ok(serde_json::to_vec(&items)?)
}

/// The size the hub counts for one message: body plus property names and values.
pub(crate) fn message_size(message: &Message) -> usize {
    message.payload().len()
        + properties(message)
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// A cloud-to-device message from a `200` answer to `GET …/messages/deviceBound`: the body,
/// and the lock token from `ETag` (quotes removed).
pub(crate) fn parse_c2d<'a>(
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> CloudMessage {
    let mut message = CloudMessage {
        payload: body.to_vec(),
        ..CloudMessage::default()
    };
    let mut content_type = (None, None);
    let mut content_encoding = (None, None);
    let mut properties = Vec::new();
    let mut system = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let value = value.to_owned();
        match name.as_str() {
            "etag" => message.lock_token = Some(value.trim().trim_matches('"').to_owned()),
            "iothub-messageid" => message.message_id = Some(value),
            "iothub-correlationid" => message.correlation_id = Some(value),
            "iothub-contenttype" => content_type.0 = Some(value),
            "contenttype" => content_type.1 = Some(value),
            "iothub-contentencoding" => content_encoding.0 = Some(value),
            "contentencoding" => content_encoding.1 = Some(value),
            "iothub-to" => system.push(("to".to_owned(), value)),
            "iothub-expiry" => system.push(("exp".to_owned(), value)),
            "iothub-userid" => system.push(("uid".to_owned(), value)),
            "iothub-ack" => system.push(("iothub-ack".to_owned(), value)),
            "iothub-sequencenumber" | "iothub-deliverycount" | "iothub-enqueuedtime" => {
                system.push((name, value))
            }
            _ => {
                if let Some(app) = name.strip_prefix(APP_PREFIX) {
                    properties.push((app.to_owned(), Some(value)));
                }
            }
        }
    }
    message.content_type = content_type.0.or(content_type.1);
    message.content_encoding = content_encoding.0.or(content_encoding.1);
    // Header maps have no order: sort for a stable result.
    properties.sort();
    system.sort();
    message.properties = properties;
    message.system_properties = system;
    message
}

/// The text of an error answer: its `Message`/`message` (with the error code), or the body.
pub(crate) fn error_message(body: &[u8], code_header: Option<&str>) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| {
        parsed.as_ref().and_then(|v| {
            names.iter().find_map(|n| v.get(*n)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
    };
    let message = field(&["Message", "message"])
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    match field(&["ErrorCode", "errorCode"]).or(code_header.map(str::to_owned)) {
        Some(code) if !message.contains(&code) => format!("{message} (error code {code})"),
        _ => message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_headers_carry_every_property() {
        let message = Message::json(&serde_json::json!({"t": 1}))
            .unwrap()
            .with_component("thermostat1")
            .with_message_id("m-1")
            .with_correlation_id("c/1")
            .with_property("alert", "high");
        let headers = telemetry_headers("dev 1", &message).unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("iothub-to"), Some("/devices/dev 1/messages/events"));
        assert_eq!(get("iothub-messageid"), Some("m-1"));
        assert_eq!(get("iothub-correlationid"), Some("c/1"));
        assert_eq!(get("iothub-contenttype"), Some("application/json"));
        assert_eq!(get("iothub-contentencoding"), Some("utf-8"));
        assert_eq!(get("dt-subject"), Some("thermostat1"));
        assert_eq!(get("iothub-app-alert"), Some("high"));
        assert_eq!(get("content-type"), Some("application/json"));
    }

    #[test]
    fn headers_refuse_what_http_cannot_carry() {
        for message in [
            Message::new("x").with_property("a b", "1"),
            Message::new("x").with_property("unit", "°C"),
            Message::new("x").with_property("a", "line\nbreak"),
        ] {
            assert!(matches!(
                telemetry_headers("d", &message),
                Err(Error::Serialization(_))
            ));
        }
    }

    #[test]
    fn batches_are_base64_json() {
        let body = batch_body(&[
            Message::new(b"{\"t\":21}".to_vec()).with_property("alert", "°C & more"),
            Message::new(b"\x00\x01".to_vec()),
        ])
        .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!([
                {"body": "eyJ0IjoyMX0=", "base64Encoded": true,
                 "properties": {"iothub-app-alert": "°C & more"}},
                {"body": "AAE=", "base64Encoded": true}
            ])
        );
    }

    #[test]
    fn cloud_messages_come_from_headers() {
        let headers = [
            ("ETag", "\"lock-1\""),
            ("iothub-messageid", "m"),
            ("iothub-correlationid", "c"),
            ("ContentType", "application/json"),
            ("iothub-contentencoding", "utf-8"),
            ("iothub-to", "/devices/d/messages/deviceBound"),
            ("iothub-deliverycount", "2"),
            ("iothub-app-zeta", "z"),
            ("iothub-app-alpha", "a b"),
            ("content-length", "2"),
        ];
        let message = parse_c2d(headers.into_iter(), b"{}");
        assert_eq!(message.lock_token(), Some("lock-1"));
        assert_eq!(message.message_id(), Some("m"));
        assert_eq!(message.correlation_id(), Some("c"));
        assert_eq!(message.content_type(), Some("application/json"));
        assert_eq!(message.content_encoding(), Some("utf-8"));
        assert_eq!(message.property("alpha"), Some("a b"));
        assert_eq!(
            message.properties(),
            &[
                ("alpha".to_owned(), Some("a b".to_owned())),
                ("zeta".to_owned(), Some("z".to_owned()))
            ]
        );
        assert!(message
            .system_properties()
            .contains(&("iothub-deliverycount".to_owned(), "2".to_owned())));
        assert_eq!(message.body(), b"{}");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"Message":"lock lost","ErrorCode":"412002"}"#, None),
            "lock lost (error code 412002)"
        );
        assert_eq!(
            error_message(br#"{"errorCode":401002,"message":"bad"}"#, None),
            "bad (error code 401002)"
        );
        assert_eq!(error_message(b"plain", Some("X")), "plain (error code X)");
    }
}
