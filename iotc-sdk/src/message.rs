//! Messages: telemetry the device sends ([`Message`]) and cloud-to-device messages it receives
//! ([`CloudMessage`]).

use std::borrow::Cow;
use std::cell::RefCell;

use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Result;

/// The content type [`Message::json`] sets (the transports recognize it for a cheaper encoding).
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json";
/// The content encoding [`Message::json`] sets.
pub(crate) const UTF_8: &str = "utf-8";

/// A telemetry message's id: one the application gave, or one the SDK generated (kept inline,
/// so that the automatic id of every message costs no allocation).
#[derive(Clone, Debug, PartialEq)]
enum MessageId {
    Given(String),
    /// 128 random bits as 22 base64url characters.
    Generated(Generated),
}

/// The 22 characters of a generated id: 128 random bits in unpadded base64url (RFC 4648 §5),
/// which need no percent-encoding in a topic and are 10 bytes shorter on the wire than hex.
/// Aligned to a machine word so that checking them as UTF-8 ([`Message::message_id`], once per
/// message sent) takes the word-at-a-time path rather than a byte at a time.
#[derive(Clone, Debug, PartialEq)]
#[repr(align(8))]
struct Generated([u8; GENERATED_LEN]);

/// The length of a generated id.
const GENERATED_LEN: usize = 22;

impl MessageId {
    /// An id unique enough to recognize duplicates: 128 random bits.
    fn generate() -> MessageId {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let mut id = [b'A'; GENERATED_LEN];
        // 16 bytes always encode to 22 characters: the buffer fits.
        let _ = URL_SAFE_NO_PAD.encode_slice(fastrand::u128(..).to_le_bytes(), &mut id);
        MessageId::Generated(Generated(id))
    }
}

/// A device-to-cloud (telemetry) message: a payload plus the system and application properties
/// IoT hub carries with it.
///
/// Most devices send JSON built with [`Message::json`], which sets the content type
/// `application/json` and encoding `utf-8` that IoT Central needs to read the body.
///
/// ```
/// use iotc_sdk::Message;
/// let message = Message::json(&serde_json::json!({ "temperature": 21.5 }))?
///     .with_component("thermostat1")
///     .with_message_id("m-1")
///     .with_property("alert", "false");
/// assert_eq!(message.component(), Some("thermostat1"));
/// # Ok::<(), iotc_sdk::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Shared, so that keeping the message for a resend and handing it to the transport does
    /// not copy it.
    payload: Bytes,
    /// `Cow`: the constants [`Message::json`] sets are not allocated for every message.
    content_type: Option<Cow<'static, str>>,
    content_encoding: Option<Cow<'static, str>>,
    component: Option<String>,
    message_id: Option<MessageId>,
    correlation_id: Option<String>,
    creation_time: Option<OffsetDateTime>,
    properties: Vec<(String, String)>,
    at_most_once: bool,
    output: Option<String>,
}

/// `value` as JSON, in a buffer of exactly its size.
///
/// `serde_json::to_vec` grows its vector from 128 bytes by doubling: most telemetry costs a
/// reallocation, and every queued message keeps the unused capacity. The bytes are written into
/// a per-thread scratch buffer instead and copied once.
fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    /// A scratch buffer that one large message grew past this is given back.
    const KEEP: usize = 16 * 1024;
    let serialized = SCRATCH.try_with(|scratch| {
        // Not available while a `Serialize` implementation builds a JSON message itself.
        let mut buf = scratch.try_borrow_mut().ok()?;
        buf.clear();
        let result = serde_json::to_writer(&mut *buf, value).map(|()| Bytes::copy_from_slice(&buf));
        if buf.capacity() > KEEP {
            *buf = Vec::new();
        }
        Some(result)
    });
    match serialized {
        Ok(Some(result)) => Ok(result?),
        // Nested, or during the thread's teardown: a buffer of its own.
        _ => Ok(Bytes::from(serde_json::to_vec(value)?)),
    }
}

impl Message {
    /// A message with the given raw payload and no properties.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        Message {
            payload: Bytes::from(payload.into()),
            ..Message::default()
        }
    }

    /// A JSON message: the value serialized with `serde_json`, content type `application/json`,
    /// content encoding `utf-8`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`](crate::Error::Serialization) when the value does not serialize.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        let mut message = Message {
            payload: json_bytes(value)?,
            ..Message::default()
        };
        message.content_type = Some(Cow::Borrowed(JSON_CONTENT_TYPE));
        message.content_encoding = Some(Cow::Borrowed(UTF_8));
        Ok(message)
    }

    /// Sets the Plug and Play component the telemetry belongs to (`$.sub`).
    pub fn with_component(mut self, component: impl Into<String>) -> Self {
        self.component = Some(component.into());
        self
    }

    /// Sets the message id (`$.mid`).
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(MessageId::Given(id.into()));
        self
    }

    /// Gives the message a new random id in place (the SDK's automatic ids).
    pub(crate) fn set_generated_id(&mut self) {
        self.message_id = Some(MessageId::generate());
    }

    /// Whether the message id is one the SDK generated: base64url characters, which need no
    /// percent-encoding.
    pub(crate) fn has_generated_id(&self) -> bool {
        matches!(self.message_id, Some(MessageId::Generated(_)))
    }

    /// Whether the message is what [`Message::json`] builds, with at most an id and a component
    /// added: the JSON content type and encoding as set there, and no correlation id, output,
    /// creation time or application property. The transports have a shorter path for it.
    pub(crate) fn is_plain_json(&self) -> bool {
        matches!(
            (&self.content_type, &self.content_encoding),
            (
                Some(Cow::Borrowed(JSON_CONTENT_TYPE)),
                Some(Cow::Borrowed(UTF_8))
            )
        ) && self.correlation_id.is_none()
            && self.output.is_none()
            && self.creation_time.is_none()
            && self.properties.is_empty()
    }

    /// Sets the correlation id (`$.cid`).
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the content type (`$.ct`), such as `application/json`.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(Cow::Owned(content_type.into()));
        self
    }

    /// Sets the content encoding (`$.ce`), such as `utf-8`.
    pub fn with_content_encoding(mut self, encoding: impl Into<String>) -> Self {
        self.content_encoding = Some(Cow::Owned(encoding.into()));
        self
    }

    /// Sets the creation time (`$.ctime`); IoT Central uses it as the telemetry timestamp.
    pub fn with_creation_time(mut self, time: OffsetDateTime) -> Self {
        self.creation_time = Some(time);
        self
    }

    /// Adds an application property. Properties keep the order they were added in.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// Sends the message on a named output of an IoT Edge module (`$.on`); the edge hub's
    /// routes decide where it goes. See also [`Device::send_to_output`](crate::Device::send_to_output).
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// The module output the message is sent on, if any.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// Sends this message at most once (MQTT QoS 0): `send_message` returns once it is
    /// written, and it is neither acknowledged by the hub nor sent again after a reconnection.
    /// For readings that are worthless when late, and for IoT hub's fault-injection requests,
    /// which must not be repeated.
    pub fn at_most_once(mut self) -> Self {
        self.at_most_once = true;
        self
    }

    /// Whether the message is sent at most once (see [`Message::at_most_once`]).
    pub fn is_at_most_once(&self) -> bool {
        self.at_most_once
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload as a shared buffer (cloning it copies no bytes).
    pub(crate) fn payload_bytes(&self) -> &Bytes {
        &self.payload
    }

    /// The component, if any.
    pub fn component(&self) -> Option<&str> {
        self.component.as_deref()
    }

    /// The message id, if any.
    pub fn message_id(&self) -> Option<&str> {
        match self.message_id.as_ref()? {
            MessageId::Given(id) => Some(id),
            // Always ASCII: `None` is never returned for a generated id.
            MessageId::Generated(id) => std::str::from_utf8(&id.0).ok(),
        }
    }

    /// The correlation id, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The content type, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The content encoding, if any.
    pub fn content_encoding(&self) -> Option<&str> {
        self.content_encoding.as_deref()
    }

    /// The creation time, if any.
    pub fn creation_time(&self) -> Option<OffsetDateTime> {
        self.creation_time
    }

    /// The application properties, in the order they were added.
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }
}

/// A cloud-to-device message received from IoT hub.
///
/// Over MQTT the hub counts a message as delivered (completed) as soon as the SDK acknowledges
/// it. Over HTTPS and AMQP the application settles each one with
/// [`Device::settle`](crate::Device::settle): complete, abandon (deliver again) or reject (dead
/// letter); a message left unsettled is delivered again once the hub's lock expires (1 minute).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudMessage {
    pub(crate) payload: Vec<u8>,
    /// The lock token to settle the message with (HTTPS; AMQP, valid on the connection it
    /// arrived on); `None` when the transport completed the message on receipt (MQTT).
    pub(crate) lock_token: Option<String>,
    pub(crate) message_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) system_properties: Vec<(String, String)>,
    pub(crate) properties: Vec<(String, Option<String>)>,
}

impl CloudMessage {
    /// The message body.
    pub fn body(&self) -> &[u8] {
        &self.payload
    }

    /// The body parsed as JSON into `T`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`](crate::Error::Serialization) when the body is not valid JSON for `T`.
    pub fn body_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// The message id (`$.mid`), if the sender set one.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The correlation id (`$.cid`), if the sender set one.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The content type (`$.ct`), if the sender set one.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The content encoding (`$.ce`), if the sender set one.
    pub fn content_encoding(&self) -> Option<&str> {
        self.content_encoding.as_deref()
    }

    /// Other system properties (`$.to`, `$.exp`, `iothub-ack`, ...), names without the `$.`.
    pub fn system_properties(&self) -> &[(String, String)] {
        &self.system_properties
    }

    /// The application properties in wire order; a property sent without `=` has no value.
    pub fn properties(&self) -> &[(String, Option<String>)] {
        &self.properties
    }

    /// The lock token the hub gave this delivery, on transports where the application settles
    /// messages (HTTPS, AMQP); `None` when the message was completed on receipt (MQTT).
    pub fn lock_token(&self) -> Option<&str> {
        self.lock_token.as_deref()
    }

    /// The value of the application property `name`; `None` when it is absent or has no value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// How the application settles a cloud-to-device message (see
/// [`Device::settle`](crate::Device::settle)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// Done with it: the hub removes it from the device's queue (and sends positive feedback
    /// when the sender asked for it).
    Complete,
    /// Put it back: the hub delivers it again (until its maximum delivery count).
    Abandon,
    /// Refuse it: the hub dead-letters it (and sends negative feedback when asked).
    Reject,
}

impl Settlement {
    /// The settlement's name, as used in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Settlement::Complete => "complete",
            Settlement::Abandon => "abandon",
            Settlement::Reject => "reject",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Serializes as `serde_json::to_vec` does, whatever the size, and also when a `Serialize`
    /// implementation builds a JSON message itself (the scratch buffer is then in use).
    #[test]
    fn json_payloads_are_what_serde_json_writes() {
        struct Nested(serde_json::Value);
        impl Serialize for Nested {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let inner = Message::json(&self.0).map_err(serde::ser::Error::custom)?;
                let text =
                    std::str::from_utf8(inner.payload()).map_err(serde::ser::Error::custom)?;
                s.serialize_str(text)
            }
        }
        let small = serde_json::json!({"temperature": 21.5, "unit": "°C"});
        let large = serde_json::json!({"blob": "x".repeat(40_000)});
        for value in [&small, &large, &small] {
            let message = Message::json(value).unwrap();
            assert_eq!(message.payload(), serde_json::to_vec(value).unwrap());
        }
        let nested = Message::json(&Nested(small.clone())).unwrap();
        let expected = serde_json::to_vec(&small.to_string()).unwrap();
        assert_eq!(nested.payload(), expected);
        // A failed serialization is an error, and the buffer is usable afterwards.
        let bad = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(matches!(
            Message::json(&bad),
            Err(crate::Error::Serialization(_))
        ));
        assert_eq!(
            Message::json(&small).unwrap().payload(),
            serde_json::to_vec(&small).unwrap()
        );
    }

    #[test]
    fn generated_ids_are_22_base64url_characters_and_differ() {
        let (mut a, mut b) = (Message::new("x"), Message::new("x"));
        a.set_generated_id();
        b.set_generated_id();
        let (a_id, b_id) = (a.message_id().unwrap(), b.message_id().unwrap());
        assert_eq!(a_id.len(), 22);
        assert!(a_id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a_id, b_id);
        assert!(a.has_generated_id());
        // An id the application gives replaces it and is no longer "generated".
        let given = a.with_message_id("m-1");
        assert_eq!(given.message_id(), Some("m-1"));
        assert!(!given.has_generated_id());
    }
}
