//! `--state-dir`: enrollments, registrations, device identities with their twins, device
//! templates and IoT Central's own records, kept in `state.json` across restarts. Written
//! (atomically, through a temporary file) within a second of a change; read at start.
//! Connections, queued cloud-to-device messages, telemetry and fault rules are not kept.
//! The file holds device and group keys: it is created readable by its owner only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use std::sync::{Arc, Mutex};

use super::app::Central;
use super::store::Store;
use crate::state::{Device, DeviceAuth, RegStatus, Registration, Shared, X509Group};
use crate::{tls, EmulatorError};

/// The file under the state directory.
const FILE: &str = "state.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
enum Auth {
    Sas { key: String },
    X509 { group: String },
}

impl From<&DeviceAuth> for Auth {
    fn from(a: &DeviceAuth) -> Auth {
        match a {
            DeviceAuth::Sas { key } => Auth::Sas { key: key.clone() },
            DeviceAuth::X509 { group } => Auth::X509 {
                group: group.clone(),
            },
        }
    }
}

impl From<Auth> for DeviceAuth {
    fn from(a: Auth) -> DeviceAuth {
        match a {
            Auth::Sas { key } => DeviceAuth::Sas { key },
            Auth::X509 { group } => DeviceAuth::X509 { group },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct SavedDevice {
    model_id: Option<String>,
    auth: Auth,
    enrollment_group: Option<String>,
    gateway_id: Option<String>,
    parent: Option<String>,
    desired: Map<String, Value>,
    desired_version: u64,
    reported: Map<String, Value>,
    reported_version: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct SavedRegistration {
    payload: Option<Value>,
    enrollment: String,
    auth: Auth,
}

/// Everything `state.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    /// The ID scope and SAS group key the devices were enrolled with.
    id_scope: String,
    group_key: String,
    individual: BTreeMap<String, String>,
    /// X.509 groups added from Rust or the API: id → CA certificates (PEM).
    x509_groups: BTreeMap<String, String>,
    /// SAS groups added from Rust or the API besides the default one: id → keys (base64).
    #[serde(default)]
    sas_groups: BTreeMap<String, Vec<String>>,
    registrations: BTreeMap<String, SavedRegistration>,
    devices: BTreeMap<String, SavedDevice>,
    /// Template interfaces by `@id`.
    interfaces: BTreeMap<String, Value>,
    central: Store,
}

fn snapshot(shared: &Shared, store: &Mutex<Store>) -> Snapshot {
    let central = store.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let state = shared.lock();
    let x509_groups = state
        .x509_groups
        .iter()
        .map(|g| {
            let pems: String = g
                .cas
                .iter()
                .filter_map(|x| x.to_pem().ok())
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .collect();
            (g.id.clone(), pems)
        })
        .collect();
    Snapshot {
        id_scope: shared.settings.id_scope.clone(),
        group_key: shared.settings.group_key.clone(),
        individual: state.individual.clone().into_iter().collect(),
        x509_groups,
        sas_groups: state
            .sas_groups
            .iter()
            .map(|g| (g.id.clone(), g.keys.clone()))
            .collect(),
        registrations: state
            .registrations
            .iter()
            .filter(|(_, r)| r.status == RegStatus::Assigned)
            .map(|(id, r)| {
                (
                    id.clone(),
                    SavedRegistration {
                        payload: r.payload.clone(),
                        enrollment: r.enrollment.clone(),
                        auth: (&r.auth).into(),
                    },
                )
            })
            .collect(),
        devices: state
            .devices
            .iter()
            .map(|(id, d)| {
                (
                    id.clone(),
                    SavedDevice {
                        model_id: d.model_id.clone(),
                        auth: (&d.auth).into(),
                        enrollment_group: d.enrollment_group.clone(),
                        gateway_id: d.gateway_id.clone(),
                        parent: d.parent.clone(),
                        desired: d.desired.clone(),
                        desired_version: d.desired_version,
                        reported: d.reported.clone(),
                        reported_version: d.reported_version,
                    },
                )
            })
            .collect(),
        interfaces: state.templates.clone().into_iter().collect(),
        central,
    }
}

fn restore(c: &Central, s: Snapshot) -> Result<(), EmulatorError> {
    let mut groups = Vec::new();
    for (id, pem) in s.x509_groups {
        groups.push(X509Group {
            id,
            cas: tls::parse_pem_certs(&pem)?,
        });
    }
    let now = time::OffsetDateTime::now_utc();
    {
        let mut state = c.emulator.shared.lock();
        state.individual.extend(s.individual);
        for g in groups {
            state.x509_groups.retain(|x| x.id != g.id);
            state.x509_groups.push(g);
        }
        for (id, keys) in s.sas_groups {
            state.sas_groups.retain(|x| x.id != id);
            state.sas_groups.push(crate::state::SasGroup { id, keys });
        }
        for (id, r) in s.registrations {
            state.registrations.insert(
                id.clone(),
                Registration {
                    registration_id: id,
                    operation_id: crate::ids::random_uuid(),
                    status: RegStatus::Assigned,
                    polls_left: 0,
                    payload: r.payload,
                    enrollment: r.enrollment,
                    auth: r.auth.into(),
                    created: now,
                    last_updated: now,
                    etag: String::new(),
                    reprovisioned: false,
                },
            );
        }
        for (id, d) in s.devices {
            let mut device = Device::new(id.clone(), d.auth.into());
            device.model_id = d.model_id;
            device.enrollment_group = d.enrollment_group;
            device.gateway_id = d.gateway_id;
            device.parent = d.parent;
            device.desired = d.desired;
            device.desired_version = d.desired_version;
            device.reported = d.reported;
            device.reported_version = d.reported_version;
            state.devices.insert(id, device);
        }
        state.templates.extend(s.interfaces);
    }
    *c.store() = s.central;
    Ok(())
}

fn write(path: &Path, s: &Snapshot) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    {
        use std::io::Write as _;
        let mut f = options.open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The ID scope and SAS group key (base64) kept in `dir`'s state file, if there is one: start
/// the emulator with them (unless others are configured) so enrolled devices keep working.
///
/// # Errors
///
/// [`EmulatorError::Io`] if the file exists but cannot be read,
/// [`EmulatorError::InvalidConfig`] if it is not a state file.
pub fn saved_identity(dir: &Path) -> Result<Option<(String, String)>, EmulatorError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                EmulatorError::InvalidConfig(format!("{} is not a state file: {e}", path.display()))
            })?;
            Ok(Some((s.id_scope, s.group_key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Central {
    /// Keeps the emulator's state in `dir` (created if missing): loads `state.json` when it
    /// exists, then saves every change (within a second) until the emulator stops. Call it
    /// before devices connect and before templates are added at start.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Io`] if the directory cannot be made or the file read,
    /// [`EmulatorError::InvalidConfig`] if the file is not a state file,
    /// [`EmulatorError::Certificate`] for a group certificate that does not parse.
    pub fn keep_state_in(&self, dir: &Path) -> Result<(), EmulatorError> {
        std::fs::create_dir_all(dir)?;
        let path: PathBuf = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    EmulatorError::InvalidConfig(format!(
                        "{} is not a state file: {e}",
                        path.display()
                    ))
                })?;
                restore(self, s)?;
                tracing::info!(path = %path.display(), "state loaded");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // The writer holds the state, not the emulator: it must not keep the emulator running.
        let shared: Arc<Shared> = self.emulator.shared.clone();
        let store = self.store.clone();
        let changes = self.changes.clone();
        let mut shutdown = self.emulator.shared.shutdown.clone();
        tokio::spawn(async move {
            let mut last = Snapshot::default();
            loop {
                let stop = tokio::select! {
                    () = changes.notified() => false,
                    () = tokio::time::sleep(Duration::from_secs(1)) => false,
                    _ = shutdown.changed() => true,
                };
                let now = snapshot(&shared, &store);
                if now != last {
                    match write(&path, &now) {
                        Ok(()) => last = now,
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "state not saved")
                        }
                    }
                }
                if stop {
                    break;
                }
            }
        });
        Ok(())
    }

    /// Writes the state file now (tests, and before a planned stop).
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Io`] if the file cannot be written.
    pub fn save_state(&self, dir: &Path) -> Result<(), EmulatorError> {
        std::fs::create_dir_all(dir)?;
        write(
            &dir.join(FILE),
            &snapshot(&self.emulator.shared, &self.store),
        )?;
        Ok(())
    }
}
