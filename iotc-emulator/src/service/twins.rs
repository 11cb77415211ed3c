//! Device twins: read, and desired-property updates pushed to subscribed devices.

use bytes::Bytes;
use serde_json::Value;

use crate::state::Outbound;
use crate::types::Twin;
use crate::{merge, Emulator, ServiceError};

/// Twins.
impl Emulator {
    /// The device's twin, `None` if the device is not registered.
    pub fn twin(&self, device_id: &str) -> Option<Twin> {
        let state = self.shared.lock();
        let d = state.devices.get(device_id)?;
        Some(Twin {
            device_id: d.device_id.clone(),
            model_id: d.model_id.clone(),
            desired: d.desired_json(),
            reported: d.reported_json(),
        })
    }

    /// Updates desired properties with JSON merge-patch semantics (`null` deletes), bumps the
    /// desired `$version` and, if the device is connected and subscribed to
    /// `$iothub/twin/PATCH/properties/desired/#`, pushes the patch plus `"$version"` to it.
    /// Returns the new desired `$version`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`], or [`ServiceError::InvalidRequest`] if the patch is not
    /// an object or breaks the twin limits (names without `.`/`$`/space, depth 10, 32 KB).
    pub async fn update_desired(&self, device_id: &str, patch: Value) -> Result<u64, ServiceError> {
        let Value::Object(mut patch) = patch else {
            return Err(ServiceError::InvalidRequest(
                "desired patch must be a JSON object".into(),
            ));
        };
        patch.remove("$version");
        merge::validate_patch(&patch).map_err(ServiceError::InvalidRequest)?;
        let (version, tx) = {
            let mut state = self.shared.lock();
            let device = state
                .devices
                .get_mut(device_id)
                .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
            let mut merged = device.desired.clone();
            merge::merge_patch(&mut merged, &patch);
            if merge::section_size(&merged) > merge::MAX_SECTION_BYTES {
                return Err(ServiceError::InvalidRequest(
                    "desired properties exceed 32 KB".into(),
                ));
            }
            device.desired = merged;
            device.desired_version += 1;
            let tx = device
                .conn
                .as_ref()
                .filter(|c| c.subs.desired)
                .map(|c| c.tx.clone());
            (device.desired_version, tx)
        };
        if let Some(tx) = tx {
            patch.insert("$version".into(), Value::from(version));
            let body = Value::Object(patch).to_string();
            // Notifications are best effort (not stored for offline devices); a device whose
            // outbound queue is full misses this one and must GET the twin.
            if tx
                .try_send(Outbound::DesiredPatch {
                    version,
                    body: Bytes::from(body.into_bytes()),
                })
                .is_err()
            {
                tracing::warn!(device_id, "desired property notification dropped");
            }
        }
        Ok(version)
    }
}
