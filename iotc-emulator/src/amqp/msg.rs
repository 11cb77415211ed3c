//! Reading and building AMQP messages (protocol.md 5.4–5.6).

use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{Batch, Body, Data, Message, MessageId};
use fe2o3_amqp::types::primitives::{SimpleValue, Timestamp, Value};

/// Every message the emulator sends or receives.
pub(crate) type AmqpMessage = Message<Body<Value>>;

/// One data section holding `bytes`.
pub(crate) fn data_body(bytes: impl Into<Vec<u8>>) -> Body<Value> {
    Body::Data(Batch::new(vec![Data::from(bytes.into())]))
}

/// The body's bytes: data sections joined, a string or binary value as is, nothing otherwise.
pub(crate) fn body_bytes(body: &Body<Value>) -> Vec<u8> {
    match body {
        Body::Data(batch) => batch.iter().flat_map(|d| d.0.iter().copied()).collect(),
        Body::Value(v) => match &v.0 {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Binary(b) => b.to_vec(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The body as a string value (CBS puts the token in an amqp-value).
pub(crate) fn body_string(body: &Body<Value>) -> Option<String> {
    String::from_utf8(body_bytes(body)).ok()
}

/// The text form of a message id (UUIDs hyphenated).
pub(crate) fn id_text(id: &MessageId) -> String {
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

/// A hyphenated UUID as an AMQP uuid, otherwise a string id.
pub(crate) fn id_from_text(text: &str) -> MessageId {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 && text.len() == 36 {
        let mut bytes = [0u8; 16];
        let ok = (0..16).all(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map(|b| bytes[i] = b)
                .is_ok()
        });
        if ok {
            return MessageId::Uuid(bytes.into());
        }
    }
    MessageId::String(text.to_owned())
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

/// A value as text, for annotations.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Symbol(s) => s.0.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Long(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Ulong(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

/// A timestamp as RFC 3339.
pub(crate) fn timestamp_text(t: &Timestamp) -> Option<String> {
    let nanos = i128::from(t.milliseconds()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The message annotation `name`.
pub(crate) fn annotation<'a>(message: &'a AmqpMessage, name: &str) -> Option<&'a Value> {
    message
        .message_annotations
        .as_ref()?
        .0
        .iter()
        .find(|(k, _)| matches!(k, OwnedKey::Symbol(s) if s.0.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v)
}

/// The application property `name` (case-insensitive).
pub(crate) fn app_property<'a>(message: &'a AmqpMessage, name: &str) -> Option<&'a SimpleValue> {
    message
        .application_properties
        .as_ref()?
        .0
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The correlation id of a message.
pub(crate) fn correlation_id(message: &AmqpMessage) -> Option<&MessageId> {
    message.properties.as_ref()?.correlation_id.as_ref()
}

/// The message id of a message.
pub(crate) fn message_id(message: &AmqpMessage) -> Option<&MessageId> {
    message.properties.as_ref()?.message_id.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip() {
        let text = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
        let id = id_from_text(text);
        assert!(matches!(id, MessageId::Uuid(_)));
        assert_eq!(id_text(&id), text);
        assert_eq!(id_from_text("17"), MessageId::String("17".into()));
    }
}
