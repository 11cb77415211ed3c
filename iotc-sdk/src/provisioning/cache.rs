//! The provisioning cache: where a device remembers the hub DPS assigned it, so that the next
//! [`connect`](crate::DeviceBuilder::connect) goes straight to that hub (IoT Central's device
//! best practice: provision once, go back to DPS only when the hub no longer takes the device).
//!
//! A cache holds an [`Assignment`]: the hub and device id DPS answered with, and the settings
//! the device registered with (ID scope, registration id, DPS endpoint, protocol, model id,
//! payload). It never holds a key, token or certificate. A cached assignment whose settings
//! differ from the device's (a new model id, another payload) is not used: the device
//! registers again. A cache that is missing, unreadable or corrupt means "register" (with a
//! warning), never a failure.

use std::fmt;
use std::io;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ProvisioningClient, Registration};

/// One cached DPS assignment, as [`ProvisioningCache`] stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Assignment {
    /// The ID scope the device registered under.
    pub id_scope: String,
    /// The registration id it registered as.
    pub registration_id: String,
    /// The DPS endpoint it registered with (`host` or `host:port`).
    pub dps_endpoint: String,
    /// The protocol it registered over (its name, such as `mqtt`); the hub port depends on it.
    pub protocol: String,
    /// The model id announced to DPS, if any.
    pub model_id: Option<String>,
    /// The custom registration payload, if any.
    pub payload: Option<Value>,
    /// The host name of the hub DPS assigned.
    pub hub_host: String,
    /// The port to reach that hub on.
    pub hub_port: u16,
    /// The device id in that hub.
    pub device_id: String,
}

impl Assignment {
    /// Whether this assignment was made for the same registration settings as `other`'s
    /// (everything but the hub and device id).
    fn same_registration(&self, other: &Assignment) -> bool {
        self.id_scope == other.id_scope
            && self.registration_id == other.registration_id
            && self.dps_endpoint == other.dps_endpoint
            && self.protocol == other.protocol
            && self.model_id == other.model_id
            && self.payload == other.payload
    }
}

/// Where a device keeps its [`Assignment`] between runs.
///
/// The calls are synchronous and made from the connecting task, so they should be quick (a
/// small file, a key-value store in memory). An error is logged and treated as "nothing
/// cached": the device then registers with DPS.
pub trait ProvisioningCache: Send + Sync + fmt::Debug {
    /// The cached assignment, or `None` when nothing is cached.
    ///
    /// # Errors
    ///
    /// The cache cannot be read, or holds something that is not an assignment.
    fn load(&self) -> io::Result<Option<Assignment>>;

    /// Replaces the cached assignment.
    ///
    /// # Errors
    ///
    /// The cache cannot be written.
    fn store(&self, assignment: &Assignment) -> io::Result<()>;

    /// Forgets the cached assignment (nothing cached is not an error).
    ///
    /// # Errors
    ///
    /// The cache cannot be written.
    fn clear(&self) -> io::Result<()>;
}

/// A [`ProvisioningCache`] in a JSON file, replaced atomically (written to a temporary file
/// beside it, synced, then renamed over it), so a crash leaves the old file or the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProvisioningCache {
    path: PathBuf,
}

impl FileProvisioningCache {
    /// A cache in the file `path` (created on the first registration; its directory must
    /// exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvisioningCache { path: path.into() }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temporary(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}

impl ProvisioningCache for FileProvisioningCache {
    fn load(&self) -> io::Result<Option<Assignment>> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    fn store(&self, assignment: &Assignment) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(assignment)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let tmp = self.temporary();
        let written = std::fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(&text)?;
            file.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&tmp, &self.path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn clear(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A cache bound to one device's registration settings: what the device builder and the
/// connection supervisor use.
#[derive(Clone, Debug)]
pub(crate) struct BoundCache {
    cache: Arc<dyn ProvisioningCache>,
    /// The device's settings, with an empty hub.
    settings: Box<Assignment>,
}

impl BoundCache {
    /// `cache`, for the registrations `client` makes.
    pub(crate) fn new(cache: Arc<dyn ProvisioningCache>, client: &ProvisioningClient) -> Self {
        BoundCache {
            cache,
            settings: Box::new(Assignment {
                id_scope: client.id_scope.clone(),
                registration_id: client.registration_id.clone(),
                dps_endpoint: client.endpoint.clone(),
                protocol: client.protocol.name().to_owned(),
                model_id: client.model_id.clone(),
                payload: client.payload.clone(),
                hub_host: String::new(),
                hub_port: 0,
                device_id: String::new(),
            }),
        }
    }

    /// The cached assignment, if there is one for these settings. Logs why there is none.
    pub(crate) fn lookup(&self) -> Option<Assignment> {
        match self.cache.load() {
            Ok(Some(cached)) if cached.same_registration(&self.settings) => {
                tracing::debug!(hub = %cached.hub_host, "using the cached DPS assignment");
                Some(cached)
            }
            Ok(Some(_)) => {
                tracing::info!(
                    "the registration settings changed since the cached DPS assignment: registering again"
                );
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(cache = ?self.cache, error = %e, "cannot read the provisioning cache: registering with DPS");
                None
            }
        }
    }

    /// Caches `registration` (the hub device id being `device_id`). A failure is logged.
    pub(crate) fn remember(&self, registration: &Registration, device_id: &str) {
        let assignment = Assignment {
            hub_host: registration.assigned_hub.clone(),
            hub_port: registration.hub_port,
            device_id: device_id.to_owned(),
            ..(*self.settings).clone()
        };
        if let Err(e) = self.cache.store(&assignment) {
            tracing::warn!(cache = ?self.cache, error = %e, "cannot write the provisioning cache");
        }
    }

    /// Forgets the cached assignment (the hub refused it). A failure is logged.
    pub(crate) fn forget(&self) {
        if let Err(e) = self.cache.clear() {
            tracing::warn!(cache = ?self.cache, error = %e, "cannot clear the provisioning cache");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Credentials;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn client() -> ProvisioningClient {
        ProvisioningClient::new(
            "0ne00000A0A",
            "dev-1",
            Credentials::device_key(KEY).unwrap(),
        )
        .model_id("dtmi:com:example:Thermostat;1")
    }

    fn registration(hub: &str) -> Registration {
        Registration {
            assigned_hub: hub.into(),
            hub_port: 8883,
            device_id: "dev-1".into(),
            substatus: None,
            payload: None,
        }
    }

    fn bound(dir: &Path, client: &ProvisioningClient) -> BoundCache {
        BoundCache::new(
            Arc::new(FileProvisioningCache::new(dir.join("assignment.json"))),
            client,
        )
    }

    #[test]
    fn an_assignment_round_trips_and_holds_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = bound(dir.path(), &client());
        assert_eq!(cache.lookup(), None, "nothing cached yet");
        cache.remember(&registration("hub-a.example"), "dev-1");
        let cached = cache.lookup().unwrap();
        assert_eq!(
            (
                cached.hub_host.as_str(),
                cached.hub_port,
                cached.device_id.as_str()
            ),
            ("hub-a.example", 8883, "dev-1")
        );
        let text = std::fs::read_to_string(dir.path().join("assignment.json")).unwrap();
        assert!(!text.contains(KEY) && !text.contains("MDEy"), "{text}");
        assert!(!dir.path().join("assignment.json.tmp").exists());
        cache.remember(&registration("hub-b.example"), "dev-1");
        assert_eq!(cache.lookup().unwrap().hub_host, "hub-b.example");
        cache.forget();
        assert_eq!(cache.lookup(), None);
        cache.forget();
    }

    #[test]
    fn changed_registration_settings_ignore_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        bound(dir.path(), &client()).remember(&registration("hub-a.example"), "dev-1");
        let changed = [
            client().model_id("dtmi:com:example:Thermostat;2"),
            client().provisioning_payload(serde_json::json!({"site": "north"})),
            client().protocol(crate::Protocol::MqttWs),
            client().dps_endpoint("localhost:9000"),
            ProvisioningClient::new(
                "0ne00000A0A",
                "dev-2",
                Credentials::device_key(KEY).unwrap(),
            )
            .model_id("dtmi:com:example:Thermostat;1"),
        ];
        for other in &changed {
            assert_eq!(bound(dir.path(), other).lookup(), None, "{other:?}");
        }
        assert!(bound(dir.path(), &client()).lookup().is_some());
    }

    #[test]
    fn a_corrupt_or_unreadable_cache_is_nothing_cached() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("assignment.json"), b"{\"idScope\": tru").unwrap();
        let file = FileProvisioningCache::new(dir.path().join("assignment.json"));
        assert_eq!(file.load().unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(bound(dir.path(), &client()).lookup(), None);
        // A directory where the file should be: unreadable, and unwritable.
        let cache = BoundCache::new(Arc::new(FileProvisioningCache::new(dir.path())), &client());
        assert_eq!(cache.lookup(), None);
        cache.remember(&registration("hub-a.example"), "dev-1");
        assert_eq!(cache.lookup(), None);
    }
}
