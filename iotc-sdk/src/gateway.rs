//! [`Gateway`]: a device that connects to IoT Central itself and represents downstream devices
//! that cannot (or should not) connect on their own.
//!
//! Each downstream device keeps its own identity, template and twin in IoT Central. It is
//! provisioned through DPS with the gateway relationship in its registration payload
//! (`{"iotcGateway": {"iotcGatewayId": "<gateway id>"}}`, protocol.md 7.5) and its own key
//! (derived from the group key when the gateway has one), and its handle is an ordinary
//! [`Device`]: the same telemetry, property and command API as a standalone device.
//!
//! Over AMQP (and AMQP over WebSockets) the gateway and its downstream devices share one
//! connection: each device has its own links and SAS token (put and renewed over the
//! connection's CBS links), and the devices' links share a few sessions of the connection, as
//! the official C SDK multiplexes (it shares one). A connection carries up
//! to 1,001 devices (a gateway and 1,000 downstream devices; 501 over WebSockets); more open
//! another. Over MQTT every downstream device has its own connection
//! (MQTT carries one identity per connection), run by its own task on the gateway's runtime.
//! Either way, removing or losing one device never disturbs the others or the gateway. Devices
//! that authenticate with an X.509 certificate always have their own connection (the
//! certificate is the connection's identity).
//!
//! ```no_run
//! use iotc_sdk::gateway::Gateway;
//! use iotc_sdk::{Credentials, Device};
//!
//! # async fn demo(scope: &str, group_key: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let gateway = Gateway::connect(
//!     Device::builder()
//!         .id_scope(scope)
//!         .device_id("gateway-1")
//!         .credentials(Credentials::group_key(group_key)?)
//!         .model_id("dtmi:com:example:Gateway;1"),
//! )
//! .await?;
//! // Provisioned with its own derived key and the gateway relationship.
//! let sensor = gateway
//!     .add("sensor-1", |b| b.model_id("dtmi:com:example:Thermometer;1"))
//!     .await?;
//! sensor.send_telemetry(&serde_json::json!({"temperature": 21.5})).await?;
//! gateway.remove("sensor-1").await?;
//! gateway.close().await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::auth::Credentials;
use crate::device::OfflineQueue;
use crate::transport::SharedAmqp;
use crate::{Device, DeviceBuilder, Error, Result};

/// A gateway device and its downstream devices.
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Gateway {
    device: Device,
    /// The gateway's settings, the starting point of every downstream device's.
    template: DeviceBuilder,
    downstream: Mutex<BTreeMap<String, Device>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("device_id", &self.device.device_id())
            .field("downstream", &self.downstream_ids())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Connects the gateway device itself. Downstream devices inherit its ID scope, DPS
    /// endpoint, TLS, protocol, timeouts and retry policy, and its credentials when they are a
    /// group key (each downstream device's key is derived from it).
    ///
    /// # Errors
    ///
    /// As [`DeviceBuilder::connect`]; [`Error::Config`] when the builder uses a connection
    /// string (downstream devices are provisioned through DPS, so the gateway needs an ID
    /// scope).
    pub async fn connect(builder: DeviceBuilder) -> Result<Gateway> {
        if builder.id_scope.is_none() {
            return Err(Error::Config(
                "a gateway provisions its downstream devices through DPS: give it an ID scope, not a connection string".into(),
            ));
        }
        // Over AMQP the gateway and its downstream devices share connections (ignored by the
        // other transports, and by devices with a certificate, whose identity is the
        // connection's).
        let mut builder = builder;
        builder.shared_amqp = Some(SharedAmqp::default());
        let device = Box::pin(builder.clone().connect()).await?;
        let mut template = builder;
        template.model_id = None;
        template.provisioning_payload = None;
        template.offline_queue = OfflineQueue {
            durable: None,
            ..template.offline_queue
        };
        if !matches!(template.credentials, Some(Credentials::GroupKey(_))) {
            template.credentials = None;
        }
        Ok(Gateway {
            device,
            template,
            downstream: Mutex::new(BTreeMap::new()),
        })
    }

    /// The gateway's own device: its telemetry, properties and commands.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The gateway's device id.
    pub fn id(&self) -> &str {
        self.device.device_id()
    }

    /// Provisions and connects downstream device `device_id`, attached to this gateway.
    ///
    /// `configure` receives a builder with the gateway's settings, this device id and, when the
    /// gateway has a group key, that key; set the downstream device's model
    /// ([`DeviceBuilder::model`]) and anything that differs from the gateway (its own
    /// [`credentials`](DeviceBuilder::credentials), a
    /// [`provisioning_payload`](DeviceBuilder::provisioning_payload), an offline queue).
    /// The gateway relationship is added to whatever payload it ends up with.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the id is the gateway's or already added, when the device has
    /// no credentials (the gateway's are not a group key and `configure` gave none), when it
    /// is given a connection string or a payload that is not a JSON object; otherwise as
    /// [`DeviceBuilder::connect`]. A failed add leaves the other devices untouched.
    pub async fn add(
        &self,
        device_id: &str,
        configure: impl FnOnce(DeviceBuilder) -> DeviceBuilder,
    ) -> Result<Device> {
        if device_id == self.id() {
            return Err(Error::Config(format!(
                "`{device_id}` is the gateway's own id"
            )));
        }
        if self.lock().contains_key(device_id) {
            return Err(Error::Config(format!(
                "downstream device `{device_id}` is already added"
            )));
        }
        let builder = configure(self.template.clone().device_id(device_id));
        let builder = self.attach_to_gateway(builder, device_id)?;
        let device = Box::pin(builder.connect()).await?;
        let replaced = self.lock().insert(device_id.to_owned(), device.clone());
        if let Some(other) = replaced {
            // Two concurrent adds of one id: keep the newer connection (the hub has already
            // closed the older one).
            tracing::warn!(
                device_id,
                "downstream device added twice at once; the older handle is closed"
            );
            let _ = other.close().await;
        }
        tracing::info!(gateway_id = %self.id(), device_id, "downstream device added");
        Ok(device)
    }

    /// A downstream device's handle, if it was added.
    pub fn get(&self, device_id: &str) -> Option<Device> {
        self.lock().get(device_id).cloned()
    }

    /// The ids of the downstream devices, sorted.
    pub fn downstream_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Disconnects downstream device `device_id` and forgets it. Its identity and
    /// relationship stay in IoT Central; [`add`](Self::add) connects it again.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when it was not added; otherwise as [`Device::close`] (for example
    /// [`Error::Unsent`] when queued telemetry could not be sent).
    pub async fn remove(&self, device_id: &str) -> Result<()> {
        let device = self.lock().remove(device_id).ok_or_else(|| {
            Error::Config(format!("downstream device `{device_id}` was not added"))
        })?;
        tracing::info!(gateway_id = %self.id(), device_id, "downstream device removed");
        device.close().await
    }

    /// Closes every downstream device, then the gateway. Returns the first error, after
    /// closing everything.
    ///
    /// # Errors
    ///
    /// As [`Device::close`].
    pub async fn close(&self) -> Result<()> {
        let downstream: Vec<Device> = std::mem::take(&mut *self.lock()).into_values().collect();
        let mut closing = tokio::task::JoinSet::new();
        for device in downstream {
            closing.spawn(async move { device.close().await });
        }
        let mut first_error = None;
        while let Some(joined) = closing.join_next().await {
            let result =
                joined.unwrap_or_else(|e| Err(Error::connection_caused("a device task failed", e)));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        let gateway = self.device.close().await;
        match first_error {
            Some(e) => Err(e),
            None => gateway,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Device>> {
        // A panic while holding the lock cannot leave the map inconsistent (every critical
        // section is a single map operation), so a poisoned lock is still usable.
        self.downstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a downstream builder and adds the gateway relationship to its payload.
    fn attach_to_gateway(
        &self,
        mut builder: DeviceBuilder,
        device_id: &str,
    ) -> Result<DeviceBuilder> {
        if builder.connection_string.is_some() {
            return Err(Error::Config(format!(
                "downstream device `{device_id}` is provisioned through DPS; do not give it a connection string"
            )));
        }
        if builder.credentials.is_none() {
            return Err(Error::Config(format!(
                "downstream device `{device_id}` needs credentials: the gateway's are not a group key, so give the device its own"
            )));
        }
        builder.provisioning_payload = Some(gateway_payload(
            builder.provisioning_payload.take(),
            self.id(),
        )?);
        Ok(builder)
    }
}

/// `payload` (a JSON object, or none) with `iotcGateway.iotcGatewayId` set to `gateway_id`.
fn gateway_payload(payload: Option<Value>, gateway_id: &str) -> Result<Value> {
    let mut object = match payload {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(Error::Config(
                "the registration payload must be a JSON object".into(),
            ))
        }
    };
    let gateway = object
        .entry("iotcGateway")
        .or_insert_with(|| Value::Object(Map::new()));
    match gateway {
        Value::Object(g) => {
            g.insert("iotcGatewayId".into(), Value::String(gateway_id.to_owned()));
        }
        _ => {
            return Err(Error::Config(
                "`iotcGateway` in the registration payload must be a JSON object".into(),
            ))
        }
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payload_gets_the_gateway() {
        assert_eq!(
            gateway_payload(None, "gw").unwrap(),
            json!({"iotcGateway": {"iotcGatewayId": "gw"}})
        );
        assert_eq!(
            gateway_payload(
                Some(json!({"site": "A", "iotcGateway": {"iotcGatewayId": "old", "x": 1}})),
                "gw"
            )
            .unwrap(),
            json!({"site": "A", "iotcGateway": {"iotcGatewayId": "gw", "x": 1}})
        );
        assert!(matches!(
            gateway_payload(Some(json!([1])), "gw"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            gateway_payload(Some(json!({"iotcGateway": 3})), "gw"),
            Err(Error::Config(_))
        ));
    }

    #[tokio::test]
    async fn a_gateway_needs_dps() {
        let cs = "HostName=h.azure-devices.net;DeviceId=gw;SharedAccessKey=AAAA"
            .parse()
            .unwrap();
        let err = Gateway::connect(Device::builder().connection_string(cs))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }
}
