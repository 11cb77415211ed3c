//! How SDK messages map onto AMQP messages and back (protocol.md §5.4–§5.6).

use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Batch, Body, Data, Message as Amqp, MessageAnnotations, MessageId,
    Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol, Timestamp, Value};

use crate::message::{CloudMessage, Message};

/// Every AMQP message the SDK sends or receives: any body section, decoded to values.
pub(crate) type AmqpMessage = Amqp<Body<Value>>;

/// One data section holding `bytes`.
pub(crate) fn data_body(bytes: Vec<u8>) -> Body<Value> {
    Body::Data(Batch::new(vec![Data::from(bytes)]))
}

/// An AMQP message to send. Telemetry has its one data section as the body: fe2o3-amqp encodes a
/// lone section straight, where a batch of sections (the form of [`AmqpMessage`]) goes through a
/// sequence it sizes and buffers first, about a thousand instructions and two allocations per
/// message for the same bytes.
pub(crate) enum Outbound {
    /// Telemetry.
    Data(Amqp<Data>),
    /// Twin requests and command answers.
    Other(AmqpMessage),
}

/// The body's bytes: data sections joined, a string or binary value as is, nothing otherwise.
pub(crate) fn body_bytes(body: &Body<Value>) -> Vec<u8> {
    match body {
        Body::Data(batch) => batch.iter().flat_map(|d| d.0.iter().copied()).collect(),
        Body::Value(value) => match &value.0 {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Binary(b) => b.to_vec(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A telemetry message: one data section; ids, content type and encoding as AMQP properties;
/// the component as the `dt-subject` annotation; application properties as strings, plus
/// `iothub-creation-time-utc` (protocol.md §5.4).
pub(crate) fn telemetry(message: &Message) -> Amqp<Data> {
    let properties = Properties {
        message_id: message
            .message_id()
            .map(|id| MessageId::String(id.to_owned())),
        correlation_id: message
            .correlation_id()
            .map(|id| MessageId::String(id.to_owned())),
        content_type: message.content_type().map(Symbol::from),
        content_encoding: message.content_encoding().map(Symbol::from),
        ..Properties::default()
    };
    // The map only when there is something to put in it (most telemetry has nothing).
    let mut application: Option<ApplicationProperties> = None;
    let mut insert = |name: String, value: String| {
        application
            .get_or_insert_with(ApplicationProperties::default)
            .0
            .insert(name, SimpleValue::String(value));
    };
    for (name, value) in message.properties() {
        insert(name.clone(), value.clone());
    }
    if let Some(output) = message.output() {
        // A module's output (IoT Edge routes on it), protocol.md 8.4.
        insert("iothub-outputname".to_owned(), output.to_owned());
    }
    if let Some(time) = message
        .creation_time()
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
    {
        insert("iothub-creation-time-utc".to_owned(), time);
    }
    let message_annotations = message.component().map(|component| {
        MessageAnnotations::builder()
            .insert(
                OwnedKey::Symbol(Symbol::from("dt-subject")),
                Value::String(component.to_owned()),
            )
            .build()
    });
    // Built in place: the builder moves the whole message (several hundred bytes) at each step.
    Amqp {
        header: None,
        delivery_annotations: None,
        message_annotations,
        properties: Some(properties),
        application_properties: application,
        body: Data::from(message.payload().to_vec()),
        footer: None,
    }
}

/// A received cloud-to-device message. Application properties named `iothub-*` and the
/// properties the hub sets (`to`, `user-id`, expiry) go to the system properties.
pub(crate) fn cloud_message(message: &AmqpMessage) -> CloudMessage {
    let mut out = CloudMessage {
        payload: body_bytes(&message.body),
        ..CloudMessage::default()
    };
    if let Some(p) = &message.properties {
        out.message_id = p.message_id.as_ref().map(message_id_text);
        out.correlation_id = p.correlation_id.as_ref().map(message_id_text);
        out.content_type = p.content_type.as_ref().map(|s| s.0.clone());
        out.content_encoding = p.content_encoding.as_ref().map(|s| s.0.clone());
        if let Some(to) = &p.to {
            out.system_properties.push(("to".into(), to.clone()));
        }
        if let Some(user) = &p.user_id {
            out.system_properties
                .push(("uid".into(), String::from_utf8_lossy(user).into_owned()));
        }
        if let Some(exp) = &p.absolute_expiry_time {
            if let Some(text) = timestamp_text(exp) {
                out.system_properties.push(("exp".into(), text));
            }
        }
    }
    if let Some(app) = &message.application_properties {
        for (name, value) in app.0.iter() {
            let text = simple_text(value);
            if name.starts_with("iothub-") {
                out.system_properties
                    .push((name.clone(), text.unwrap_or_default()));
            } else {
                out.properties.push((name.clone(), text));
            }
        }
    }
    out
}

/// The text form of a message id or correlation id (a UUID in its hyphenated form).
pub(crate) fn message_id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => uuid_text(u.as_ref()),
        MessageId::Binary(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn timestamp_text(t: &Timestamp) -> Option<String> {
    let nanos = i128::from(t.milliseconds()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A simple value as text (`None` for null).
pub(crate) fn simple_text(value: &SimpleValue) -> Option<String> {
    Some(match value {
        SimpleValue::Null => return None,
        SimpleValue::String(s) => s.clone(),
        SimpleValue::Symbol(s) => s.0.clone(),
        SimpleValue::Bool(b) => b.to_string(),
        SimpleValue::Ubyte(n) => n.to_string(),
        SimpleValue::Ushort(n) => n.to_string(),
        SimpleValue::Uint(n) => n.to_string(),
        SimpleValue::Ulong(n) => n.to_string(),
        SimpleValue::Byte(n) => n.to_string(),
        SimpleValue::Short(n) => n.to_string(),
        SimpleValue::Int(n) => n.to_string(),
        SimpleValue::Long(n) => n.to_string(),
        SimpleValue::Float(n) => n.to_string(),
        SimpleValue::Double(n) => n.to_string(),
        SimpleValue::Timestamp(t) => timestamp_text(t)?,
        SimpleValue::Uuid(u) => uuid_text(u.as_ref()),
        other => format!("{other:?}"),
    })
}

/// A numeric value as u64 (strings holding digits too).
pub(crate) fn value_as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Ubyte(n) => Some(u64::from(*n)),
        Value::Ushort(n) => Some(u64::from(*n)),
        Value::Uint(n) => Some(u64::from(*n)),
        Value::Ulong(n) => Some(*n),
        Value::Byte(n) => u64::try_from(*n).ok(),
        Value::Short(n) => u64::try_from(*n).ok(),
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Long(n) => u64::try_from(*n).ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A numeric simple value as i64 (strings holding digits too).
pub(crate) fn simple_as_i64(value: &SimpleValue) -> Option<i64> {
    match value {
        SimpleValue::Ubyte(n) => Some(i64::from(*n)),
        SimpleValue::Ushort(n) => Some(i64::from(*n)),
        SimpleValue::Uint(n) => Some(i64::from(*n)),
        SimpleValue::Ulong(n) => i64::try_from(*n).ok(),
        SimpleValue::Byte(n) => Some(i64::from(*n)),
        SimpleValue::Short(n) => Some(i64::from(*n)),
        SimpleValue::Int(n) => Some(i64::from(*n)),
        SimpleValue::Long(n) => Some(*n),
        SimpleValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The message annotation `name`, if present.
pub(crate) fn annotation<'a, B>(message: &'a Amqp<B>, name: &str) -> Option<&'a Value> {
    message
        .message_annotations
        .as_ref()?
        .0
        .iter()
        .find(|(k, _)| matches!(k, OwnedKey::Symbol(s) if s.0 == name))
        .map(|(_, v)| v)
}

/// The application property `name` (compared case-insensitively), if present.
pub(crate) fn app_property<'a, B>(message: &'a Amqp<B>, name: &str) -> Option<&'a SimpleValue> {
    message
        .application_properties
        .as_ref()?
        .0
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The correlation id of a received message, if any.
pub(crate) fn correlation_id(message: &AmqpMessage) -> Option<&MessageId> {
    message.properties.as_ref()?.correlation_id.as_ref()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn encoded<B: fe2o3_amqp::types::messaging::SerializableBody>(message: Amqp<B>) -> Vec<u8> {
        use fe2o3_amqp::types::messaging::message::__private::Serializable;
        serde_amqp::to_vec(&Serializable(message)).unwrap()
    }

    /// A telemetry message sent with its one data section as the body is the same bytes as
    /// with the section in a batch; other bodies are left as they are.
    #[test]
    fn telemetry_encodes_as_a_batch_of_one_section_would() {
        let plain = Message::json(&serde_json::json!({"t": 21.5})).unwrap();
        let mut generated = plain.clone().with_component("c").with_property("k", "v");
        generated.set_generated_id();
        let given = Message::new(vec![0u8, 1, 255]).with_message_id("m-1");
        for message in [plain, generated, given, Message::new(Vec::new())] {
            let single = telemetry(&message);
            let batch = Amqp {
                header: single.header.clone(),
                delivery_annotations: single.delivery_annotations.clone(),
                message_annotations: single.message_annotations.clone(),
                properties: single.properties.clone(),
                application_properties: single.application_properties.clone(),
                body: data_body(single.body.0.to_vec()),
                footer: single.footer.clone(),
            };
            assert_eq!(encoded(single), encoded(batch));
        }
    }

    #[test]
    fn telemetry_carries_properties_and_component() {
        let m = Message::json(&serde_json::json!({"t": 1}))
            .unwrap()
            .with_component("thermostat1")
            .with_message_id("m-1")
            .with_property("alert", "yes")
            .with_creation_time(time::macros::datetime!(2024-05-01 10:00 +02:00));
        let a = telemetry(&m);
        let p = a.properties.as_ref().unwrap();
        assert_eq!(p.message_id, Some(MessageId::String("m-1".into())));
        assert_eq!(p.content_type.as_ref().unwrap().0, "application/json");
        assert_eq!(p.content_encoding.as_ref().unwrap().0, "utf-8");
        assert_eq!(
            annotation(&a, "dt-subject"),
            Some(&Value::String("thermostat1".into()))
        );
        assert_eq!(
            app_property(&a, "alert"),
            Some(&SimpleValue::String("yes".into()))
        );
        assert_eq!(
            app_property(&a, "iothub-creation-time-utc"),
            Some(&SimpleValue::String("2024-05-01T08:00:00Z".into()))
        );
        assert_eq!(a.body.0.as_ref(), br#"{"t":1}"#);
    }

    #[test]
    fn cloud_messages_split_system_and_application_properties() {
        let p = Properties {
            message_id: Some(MessageId::Uuid(fe2o3_amqp::types::primitives::Uuid::from(
                [0x11u8; 16],
            ))),
            to: Some("/devices/d/messages/devicebound".into()),
            ..Properties::default()
        };
        let a: AmqpMessage = Amqp::builder()
            .properties(p)
            .application_properties(
                ApplicationProperties::builder()
                    .insert("iothub-ack", SimpleValue::String("full".into()))
                    .insert("color", SimpleValue::String("red".into()))
                    .insert("n", SimpleValue::Int(3))
                    .build(),
            )
            .body(data_body(b"hi".to_vec()))
            .build();
        let c = cloud_message(&a);
        assert_eq!(c.body(), b"hi");
        assert_eq!(c.message_id(), Some("11111111-1111-1111-1111-111111111111"));
        assert_eq!(c.property("color"), Some("red"));
        assert_eq!(c.property("n"), Some("3"));
        assert!(c
            .system_properties()
            .contains(&("iothub-ack".into(), "full".into())));
        assert!(c
            .system_properties()
            .iter()
            .any(|(k, v)| k == "to" && v.ends_with("devicebound")));
    }
}
