//! The IoT Central side of a running emulator ([`Central`]) and what every handler module
//! shares with it (the API version, JSON bodies). Handlers import this module, never the
//! `central` module above them, so no module imports another in a circle.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::error::ApiError;
use super::store::{self, Store};
use crate::Emulator;

/// The api-version of IoT Central's data-plane API the emulator follows.
pub const API_VERSION: &str = "2022-07-31";

/// The IoT Central side of a running emulator: its API token and what IoT Central keeps
/// beyond the hub (device records, template documents, command history, relationships,
/// enrollment-group records). Cheap to clone.
#[derive(Clone)]
pub struct Central {
    pub(crate) emulator: Emulator,
    pub(crate) store: Arc<Mutex<Store>>,
    token: Arc<str>,
    /// Woken after every change made through the API (the `--state-dir` writer waits on it).
    pub(crate) changes: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Central {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Central")
            .field("emulator", &self.emulator)
            .finish_non_exhaustive()
    }
}

impl Central {
    /// The IoT Central side of `emulator`, with `api_token` (`None`: a generated one in IoT
    /// Central's `SharedAccessSignature sr=…&sig=…&skn=…&se=…` form).
    pub fn new(emulator: Emulator, api_token: Option<String>) -> Central {
        let token = api_token.unwrap_or_else(generate_token);
        Central {
            emulator,
            store: Arc::new(Mutex::new(Store::default())),
            token: token.into(),
            changes: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The token requests must carry in `Authorization`.
    pub fn api_token(&self) -> &str {
        &self.token
    }

    /// The emulator this serves.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Tells the `--state-dir` writer that something changed.
    pub(crate) fn changed(&self) {
        self.changes.notify_one();
    }

    /// Locks the store (a poisoned lock is recovered).
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a device exists: made through the API or provisioned.
    pub(crate) fn device_exists(&self, id: &str) -> bool {
        self.store().devices.contains_key(id) || self.emulator.device(id).is_some()
    }

    /// `Ok` if the device exists, else IoT Central's 404.
    pub(crate) fn require_device(&self, id: &str) -> Result<(), ApiError> {
        if self.device_exists(id) {
            Ok(())
        } else {
            Err(ApiError::no_device(id))
        }
    }

    /// The template id of a device: the one chosen through the API, else the template whose
    /// capability model is the device's model id, else the model id when the emulator knows
    /// that interface.
    pub(crate) fn template_of(&self, id: &str) -> Option<String> {
        let store = self.store();
        if let Some(t) = store.devices.get(id).and_then(|d| d.template.clone()) {
            return Some(t);
        }
        let model = self.emulator.device(id)?.model_id?;
        store
            .template_of_model(&model)
            .or_else(|| self.emulator.template_interface(&model).map(|_| model))
    }

    /// The capability model (root interface) of a device's template, with the interfaces it
    /// references, as the emulator's template checker holds them.
    pub(crate) fn model_of(&self, id: &str) -> Option<Value> {
        let template = self.template_of(id)?;
        let model_id = {
            let store = self.store();
            match store.templates.get(&template) {
                Some(doc) => store::capability_model_id(doc).map(str::to_owned),
                None => Some(template.clone()),
            }
        }?;
        self.emulator.template_interface(&model_id)
    }
}

/// A random API token in IoT Central's form.
fn generate_token() -> String {
    let se = (time::OffsetDateTime::now_utc() + time::Duration::days(365)).unix_timestamp() * 1000;
    format!(
        "SharedAccessSignature sr={}&sig={}&skn=emulator&se={se}",
        crate::ids::random_uuid(),
        crate::ids::random_hex(32)
    )
}

/// Parses a JSON body, IoT Central's 400 when it is not JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
