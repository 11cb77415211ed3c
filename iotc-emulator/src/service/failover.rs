//! The emulator's hubs and IoT Central's manual failover: which hub a device belongs to, moving
//! it to another hub and back (`az iot central device manual-failover` /
//! `manual-failback`), and the DPS registration counter that shows when a device provisioned.

use std::net::SocketAddr;

use serde::Serialize;

use crate::state::Outbound;
use crate::{Emulator, ServiceError};

/// One IoT hub of the emulator ([`Emulator::hubs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HubInfo {
    /// Its index (0 is the hub of a one-hub emulator).
    pub index: usize,
    /// The host name devices address it by (usernames, SAS audiences, `assignedHub`).
    pub hostname: String,
    /// `assignedHub` as DPS announces it to devices that register over MQTT.
    pub assigned_hub: String,
    /// `assignedHub` as DPS announces it to devices that register over AMQP.
    pub assigned_hub_amqp: String,
    /// `assignedHub` as DPS announces it to devices that register over HTTPS or WebSockets.
    pub assigned_hub_https: String,
    /// Its MQTT (TLS) listener.
    pub mqtt_addr: SocketAddr,
    /// Its AMQP (TLS) listener.
    pub amqp_addr: SocketAddr,
    /// Its HTTPS listener (device REST API and WebSockets).
    pub https_addr: SocketAddr,
}

/// Hubs and manual failover.
impl Emulator {
    /// The emulator's IoT hubs, by index ([`EmulatorConfig::hubs`](crate::EmulatorConfig::hubs)
    /// of them; one by default).
    pub fn hubs(&self) -> Vec<HubInfo> {
        let settings = &self.shared.settings;
        settings
            .hubs
            .iter()
            .enumerate()
            .map(|(index, hub)| {
                let on = |endpoint: &str| crate::hubs::endpoint_on(settings, index, endpoint);
                HubInfo {
                    index,
                    hostname: hub.hostname.clone(),
                    assigned_hub: on(&settings.assigned_hub),
                    assigned_hub_amqp: on(&settings.assigned_hub_amqp),
                    assigned_hub_https: on(&settings.https_assigned_hub),
                    mqtt_addr: SocketAddr::new(hub.ip, self.hub_addr.port()),
                    amqp_addr: SocketAddr::new(hub.ip, self.amqp_port()),
                    https_addr: SocketAddr::new(hub.ip, self.https_addr().port()),
                }
            })
            .collect()
    }

    /// The index of the hub `device_id` belongs to now (its home hub, or the hub a manual
    /// failover moved it to), for a device in the registry. With one hub, always 0.
    pub fn device_hub(&self, device_id: &str) -> Option<usize> {
        let state = self.shared.lock();
        let device = state.devices.get(device_id)?;
        Some(crate::hubs::device_hub(&self.shared.settings, device))
    }

    /// What `az iot central device manual-failover` does: moves `device_id` (and its module
    /// identities) to the next hub. Its open connection is closed; the hub it left refuses it
    /// from then on as an unknown device (MQTT CONNACK 5, AMQP `unauthorized-access`, HTTPS
    /// 401); DPS assigns the new hub at its next registration, and the new hub admits it.
    /// Failing over a device already failed over moves it on to the next hub. Returns the new
    /// hub's index.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`] for a device not in the registry,
    /// [`ServiceError::InvalidRequest`] when the emulator has one hub.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(emulator: iotc_emulator::Emulator) -> Result<(), iotc_emulator::ServiceError> {
    /// let before = emulator.device_hub("dev-01");
    /// let after = emulator.manual_failover("dev-01")?;
    /// assert_ne!(before, Some(after));
    /// emulator.manual_failback("dev-01")?;
    /// # Ok(()) }
    /// ```
    pub fn manual_failover(&self, device_id: &str) -> Result<usize, ServiceError> {
        let hubs = self.shared.settings.hubs.len();
        if hubs < 2 {
            return Err(ServiceError::InvalidRequest(
                "manual failover needs more than one hub (EmulatorConfig::hubs, --hubs)".into(),
            ));
        }
        let current = self
            .device_hub(device_id)
            .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
        let target = (current + 1) % hubs;
        self.move_device(device_id, Some(target));
        tracing::info!(device_id, from = current, to = target, "manual failover");
        Ok(target)
    }

    /// What `az iot central device manual-failback` does: moves a failed-over device back to
    /// its home hub (the hub DPS assigned it first). The open connection is closed, the hub it
    /// leaves refuses it, DPS assigns the home hub again. A device that is not failed over is
    /// left alone. Returns the home hub's index.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`] for a device not in the registry.
    pub fn manual_failback(&self, device_id: &str) -> Result<usize, ServiceError> {
        let failed_over = {
            let state = self.shared.lock();
            let device = state
                .devices
                .get(device_id)
                .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
            device.failover_hub.is_some()
        };
        if failed_over {
            self.move_device(device_id, None);
        }
        let home = crate::hubs::home_hub(&self.shared.settings, device_id);
        tracing::info!(device_id, to = home, failed_over, "manual failback");
        Ok(home)
    }

    /// How many DPS register requests `registration_id` made (operation-status polls not
    /// counted): a device that provisions once per boot adds one per boot, a device with a
    /// provisioning cache none. Compare [`dps_attempts`](Self::dps_attempts), which counts DPS
    /// connections.
    pub fn dps_registrations(&self, registration_id: &str) -> u64 {
        self.shared
            .lock()
            .dps_registrations
            .get(registration_id)
            .copied()
            .unwrap_or(0)
    }

    /// Sets the failover hub of the device and its modules, closing their open connections.
    fn move_device(&self, device_id: &str, hub: Option<usize>) {
        let module_prefix = format!("{device_id}/");
        let mut state = self.shared.lock();
        for (key, device) in state.devices.iter_mut() {
            if key == device_id || key.starts_with(&module_prefix) {
                device.failover_hub = hub;
                if let Some(conn) = &device.conn {
                    let _ = conn.tx.try_send(Outbound::Close);
                }
            }
        }
    }
}
