//! The device registry and the DPS registrations, as the service side reads them.

use crate::state::Shared;
use crate::types::{DeviceInfo, RegistrationInfo};
use crate::Emulator;

/// The registry.
impl Emulator {
    /// The devices in the hub registry, sorted by id.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        let state = self.shared.lock();
        let mut out: Vec<DeviceInfo> = state
            .devices
            .values()
            .filter(|d| !d.device_id.contains('/'))
            .map(|d| DeviceInfo {
                device_id: d.device_id.clone(),
                model_id: d.model_id.clone(),
                template: Shared::template_for(&state, d.model_id.as_deref()),
                connected: d.conn.is_some(),
                assigned_hub: crate::hubs::endpoint_on(
                    &self.shared.settings,
                    crate::hubs::device_hub(&self.shared.settings, d),
                    &self.shared.settings.assigned_hub,
                ),
                hub: crate::hubs::device_hub(&self.shared.settings, d),
                auth: d.auth_kind(),
                enrollment_group: d.enrollment_group.clone(),
                device_client_type: d.device_client_type.clone(),
                protocol: d.protocol,
                gateway_id: d.gateway_id.clone(),
                pending_c2d: d.c2d.len(),
            })
            .collect();
        out.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        out
    }

    /// One device of the registry.
    pub fn device(&self, device_id: &str) -> Option<DeviceInfo> {
        self.devices()
            .into_iter()
            .find(|d| d.device_id == device_id)
    }

    /// The downstream devices of a gateway (devices provisioned with
    /// `iotcGateway.iotcGatewayId` = `gateway_id`), sorted by id. IoT Central records the
    /// relationship at provisioning; the gateway need not be registered yet.
    pub fn downstream_devices(&self, gateway_id: &str) -> Vec<DeviceInfo> {
        self.devices()
            .into_iter()
            .filter(|d| d.gateway_id.as_deref() == Some(gateway_id))
            .collect()
    }

    /// The DPS registrations, sorted by id.
    pub fn registrations(&self) -> Vec<RegistrationInfo> {
        let state = self.shared.lock();
        let mut out: Vec<RegistrationInfo> = state
            .registrations
            .values()
            .map(|r| RegistrationInfo {
                registration_id: r.registration_id.clone(),
                device_id: r.registration_id.clone(),
                assigned_hub: crate::hubs::endpoint_on(
                    &self.shared.settings,
                    match state.devices.get(&r.registration_id) {
                        Some(d) => crate::hubs::device_hub(&self.shared.settings, d),
                        None => crate::hubs::home_hub(&self.shared.settings, &r.registration_id),
                    },
                    &self.shared.settings.assigned_hub,
                ),
                status: match r.status {
                    crate::state::RegStatus::Assigning => "assigning".into(),
                    crate::state::RegStatus::Assigned => "assigned".into(),
                },
                payload: r.payload.clone(),
                enrollment: r.enrollment.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.registration_id.cmp(&b.registration_id));
        out
    }

    /// The number of AMQP connections (over TLS or WebSockets) open now, DPS and hub alike:
    /// shows whether devices share a connection (a gateway multiplexing its downstream
    /// devices) or each has its own.
    pub fn open_amqp_connections(&self) -> usize {
        self.shared
            .amqp_connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Registry changes made through IoT Central's API.
impl Emulator {
    /// Deletes a device: its registry entry, its module identities and its DPS registration;
    /// an open connection is closed. Returns whether anything was there.
    pub fn remove_device(&self, device_id: &str) -> bool {
        let mut state = self.shared.lock();
        let module_prefix = format!("{device_id}/");
        let keys: Vec<String> = state
            .devices
            .keys()
            .filter(|k| *k == device_id || k.starts_with(&module_prefix))
            .cloned()
            .collect();
        for key in &keys {
            if let Some(conn) = state.devices.remove(key).and_then(|d| d.conn) {
                let _ = conn.tx.try_send(crate::state::Outbound::Close);
            }
        }
        let registered = state.registrations.remove(device_id).is_some();
        !keys.is_empty() || registered
    }

    /// The symmetric key (base64) a registered SAS device authenticates with; `None` for an
    /// X.509 device or an unknown one.
    pub fn device_key(&self, device_id: &str) -> Option<String> {
        match &self.shared.lock().devices.get(device_id)?.auth {
            crate::state::DeviceAuth::Sas { key } => Some(key.clone()),
            crate::state::DeviceAuth::X509 { .. } => None,
        }
    }
}
