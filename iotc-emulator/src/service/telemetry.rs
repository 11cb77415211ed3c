//! Telemetry as the service side receives it: a live stream and each device's recent messages.

use crate::types::{TelemetryMessage, TelemetryReceiver};
use crate::Emulator;

/// Telemetry.
impl Emulator {
    /// A new subscriber to every telemetry message received from now on.
    pub fn telemetry(&self) -> TelemetryReceiver {
        TelemetryReceiver {
            rx: self.shared.telemetry.subscribe(),
        }
    }

    /// The last 100 telemetry messages of a device, oldest first.
    pub fn recent_telemetry(&self, device_id: &str) -> Vec<TelemetryMessage> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map(|d| d.recent.iter().cloned().collect())
            .unwrap_or_default()
    }
}
