//! The typed API: telemetry, properties and commands checked against a device model
//! ([`Interface`]) at compile time.

use std::future::Future;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Command, Device};
use crate::model::{CommandParseError, Commands, ComponentRef};
use crate::pnp::WritablePropertyUpdate;
use crate::Interface;
use crate::{Message, Result};

/// One component of a device, typed by its interface `I`: the default component
/// ([`Device::typed`]) or a named one ([`Device::component`]). Only `I`'s telemetry and
/// properties types can be sent through it, so what the device sends cannot drift from its
/// template.
///
/// ```no_run
/// # use iotc_sdk::{Device, Interface};
/// # async fn run<I: Interface>(device: Device, telemetry: I::Telemetry) -> iotc_sdk::Result<()> {
/// device.typed::<I>().send(&telemetry).await?;
/// # Ok(()) }
/// ```
pub struct TypedComponent<I> {
    device: Device,
    name: Option<&'static str>,
    _interface: PhantomData<fn() -> I>,
}

impl<I> Clone for TypedComponent<I> {
    fn clone(&self) -> Self {
        TypedComponent {
            device: self.device.clone(),
            name: self.name,
            _interface: PhantomData,
        }
    }
}

impl<I> std::fmt::Debug for TypedComponent<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedComponent")
            .field("device_id", &self.device.device_id())
            .field("component", &self.name)
            .field("interface", &std::any::type_name::<I>())
            .finish()
    }
}

impl Device {
    /// The default component, typed by the device's interface `I`.
    pub fn typed<I: Interface>(&self) -> TypedComponent<I> {
        TypedComponent {
            device: self.clone(),
            name: None,
            _interface: PhantomData,
        }
    }

    /// A named component, typed by its interface: `device.component(TemperatureController::THERMOSTAT1)`.
    pub fn component<I: Interface>(&self, component: ComponentRef<I>) -> TypedComponent<I> {
        TypedComponent {
            device: self.clone(),
            name: Some(component.name()),
            _interface: PhantomData,
        }
    }
}

impl<I: Interface> TypedComponent<I> {
    /// The component name (`None` for the default component).
    pub fn name(&self) -> Option<&'static str> {
        self.name
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Sends telemetry of this component (JSON, `$.sub` set for a named component).
    ///
    /// # Errors
    ///
    /// As [`Device::send_message`].
    pub async fn send(&self, telemetry: &I::Telemetry) -> Result<()> {
        let mut message = Message::json(telemetry)?;
        if let Some(name) = self.name {
            message = message.with_component(name);
        }
        self.device.send_message(message).await
    }

    /// Reports properties of this component; returns the new reported `$version`. Fields that
    /// serialize to nothing (`Option::None` with `skip_serializing_if`) are left unchanged.
    ///
    /// # Errors
    ///
    /// As [`Device::report_properties`].
    pub async fn report(&self, properties: &I::Properties) -> Result<u64> {
        match self.name {
            Some(name) => {
                self.device
                    .report_component_properties(name, properties)
                    .await
            }
            None => self.device.report_properties(properties).await,
        }
    }

    /// The values `update` sets for this component, as `I`'s properties type: the type's
    /// `Default` with the update's values laid over it (so make writable fields `Option`s to
    /// tell what was set). Acknowledge each property with [`Device::acknowledge`] once applied.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`](crate::Error::Serialization) when a value does not fit its
    /// field; acknowledge such a property with status 400.
    pub fn writable(&self, update: &WritablePropertyUpdate) -> Result<I::Properties>
    where
        I::Properties: DeserializeOwned + Default,
    {
        let mut values = match serde_json::to_value(I::Properties::default())? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for property in update
            .properties()
            .iter()
            .filter(|p| p.component() == self.name)
        {
            values.insert(property.name().to_owned(), property.value().clone());
        }
        Ok(serde_json::from_value(Value::Object(values))?)
    }
}

impl<I: Interface> TypedComponent<I> {
    /// Acknowledges, in one reported patch, every property of `update` that belongs to this
    /// component, each with the value `applied` holds for it (the values the device actually
    /// uses, typed as `I`'s properties), or with the value it came with where `applied` has
    /// none. Returns the new reported `$version`.
    ///
    /// # Errors
    ///
    /// As [`Device::report_properties`]; [`Error::Serialization`](crate::Error::Serialization)
    /// when `applied` does not serialize to a JSON object.
    pub async fn acknowledge(
        &self,
        update: &WritablePropertyUpdate,
        applied: &I::Properties,
        status: u16,
        description: Option<&str>,
    ) -> Result<u64> {
        let Value::Object(values) = serde_json::to_value(applied)? else {
            return Err(crate::Error::Serialization(
                "properties must serialize to a JSON object".into(),
            ));
        };
        let acks = update
            .properties()
            .iter()
            .filter(|p| p.component() == self.name)
            .map(|p| {
                let value = values
                    .get(p.name())
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or_else(|| p.value().clone());
                (p, value)
            });
        let patch = crate::pnp::ack_patch_all(acks, status, description)?;
        self.device.patch_reported(patch).await
    }
}

/// The answer to a typed command: a status and a JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    status: u16,
    body: Value,
}

impl Response {
    /// Status 200 with `body` (the command's response type).
    pub fn ok<T: Serialize + ?Sized>(body: &T) -> Self {
        Response::with_status(200, body)
    }

    /// Any status with `body`. A body that does not serialize becomes a 500 answer that says so.
    pub fn with_status<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        match serde_json::to_value(body) {
            Ok(body) => Response { status, body },
            Err(e) => Response {
                status: 500,
                body: error_body(&format!("the response did not serialize: {e}")),
            },
        }
    }

    /// A status with an empty body (a command without a response, or a long-running command
    /// answered 202).
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            body: Value::Null,
        }
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &Value {
        &self.body
    }
}

fn error_body(message: &str) -> Value {
    serde_json::json!({ "error": message })
}

impl Command {
    /// Parses the command as one of `C`'s commands (the name without its component, the
    /// request as described at [`Command::request_value`]).
    ///
    /// # Errors
    ///
    /// [`CommandParseError::Unknown`] when `C` has no such command,
    /// [`CommandParseError::InvalidRequest`] when the request does not fit.
    pub fn parse<C: Commands>(&self) -> std::result::Result<C, CommandParseError> {
        // A direct command's payload is JSON already: hand it over as it came, so that an
        // unknown command is "unknown" whatever its payload, and the derived parser sees the
        // bytes exactly (duplicate keys included). Queued commands carry raw values first
        // turned into JSON.
        if !self.is_queued() {
            return C::parse(self.name(), self.payload());
        }
        let invalid = |message: String| CommandParseError::InvalidRequest {
            command: self.name().to_owned(),
            message,
        };
        let payload = match self.request_value().map_err(|e| invalid(e.to_string()))? {
            Value::Null => Vec::new(),
            v => serde_json::to_vec(&v).map_err(|e| invalid(e.to_string()))?,
        };
        C::parse(self.name(), &payload)
    }

    /// Parses the command as one of `C`'s commands, runs `handler` on it, and answers with the
    /// handler's [`Response`]. A command `C` does not have is answered 404, a request that does
    /// not fit its type 400, each with `{"error": "…"}`, without calling the handler.
    ///
    /// ```no_run
    /// # use iotc_sdk::{Command, Commands, device::Response};
    /// # async fn run<C: Commands>(command: Command) -> iotc_sdk::Result<()> {
    /// command.handle(|request: C| async move { Response::empty(200) }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`](crate::Error::Closed) or [`Error::Connection`](crate::Error::Connection) when the answer cannot be sent.
    pub async fn handle<C, F, Fut>(self, handler: F) -> Result<()>
    where
        C: Commands,
        F: FnOnce(C) -> Fut,
        Fut: Future<Output = Response>,
    {
        let response = match self.parse::<C>() {
            Ok(request) => handler(request).await,
            Err(e @ CommandParseError::Unknown(_)) => Response {
                status: 404,
                body: error_body(&e.to_string()),
            },
            Err(e) => Response {
                status: 400,
                body: error_body(&e.to_string()),
            },
        };
        match response.body {
            Value::Null => self.respond_empty(response.status).await,
            body => self.respond(response.status, &body).await,
        }
    }
}

impl super::DeviceBuilder {
    /// Announces `I`'s model id ([`Interface::ID`]) to DPS and the hub.
    pub fn model<I: Interface>(self) -> Self {
        self.model_id(I::ID)
    }
}
