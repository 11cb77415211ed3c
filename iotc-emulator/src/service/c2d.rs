//! Cloud-to-device messages: the per-device queue, delivery and its limits.

use std::sync::Arc;

use crate::state::{Outbound, PendingC2d, C2D_TTL, MAX_C2D_PENDING};
use crate::types::C2dMessage;
use crate::{Emulator, ServiceError};

/// Maximum C2D message size.
const MAX_C2D: usize = 64 * 1024;

/// Cloud-to-device messages.
impl Emulator {
    /// Sends a cloud-to-device message. Delivered at once (QoS 1) if the device is connected
    /// and subscribed to its C2D topic, otherwise queued (at most 50 messages, TTL 1 hour) and
    /// delivered after it subscribes. A message leaves the queue when the device PUBACKs it;
    /// unacknowledged messages are redelivered on the next connection.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`], [`ServiceError::QueueFull`], or
    /// [`ServiceError::InvalidRequest`] for a body over 64 KB.
    pub async fn send_c2d(&self, device_id: &str, message: C2dMessage) -> Result<(), ServiceError> {
        if message.body.len() > MAX_C2D {
            return Err(ServiceError::InvalidRequest(
                "C2D message exceeds 64 KB".into(),
            ));
        }
        let id = self.shared.next_id();
        let message = Arc::new(message);
        let deliver = {
            let mut state = self.shared.lock();
            let device = state
                .devices
                .get_mut(device_id)
                .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
            let now = std::time::Instant::now();
            device.expire_c2d(now);
            if device.c2d.len() >= MAX_C2D_PENDING {
                return Err(ServiceError::QueueFull(device_id.to_owned()));
            }
            let conn = device
                .conn
                .as_ref()
                .filter(|c| c.subs.c2d)
                .map(|c| (c.conn_id, c.tx.clone()));
            device.c2d.push_back(PendingC2d {
                id,
                message: message.clone(),
                expires: now + C2D_TTL,
                delivery_count: u32::from(conn.is_some()),
                sent_on: conn.as_ref().map(|(cid, _)| *cid),
                lock: None,
            });
            conn
        };
        if let Some((_, tx)) = deliver {
            if tx.try_send(Outbound::C2d { id, message }).is_err() {
                // Connection busy or gone: leave it queued for the next delivery.
                let mut state = self.shared.lock();
                if let Some(device) = state.devices.get_mut(device_id) {
                    if let Some(m) = device.c2d.iter_mut().find(|m| m.id == id) {
                        m.sent_on = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of C2D messages queued for a device and not yet acknowledged.
    pub fn pending_c2d(&self, device_id: &str) -> usize {
        let mut state = self.shared.lock();
        match state.devices.get_mut(device_id) {
            Some(d) => {
                d.expire_c2d(std::time::Instant::now());
                d.c2d.len()
            }
            None => 0,
        }
    }
}
