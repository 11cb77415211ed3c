//! Device templates (DTDL models) and the data devices send that their template does not
//! describe.

use serde_json::Value;

use crate::types::UnmodeledData;
use crate::{Emulator, EmulatorError};

/// Device templates.
impl Emulator {
    /// Adds a device template: a DTDL interface as JSON, or an array of interfaces (a
    /// multi-component model with its component interfaces, as IoT Central imports them).
    /// Devices whose model id equals the first interface's `@id` are assigned to it, and what
    /// they send is checked against it (see [`Emulator::unmodeled`]). Returns that model id.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] if the text is not JSON or an element is not an
    /// interface with a string `@id`.
    pub fn add_template(&self, model_json: &str) -> Result<String, EmulatorError> {
        let value: Value = serde_json::from_str(model_json)
            .map_err(|e| EmulatorError::InvalidConfig(format!("template is not JSON: {e}")))?;
        let mut state = self.shared.lock();
        crate::templates::add_document(&mut state.templates, &value)
            .map_err(|e| EmulatorError::InvalidConfig(format!("invalid template: {e}")))
    }

    /// Data the device sent that its template does not describe (newest last, at most 100),
    /// as IoT Central shows "unmodeled data": telemetry members, reported properties and
    /// command responses that are not in the model or do not fit their schema.
    pub fn unmodeled(&self, device_id: &str) -> Vec<UnmodeledData> {
        self.shared
            .lock()
            .devices
            .get(device_id)
            .map(|d| d.unmodeled.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Device-template interfaces as the IoT Central API reads them.
impl Emulator {
    /// The template interface `@id` as the emulator holds it (a DTDL interface; inline
    /// component interfaces are held under their own `@id`), if known.
    pub fn template_interface(&self, id: &str) -> Option<Value> {
        self.shared.lock().templates.get(id).cloned()
    }

    /// The `@id` of every template interface the emulator knows, sorted.
    pub fn template_interface_ids(&self) -> Vec<String> {
        self.shared.lock().templates.keys().cloned().collect()
    }

    /// Forgets the template interfaces `ids` (devices of that model become unassigned).
    pub(crate) fn remove_template_interfaces(&self, ids: &[String]) {
        let mut state = self.shared.lock();
        for id in ids {
            state.templates.remove(id);
        }
    }
}
