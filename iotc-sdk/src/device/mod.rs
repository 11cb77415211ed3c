//! The [`Device`] handle: telemetry, properties, commands and cloud messages over one
//! connection.

mod builder;
mod command;
mod deadline;
pub(crate) mod durable;
mod rotation;
mod state;
mod supervisor;
mod typed;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use builder::DeviceBuilder;
pub use command::Command;
pub use rotation::DEFAULT_EXPIRY_WARNING;
pub use state::{ConnectionState, StateChanges};
pub use supervisor::{OfflineQueue, Overflow};
pub use typed::{Response, TypedComponent};

#[cfg(feature = "https")]
pub use crate::transport::http::upload::UploadedFile;

use crate::message::{CloudMessage, Message, Settlement};
use crate::pnp::{self, Twin, WritableProperty, WritablePropertyUpdate};
use crate::transport::{HubConfig, Inbound, Protocol, Request};
use crate::{Error, Result};

/// Something the service sent to the device.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A command (direct method) to answer with [`Command::respond`].
    Command(Command),
    /// Writable properties the cloud set; apply them and acknowledge each with
    /// [`Device::acknowledge`].
    WritableProperties(WritablePropertyUpdate),
    /// A cloud-to-device message (devices only: IoT hub has no cloud-to-device messages for
    /// modules).
    CloudMessage(CloudMessage),
    /// A message on an input of an IoT Edge module, routed there by the edge hub from a leaf
    /// device or another module's output. The sender's device and module ids are the system
    /// properties `cdid` and `cmid` ([`CloudMessage::system_properties`]).
    InputMessage {
        /// The input's name.
        input: String,
        /// The message.
        message: CloudMessage,
    },
    /// The connection is closed for good because reconnecting failed (a fatal error, or the
    /// retry policy gave up); the error says why, with the transport, TLS or I/O error behind
    /// it as its [`source`](std::error::Error::source). No more events follow. Passing
    /// disconnections are not events: watch [`Device::state_changes`] for them.
    Disconnected(Error),
    /// The device's X.509 certificate expires within the warning period
    /// ([`DeviceBuilder::certificate_expiry_warning`], 30 days by default), or has expired:
    /// rotate it with [`Device::update_credentials`]. Found when the device connects (the first
    /// connection and every reconnection), reported once per certificate, and logged as a
    /// warning (subject and expiry, never the key).
    CredentialExpiring {
        /// The certificate's subject common name (the device's registration id).
        subject: String,
        /// When the certificate expires (in the past for an expired one).
        not_after: time::OffsetDateTime,
    },
}

/// A connected device. Cheap to clone (`Clone + Send + Sync`); every clone talks to the same
/// connection, which one background task owns.
///
/// Create one with [`Device::builder`]. Dropping the last clone closes the connection; call
/// [`close`](Device::close) to close it explicitly and wait until it is closed.
#[derive(Clone, Debug)]
pub struct Device {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: mpsc::Sender<Request>,
    events: tokio::sync::Mutex<mpsc::Receiver<Inbound>>,
    device_id: String,
    module_id: Option<String>,
    protocol: Protocol,
    /// The hub the device is assigned to now (the supervisor replaces it when the device
    /// registers with DPS again): for `hub_host` and file upload.
    hub: CurrentHub,
    model_id: Option<String>,
    /// The operation timeout of every call.
    deadlines: deadline::Deadlines,
    auto_message_ids: bool,
    state: Arc<state::StatePublisher>,
    /// Credentials updated for the next connection.
    rotation: Arc<rotation::Rotation>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// The hub settings a device connects with (credentials inside: no `Debug` output).
struct HubSnapshot(HubConfig);

/// The hub settings shared by the device handle and its supervisor.
type CurrentHub = Arc<std::sync::RwLock<HubSnapshot>>;

/// The hub settings in `current` (a poisoned lock still holds whole settings).
fn current_hub(current: &CurrentHub) -> HubConfig {
    current
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0
        .clone()
}

impl std::fmt::Debug for HubSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("hub_host", &self.0.hub_host)
            .field("https_port", &self.0.https_port)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Starts configuring a device.
    pub fn builder() -> DeviceBuilder {
        DeviceBuilder::default()
    }

    /// Starts configuring an IoT Edge module from the process environment (see
    /// [`DeviceBuilder::from_edge_environment`]).
    ///
    /// # Errors
    ///
    /// [`Error::Edge`] when the environment is missing or invalid.
    #[cfg(feature = "edge")]
    pub fn from_edge_environment() -> Result<DeviceBuilder> {
        DeviceBuilder::from_edge_environment()
    }

    /// The hub device id.
    pub fn device_id(&self) -> &str {
        &self.inner.device_id
    }

    /// The module id, when this is a module identity (an IoT Edge module).
    pub fn module_id(&self) -> Option<&str> {
        self.inner.module_id.as_deref()
    }

    /// The host name of the IoT hub the device is assigned to: the one it is connected to, or
    /// will connect to next. It changes when the device registers with DPS again (IoT Central
    /// moved it to another hub).
    pub fn hub_host(&self) -> String {
        current_hub(&self.inner.hub).hub_host
    }

    /// The protocol the device talks to the hub with.
    pub fn protocol(&self) -> Protocol {
        self.inner.protocol
    }

    /// The model id the device announced, if any.
    pub fn model_id(&self) -> Option<&str> {
        self.inner.model_id.as_deref()
    }

    /// Sends `value` as JSON telemetry on the default component and waits until the hub has
    /// accepted it (MQTT PUBACK).
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`], [`Error::Timeout`], [`Error::Connection`], [`Error::Closed`].
    pub async fn send_telemetry<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.send_message(Message::json(value)?).await
    }

    /// Sends `value` as JSON telemetry of `component`.
    ///
    /// # Errors
    ///
    /// As [`send_telemetry`](Self::send_telemetry).
    pub async fn send_component_telemetry<T: Serialize + ?Sized>(
        &self,
        component: &str,
        value: &T,
    ) -> Result<()> {
        self.send_message(Message::json(value)?.with_component(component))
            .await
    }

    /// Sends a message with its properties and waits until the hub has accepted it.
    ///
    /// # Errors
    ///
    /// As [`send_telemetry`](Self::send_telemetry).
    ///
    /// While the device is disconnected the message waits in the offline queue and goes out
    /// after the reconnection; delivery is at least once. Unless turned off with
    /// [`DeviceBuilder::auto_message_ids`], a message without an id gets a unique one, so the
    /// service side can recognize a duplicate. On [`Error::Timeout`] the message may still be
    /// delivered later.
    pub async fn send_message(&self, message: Message) -> Result<()> {
        let mut message = Box::new(message);
        self.give_id(&mut message);
        self.call(
            |reply| Request::Telemetry { message, reply },
            "the telemetry acknowledgement",
        )
        .await
    }

    /// Sends a message on output `output` of this IoT Edge module (`$.on`); the edge hub's
    /// routes take it to another module's input or upstream. Waits until the edge hub has
    /// accepted it, as [`send_message`](Self::send_message) does.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when this is not a module identity; otherwise as
    /// [`send_telemetry`](Self::send_telemetry).
    pub async fn send_to_output(&self, output: &str, message: Message) -> Result<()> {
        if self.inner.module_id.is_none() {
            return Err(Error::Config(
                "module outputs belong to module identities (IoT Edge modules), not devices".into(),
            ));
        }
        self.send_message(message.with_output(output)).await
    }

    /// Sends several messages and waits until the hub has accepted all of them: over HTTPS
    /// in one batch request (at most 256 KB in all), over MQTT one publish each.
    ///
    /// # Errors
    ///
    /// As [`send_message`](Self::send_message); [`Error::TooLarge`] for an HTTPS batch over
    /// 256 KB. Over MQTT the first failure is returned; the other messages may still have
    /// been delivered.
    pub async fn send_messages(&self, messages: impl IntoIterator<Item = Message>) -> Result<()> {
        let messages: Vec<Message> = messages
            .into_iter()
            .map(|mut message| {
                self.give_id(&mut message);
                message
            })
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        if self.inner.protocol == Protocol::Https {
            return self
                .call(
                    |reply| Request::TelemetryBatch { messages, reply },
                    "the batch acknowledgement",
                )
                .await;
        }
        let mut answers = Vec::with_capacity(messages.len());
        for message in messages {
            let (reply, answer) = oneshot::channel();
            self.inner
                .requests
                .send(Request::Telemetry {
                    message: Box::new(message),
                    reply,
                })
                .await
                .map_err(|_| Error::Closed)?;
            answers.push(answer);
        }
        let all = std::pin::pin!(async {
            for answer in answers {
                answer.await.map_err(|_| Error::Closed)??;
            }
            Ok(())
        });
        self.inner
            .deadlines
            .within("the batch acknowledgement", all)
            .await
    }

    /// Settles a cloud-to-device message: [`Settlement::Complete`], [`Settlement::Abandon`]
    /// (the hub delivers it again) or [`Settlement::Reject`] (the hub dead-letters it).
    ///
    /// Over HTTPS every message must be settled (an unsettled one comes back once its lock
    /// expires). Over AMQP these are the `accepted`, `released` and `rejected` dispositions, and
    /// a lock is valid only on the connection that received the message. Over MQTT the SDK completed the message when it arrived: completing it again
    /// succeeds and does nothing, abandoning or rejecting is [`Error::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] as above; [`Error::Rejected`] with status 412 when the lock
    /// expired or the message is no longer locked to this connection (settled already, or the
    /// connection was lost since; it was or will be delivered again); the transport errors of
    /// [`send_message`](Self::send_message).
    pub async fn settle(&self, message: &CloudMessage, settlement: Settlement) -> Result<()> {
        let Some(lock_token) = message.lock_token.clone() else {
            return match settlement {
                Settlement::Complete => Ok(()),
                other => Err(self.inner.protocol.unsupported(match other {
                    Settlement::Abandon => "abandoning a cloud-to-device message",
                    _ => "rejecting a cloud-to-device message",
                })),
            };
        };
        self.call(
            |reply| Request::Settle {
                lock_token,
                settlement,
                reply,
            },
            "the settlement",
        )
        .await
    }

    /// Uploads `data` as `blob_name` with IoT hub's file upload: the hub hands out a blob SAS
    /// URI, the SDK stores the file there and notifies the hub. Works with every protocol (it
    /// is always HTTPS, on the hub's HTTPS port, see [`DeviceBuilder::https_port`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty blob name; [`Error::Unauthorized`],
    /// [`Error::Rejected`] (for example 403 when ten uploads are already under way, or when the
    /// application has no storage configured), [`Error::Connection`], [`Error::Timeout`].
    ///
    /// Needs the cargo feature `https` (on by default).
    #[cfg(feature = "https")]
    pub async fn upload_file(
        &self,
        blob_name: &str,
        data: impl Into<Vec<u8>>,
    ) -> Result<UploadedFile> {
        let mut hub = current_hub(&self.inner.hub);
        // Each upload is a new connection: updated credentials count at once.
        if let Some(auth) = self.inner.rotation.latest() {
            hub.auth = auth;
        }
        crate::transport::http::upload::upload(&hub, blob_name, data.into()).await
    }

    /// Reports properties (a JSON object: `{"maxTempSinceLastReboot": 30.0}`) on the default
    /// component; returns the new reported `$version`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when `properties` is not an object, [`Error::Rejected`] when the
    /// hub refuses the patch, and the transport errors of [`send_telemetry`](Self::send_telemetry).
    pub async fn report_properties<T: Serialize + ?Sized>(&self, properties: &T) -> Result<u64> {
        let patch = serde_json::to_value(properties)?;
        if !patch.is_object() {
            return Err(Error::Serialization(
                "reported properties must serialize to a JSON object".into(),
            ));
        }
        self.patch_reported(patch).await
    }

    /// Reports properties of `component` (wrapped as `{"c":{"__t":"c",…}}`).
    ///
    /// # Errors
    ///
    /// As [`report_properties`](Self::report_properties).
    pub async fn report_component_properties<T: Serialize + ?Sized>(
        &self,
        component: &str,
        properties: &T,
    ) -> Result<u64> {
        let patch = pnp::component_patch(Some(component), serde_json::to_value(properties)?)?;
        self.patch_reported(patch).await
    }

    /// Acknowledges a writable property with the value it came with: `status` 200 (applied),
    /// 202 (in progress), 400 (refused) or 500 (failed), per the Plug and Play convention.
    /// Returns the new reported `$version`.
    ///
    /// # Errors
    ///
    /// As [`report_properties`](Self::report_properties).
    pub async fn acknowledge(
        &self,
        property: &WritableProperty,
        status: u16,
        description: Option<&str>,
    ) -> Result<u64> {
        self.patch_reported(pnp::ack_patch(
            property,
            property.value(),
            status,
            description,
        )?)
        .await
    }

    /// Acknowledges every property of `update` with the value it came with, in one reported
    /// patch (one twin round trip, whatever the number of properties and components). Use it
    /// when the device applied the whole update with one outcome; acknowledge property by
    /// property ([`acknowledge`](Self::acknowledge)) when outcomes differ. Returns the new
    /// reported `$version`.
    ///
    /// # Errors
    ///
    /// As [`report_properties`](Self::report_properties); [`Error::Serialization`] when a
    /// property of the default component has the name of a component in the same update.
    pub async fn acknowledge_update(
        &self,
        update: &WritablePropertyUpdate,
        status: u16,
        description: Option<&str>,
    ) -> Result<u64> {
        let patch = pnp::ack_patch_all(
            update.properties().iter().map(|p| (p, p.value().clone())),
            status,
            description,
        )?;
        self.patch_reported(patch).await
    }

    /// Acknowledges a writable property with the value the device actually uses (for example
    /// after clamping it to a range).
    ///
    /// # Errors
    ///
    /// As [`report_properties`](Self::report_properties).
    pub async fn acknowledge_with_value<T: Serialize + ?Sized>(
        &self,
        property: &WritableProperty,
        value: &T,
        status: u16,
        description: Option<&str>,
    ) -> Result<u64> {
        self.patch_reported(pnp::ack_patch(property, value, status, description)?)
            .await
    }

    /// Reads the whole twin (desired and reported sections).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`], [`Error::Throttled`], [`Error::Timeout`], [`Error::Connection`],
    /// [`Error::Closed`].
    pub async fn get_twin(&self) -> Result<Twin> {
        self.needs_twin("reading the device twin")?;
        self.call(|reply| Request::GetTwin { reply }, "the twin")
            .await
    }

    /// Waits for the next event from the service. Returns `None` once the connection has ended
    /// and every event was read.
    ///
    /// Several clones may call this; each event goes to one of them.
    pub async fn next_event(&self) -> Option<Event> {
        let inbound = self.inner.events.lock().await.recv().await?;
        Some(match inbound {
            Inbound::Command {
                name,
                request_id,
                payload,
            } => Event::Command(Command::new(
                self.inner.requests.clone(),
                name,
                request_id,
                payload,
            )),
            Inbound::DesiredPatch { version, body } => {
                Event::WritableProperties(WritablePropertyUpdate::from_patch(&body, version))
            }
            Inbound::InitialTwin(twin) => {
                Event::WritableProperties(WritablePropertyUpdate::pending_from_twin(&twin))
            }
            Inbound::CloudMessage(message) => {
                let message = *message;
                match message.property("method-name").map(str::to_owned) {
                    Some(method) => Event::Command(Command::queued(
                        self.inner.requests.clone(),
                        &method,
                        message.payload,
                    )),
                    None => Event::CloudMessage(message),
                }
            }
            Inbound::InputMessage { input, message } => Event::InputMessage {
                input,
                message: *message,
            },
            Inbound::Disconnected(reason) => Event::Disconnected(reason),
            Inbound::CredentialExpiring { subject, not_after } => {
                Event::CredentialExpiring { subject, not_after }
            }
        })
    }

    /// The connection's current state.
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.state.current()
    }

    /// Every connection-state transition from now on, in order: connected, disconnected,
    /// reconnecting (attempt, delay), renewing, closed.
    pub fn state_changes(&self) -> StateChanges {
        self.inner.state.subscribe()
    }

    /// Closes the connection: sends what waits in the offline queue (for up to the operation
    /// timeout), disconnects cleanly, and waits until it is closed. Other clones see
    /// [`Error::Closed`] afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::Unsent`] with the number of telemetry messages that could not be delivered;
    /// [`Error::Timeout`] when the connection task does not finish in time.
    pub async fn close(&self) -> Result<()> {
        // The flush may take the operation timeout; the disconnect a little more.
        let limit = self.inner.deadlines.timeout() * 2 + Duration::from_secs(5);
        let (reply, answer) = oneshot::channel();
        let work = async {
            if self
                .inner
                .requests
                .send(Request::Close { reply })
                .await
                .is_err()
            {
                return Ok(()); // already closed
            }
            answer.await.unwrap_or(Ok(()))
        };
        let result = tokio::time::timeout(limit, work)
            .await
            .unwrap_or(Err(Error::Timeout(limit, "the connection to close")));
        let task = self.inner.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = tokio::time::timeout(self.inner.deadlines.timeout(), task).await;
        }
        result
    }

    /// Gives `message` a unique id unless it has one or automatic ids are off.
    fn give_id(&self, message: &mut Message) {
        if self.inner.auto_message_ids && message.message_id().is_none() {
            message.set_generated_id();
        }
    }

    /// Fails at once when the protocol has no twin (HTTPS): the request would never be served.
    fn needs_twin(&self, operation: &'static str) -> Result<()> {
        if self.inner.protocol.supports_twin() {
            Ok(())
        } else {
            Err(self.inner.protocol.unsupported(operation))
        }
    }

    async fn patch_reported(&self, patch: serde_json::Value) -> Result<u64> {
        self.needs_twin("reporting properties (the device twin)")?;
        self.call(
            |reply| Request::PatchReported { patch, reply },
            "the reported-property acknowledgement",
        )
        .await
    }

    /// Sends a request to the connection task and waits for its answer.
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request,
        what: &'static str,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let work = std::pin::pin!(async {
            // Room in the channel is the common case: taking it without a wait is cheaper.
            match self.inner.requests.try_send(make(reply)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(request)) => self
                    .inner
                    .requests
                    .send(request)
                    .await
                    .map_err(|_| Error::Closed)?,
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(Error::Closed),
            }
            answer.await.map_err(|_| Error::Closed)?
        });
        self.inner.deadlines.within(what, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn handles_are_send_sync_clone() {
        assert_send_sync_clone::<Device>();
        fn assert_send<T: Send>() {}
        assert_send::<Command>();
        assert_send::<Event>();
    }
}
