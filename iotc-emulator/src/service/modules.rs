//! Edge-hub mode: module identities, leaf devices and the module side of the service API.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

use crate::types::{MethodResponse, Twin};
use crate::{Emulator, EmulatorError, ServiceError};

/// Edge-hub mode: module identities, leaf devices and the module side of the service API.
impl Emulator {
    /// The edge device id of the edge-hub mode, if configured.
    pub fn edge_device_id(&self) -> Option<&str> {
        self.shared
            .settings
            .edge
            .as_ref()
            .map(|e| e.device_id.as_str())
    }

    /// Registers a device identity directly in the hub registry (no DPS), its key derived from
    /// the group key; an existing identity is kept. Returns its key (base64).
    pub(crate) fn register_device(
        &self,
        key: &str,
        parent: Option<&str>,
    ) -> Result<String, EmulatorError> {
        let (device_id, _) = crate::ids::split_identity(key);
        let new_key = if key.contains('/') {
            // Module keys are random, like the keys IoT hub generates (a failing random source
            // is an error, never a predictable key).
            let mut bytes = [0u8; 32];
            openssl::rand::rand_bytes(&mut bytes).map_err(|e| EmulatorError::Tls(e.to_string()))?;
            B64.encode(bytes)
        } else {
            crate::sas::derive_device_key(&self.shared.settings.group_key, device_id)
                .unwrap_or_default()
        };
        let mut state = self.shared.lock();
        let device = state.devices.entry(key.to_owned()).or_insert_with(|| {
            crate::state::Device::new(
                key.to_owned(),
                crate::state::DeviceAuth::Sas { key: new_key },
            )
        });
        if parent.is_some() {
            device.parent = parent.map(str::to_owned);
        }
        match &device.auth {
            crate::state::DeviceAuth::Sas { key } => Ok(key.clone()),
            crate::state::DeviceAuth::X509 { .. } => Err(EmulatorError::InvalidConfig(format!(
                "{key} authenticates with X.509; only SAS identities can be used here"
            ))),
        }
    }

    fn check_id(what: &str, id: &str) -> Result<(), EmulatorError> {
        if id.is_empty() || id.contains('/') || id.contains(char::is_whitespace) {
            return Err(EmulatorError::InvalidConfig(format!(
                "invalid {what} {id:?}"
            )));
        }
        Ok(())
    }

    /// Adds module identity `module_id` of device `device_id` (IoT hub's module identities;
    /// the device is registered too if it is not yet) and returns the module's key (base64).
    /// Adding an existing module returns its key. Modules connect over MQTT with ClientId
    /// `{device}/{module}` and a SAS token for `{hub}/devices/{device}/modules/{module}`, signed
    /// with this key (or, for the edge device's modules, through the workload API).
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] for an empty id or one with `/` or white space.
    pub fn add_module(&self, device_id: &str, module_id: &str) -> Result<String, EmulatorError> {
        Self::check_id("device id", device_id)?;
        Self::check_id("module id", module_id)?;
        self.register_device(device_id, None)?;
        self.register_device(&crate::ids::identity_key(device_id, Some(module_id)), None)
    }

    /// The generation id of a module identity (`IOTEDGE_MODULEGENERATIONID`), `None` if the
    /// module does not exist.
    pub fn module_generation_id(&self, device_id: &str, module_id: &str) -> Option<String> {
        self.shared
            .lock()
            .devices
            .get(&crate::ids::identity_key(device_id, Some(module_id)))
            .map(|d| d.generation_id.clone())
    }

    /// Registers `device_id` as a leaf device of the edge device (its key derived from the
    /// group key, like a device of the default enrollment group; a device provisioned through
    /// DPS before keeps its identity) and returns its key (base64). A leaf device connects to
    /// the hub listener with its own identity (a connection string with `GatewayHostName`);
    /// its messages take the edge routes.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] without the edge-hub mode, for an invalid id, or for a
    /// device that authenticates with X.509.
    pub fn add_leaf_device(&self, device_id: &str) -> Result<String, EmulatorError> {
        Self::check_id("device id", device_id)?;
        let edge = self
            .edge_device_id()
            .ok_or_else(|| {
                EmulatorError::InvalidConfig("the edge-hub mode is not configured".into())
            })?
            .to_owned();
        if edge == device_id {
            return Err(EmulatorError::InvalidConfig(
                "the edge device cannot be its own leaf device".into(),
            ));
        }
        self.register_device(device_id, Some(&edge))
    }

    /// The `IOTEDGE_*` environment the IoT Edge runtime would give `module_id` of the edge
    /// device: workload URI (`unix://{socket}`), device, module and generation ids, hub host,
    /// gateway host (`{hub host}:{port}` — the emulator's hub does not listen on 8883), API
    /// version and auth scheme. Empty without the edge-hub mode or a workload socket, or for
    /// an unknown module.
    pub fn edge_environment(&self, module_id: &str) -> Vec<(String, String)> {
        let (Some(edge), Some(socket)) = (self.edge_device_id(), self.workload_socket()) else {
            return Vec::new();
        };
        let Some(generation) = self.module_generation_id(edge, module_id) else {
            return Vec::new();
        };
        [
            (
                "IOTEDGE_WORKLOADURI",
                format!("unix://{}", socket.display()),
            ),
            ("IOTEDGE_DEVICEID", edge.to_owned()),
            ("IOTEDGE_MODULEID", module_id.to_owned()),
            ("IOTEDGE_MODULEGENERATIONID", generation),
            ("IOTEDGE_IOTHUBHOSTNAME", self.hub_hostname().to_owned()),
            (
                "IOTEDGE_GATEWAYHOSTNAME",
                format!("{}:{}", self.hub_hostname(), self.hub_addr.port()),
            ),
            ("IOTEDGE_APIVERSION", "2020-07-07".to_owned()),
            ("IOTEDGE_AUTHSCHEME", "sasToken".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn workload_socket(&self) -> Option<std::path::PathBuf> {
        self.shared.settings.workload_socket.clone()
    }

    /// A module's twin, `None` if the module does not exist.
    pub fn module_twin(&self, device_id: &str, module_id: &str) -> Option<Twin> {
        let mut twin = self.twin(&crate::ids::identity_key(device_id, Some(module_id)))?;
        twin.device_id = device_id.to_owned();
        Some(twin)
    }

    /// Updates a module's desired properties, as [`update_desired`](Self::update_desired)
    /// does a device's.
    ///
    /// # Errors
    ///
    /// As [`update_desired`](Self::update_desired).
    pub async fn update_module_desired(
        &self,
        device_id: &str,
        module_id: &str,
        patch: Value,
    ) -> Result<u64, ServiceError> {
        self.update_desired(&crate::ids::identity_key(device_id, Some(module_id)), patch)
            .await
    }

    /// Invokes a direct method of a module, as [`invoke_command`](Self::invoke_command) does
    /// a device's (the module answers on the same `$iothub/methods/…` topics).
    ///
    /// # Errors
    ///
    /// As [`invoke_command`](Self::invoke_command).
    pub async fn invoke_module_command(
        &self,
        device_id: &str,
        module_id: &str,
        method_name: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<MethodResponse, ServiceError> {
        let key = crate::ids::identity_key(device_id, Some(module_id));
        self.invoke_command(&key, method_name, payload, timeout)
            .await
    }
}
