//! Plain data types of the service-side API.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::broadcast;

/// One device-to-cloud message as the hub received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TelemetryMessage {
    /// The sending device.
    pub device_id: String,
    /// The sending module, for a module identity's message (stamped
    /// `iothub-connection-module-id`).
    pub module_id: Option<String>,
    /// The PnP component (`$.sub`), if any.
    pub component: Option<String>,
    /// The message body.
    pub body: Vec<u8>,
    /// System properties, keys without the `$.` prefix (`mid`, `cid`, `ct`, `ce`, `sub`, …),
    /// plus the hub's stamps `iothub-connection-device-id`, `iothub-connection-auth-method`,
    /// `iothub-connection-auth-generation-id` and `iothub-enqueuedtime` (RFC 3339).
    pub system_properties: BTreeMap<String, String>,
    /// Application properties (every bag key not starting with `$.`; `mqtt-retain` = `true`
    /// is added when the device set RETAIN).
    pub application_properties: BTreeMap<String, String>,
    /// When the hub received the message.
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_time: time::OffsetDateTime,
}

impl TelemetryMessage {
    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The message id (`$.mid`), if set.
    pub fn message_id(&self) -> Option<&str> {
        self.system_properties.get("mid").map(String::as_str)
    }

    /// The content type (`$.ct`), if set.
    pub fn content_type(&self) -> Option<&str> {
        self.system_properties.get("ct").map(String::as_str)
    }

    /// The content encoding (`$.ce`), if set.
    pub fn content_encoding(&self) -> Option<&str> {
        self.system_properties.get("ce").map(String::as_str)
    }
}

/// A subscription to every telemetry message received from the moment it was created.
///
/// Backed by a `tokio::sync::broadcast` channel of 4096 messages; a receiver that falls further
/// behind skips the oldest messages (a warning is logged).
#[derive(Debug)]
pub struct TelemetryReceiver {
    pub(crate) rx: broadcast::Receiver<TelemetryMessage>,
}

impl TelemetryReceiver {
    /// Waits for the next message; `None` once the emulator has shut down.
    pub async fn recv(&mut self) -> Option<TelemetryMessage> {
        loop {
            match self.rx.recv().await {
                Ok(m) => return Some(m),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "telemetry receiver lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Returns the next message if one is already queued.
    pub fn try_recv(&mut self) -> Option<TelemetryMessage> {
        loop {
            match self.rx.try_recv() {
                Ok(m) => return Some(m),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// A device twin as the service sees it (tags are not emulated).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Twin {
    /// The device id.
    pub device_id: String,
    /// The model id announced by the device (MQTT `model-id`, else the DPS payload).
    pub model_id: Option<String>,
    /// Desired properties, an object including `"$version"`.
    pub desired: serde_json::Value,
    /// Reported properties, an object including `"$version"`.
    pub reported: serde_json::Value,
}

/// The device's answer to a direct method.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MethodResponse {
    /// The status the device chose (`200` for success by convention).
    pub status: i32,
    /// The response body: `Null` if empty; a JSON string of the text if the body is not JSON.
    pub payload: serde_json::Value,
}

/// A cloud-to-device message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct C2dMessage {
    /// The body.
    pub body: Vec<u8>,
    /// Message id (`$.mid`).
    pub message_id: Option<String>,
    /// Correlation id (`$.cid`).
    pub correlation_id: Option<String>,
    /// Content type (`$.ct`).
    pub content_type: Option<String>,
    /// Content encoding (`$.ce`).
    pub content_encoding: Option<String>,
    /// Application properties.
    pub properties: BTreeMap<String, String>,
}

impl C2dMessage {
    /// A message with this body and no properties.
    pub fn new(body: impl Into<Vec<u8>>) -> C2dMessage {
        C2dMessage {
            body: body.into(),
            ..C2dMessage::default()
        }
    }
}

/// What kind of data did not fit the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UnmodeledKind {
    /// A telemetry member (or a whole body that is not a JSON object).
    Telemetry,
    /// A reported property.
    Property,
    /// A successful command response.
    CommandResponse,
}

/// Data a device sent that its device template does not describe: what IoT Central shows as
/// "Unmodeled data". Only devices whose model id matches a template added with
/// [`Emulator::add_template`](crate::Emulator::add_template) are checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UnmodeledData {
    /// The device that sent it.
    pub device_id: String,
    /// Telemetry, property or command response.
    pub kind: UnmodeledKind,
    /// The component, if any.
    pub component: Option<String>,
    /// The telemetry, property or command name (empty when the whole message did not fit).
    pub name: String,
    /// The value as sent.
    pub value: serde_json::Value,
    /// Why it does not fit.
    pub reason: String,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub time: time::OffsetDateTime,
}

/// How a device authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AuthKind {
    /// Symmetric key (SAS token).
    Sas,
    /// X.509 client certificate.
    X509,
}

/// The transport a device last reached the hub with: the web app's protocol column and the
/// `protocol` field of the device views (an emulator extension: IoT Central's device object
/// has no such field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum DeviceProtocol {
    /// MQTT over TLS.
    #[serde(rename = "MQTT")]
    Mqtt,
    /// MQTT over WebSockets.
    #[serde(rename = "MQTT-WS")]
    MqttWs,
    /// AMQP over TLS.
    #[serde(rename = "AMQP")]
    Amqp,
    /// AMQP over WebSockets.
    #[serde(rename = "AMQP-WS")]
    AmqpWs,
    /// The HTTPS device API (a request counts as a connection).
    #[serde(rename = "HTTPS")]
    Https,
}

impl DeviceProtocol {
    /// The name the device views use: `MQTT`, `MQTT-WS`, `AMQP`, `AMQP-WS`, `HTTPS`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceProtocol::Mqtt => "MQTT",
            DeviceProtocol::MqttWs => "MQTT-WS",
            DeviceProtocol::Amqp => "AMQP",
            DeviceProtocol::AmqpWs => "AMQP-WS",
            DeviceProtocol::Https => "HTTPS",
        }
    }
}

impl std::fmt::Display for DeviceProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device in the hub registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceInfo {
    /// The device id.
    pub device_id: String,
    /// The model id (MQTT `model-id` or DPS payload).
    pub model_id: Option<String>,
    /// The id of the device template the device is assigned to (a template added with
    /// [`Emulator::add_template`](crate::Emulator::add_template) whose `@id` equals the model
    /// id); `None` = "Unassigned".
    pub template: Option<String>,
    /// Whether the device has an open hub connection.
    pub connected: bool,
    /// The hub it belongs to now, as DPS announces it over MQTT (`{host}:{port}`, see
    /// [`Emulator::hubs`](crate::Emulator::hubs)); it changes with a manual failover.
    pub assigned_hub: String,
    /// The index of that hub ([`Emulator::device_hub`](crate::Emulator::device_hub)).
    pub hub: usize,
    /// How it authenticates.
    pub auth: AuthKind,
    /// The enrollment group it was provisioned through (`None` for an individual enrollment).
    pub enrollment_group: Option<String>,
    /// The `DeviceClientType` (SDK user agent) of its last hub connection.
    pub device_client_type: Option<String>,
    /// The transport of its last hub connection (or HTTPS request); `None` before the first.
    pub protocol: Option<DeviceProtocol>,
    /// The gateway this device is a downstream device of (DPS payload
    /// `iotcGateway.iotcGatewayId`), if any.
    pub gateway_id: Option<String>,
    /// Cloud-to-device messages queued for it and not yet completed or rejected.
    pub pending_c2d: usize,
}

/// A DPS registration record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RegistrationInfo {
    /// The registration id.
    pub registration_id: String,
    /// The assigned device id (equal to the registration id).
    pub device_id: String,
    /// The `assignedHub` value announced (see the port rule in the crate docs).
    pub assigned_hub: String,
    /// `assigning` or `assigned`.
    pub status: String,
    /// The `payload` the device sent with its register request.
    pub payload: Option<serde_json::Value>,
    /// The enrollment used: an enrollment group id (`SAS-IoT-Devices` for the default SAS
    /// group) or `individual`.
    pub enrollment: String,
}

/// A blob a device stored through IoT hub's file upload (protocol.md 6.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UploadedBlob {
    /// The blob name, `{deviceId}/{name the device asked for}`.
    pub blob_name: String,
    /// The storage container.
    pub container_name: String,
    /// The device that uploaded it.
    pub device_id: String,
    /// Its size in bytes.
    pub size: usize,
    /// Its content.
    #[serde(skip)]
    pub content: Vec<u8>,
    /// When it was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: time::OffsetDateTime,
}

/// A device's file-upload completion notification (protocol.md 6.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FileUploadNotification {
    /// The device that sent it.
    pub device_id: String,
    /// The upload's correlation id.
    pub correlation_id: String,
    /// The blob the upload was for.
    pub blob_name: String,
    /// Whether the device says the upload worked.
    pub is_success: bool,
    /// The status code the device reports.
    pub status_code: i64,
    /// The device's description.
    pub status_description: String,
}
