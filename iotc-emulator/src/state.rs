//! Shared emulator state: enrollments, registrations, the device registry with twins, open
//! connections, pending C2D messages and pending direct methods.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openssl::ssl::SslAcceptor;
use openssl::x509::X509;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::types::{AuthKind, C2dMessage, MethodResponse, TelemetryMessage};

/// Name of the default SAS enrollment group (IoT Central's).
pub(crate) const DEFAULT_SAS_GROUP: &str = "SAS-IoT-Devices";
/// Recent telemetry kept per device.
pub(crate) const RECENT_TELEMETRY: usize = 100;
/// Pending C2D messages per device.
pub(crate) const MAX_C2D_PENDING: usize = 50;
/// C2D time to live.
pub(crate) const C2D_TTL: Duration = Duration::from_secs(3600);
/// Capacity of each connection's outbound queue.
pub(crate) const OUTBOUND_CAPACITY: usize = 64;

/// Fixed configuration after start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) id_scope: String,
    pub(crate) dps_hostname: String,
    pub(crate) group_key: String,
    pub(crate) hub_hostname: String,
    pub(crate) hub_port: u16,
    /// `assignedHub` as announced by DPS (port rule).
    pub(crate) assigned_hub: String,
    /// The port of the AMQP listeners.
    pub(crate) amqp_port: u16,
    /// `assignedHub` as announced by DPS over AMQP: the bare host name on 5671, else
    /// `{host}:{amqp_port}`.
    pub(crate) assigned_hub_amqp: String,
    pub(crate) dps_retry_after_secs: u64,
    pub(crate) dps_polls_before_assign: u32,
    /// Time allowed from TCP accept to a complete CONNECT (TLS handshake included).
    pub(crate) handshake_timeout: Duration,
    /// Edge-hub mode: the edge device and its routes.
    pub(crate) edge: Option<crate::edge::config::EdgeSettings>,
    /// Where the workload API listens (edge-hub mode).
    pub(crate) workload_socket: Option<std::path::PathBuf>,
    /// `assignedHub` announced to devices that register on the HTTPS port (HTTPS and
    /// WebSockets reach the hub there too).
    pub(crate) https_assigned_hub: String,
    /// The IoT hubs (at least one; hub 0 is the hub above). See [`crate::hubs`].
    pub(crate) hubs: Vec<HubSettings>,
}

/// What the service side sends to a device's connection task, whatever its transport.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A desired-property patch; `body` is its JSON, `$version` included.
    DesiredPatch { version: u64, body: Bytes },
    /// A direct-method request, answered through
    /// [`device_hub::method_response`](crate::device::hub::method_response) with `rid`.
    Method {
        rid: String,
        name: String,
        payload: Bytes,
    },
    /// A queued cloud-to-device message; `id` is its queue id, settled by the connection
    /// ([`device_hub::complete_c2d`](crate::device::hub::complete_c2d) and siblings).
    C2d { id: u64, message: Arc<C2dMessage> },
    /// Close the connection (replaced by a newer connection, or closed by the service).
    Close,
    /// A fault the device asked for starts: the front end applies `action` to the
    /// connection (see [`crate::device::faults`]).
    Fault {
        /// The fault (for error descriptions).
        kind: crate::fault::FaultKind,
        /// What to do to the connection.
        action: crate::fault::FaultAction,
    },
    /// A message routed to input `input` of this module (edge-hub mode).
    Input {
        input: String,
        message: Arc<TelemetryMessage>,
    },
}

/// Subscriptions of a hub connection that the service side needs to know about.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Subs {
    pub(crate) c2d: bool,
    pub(crate) methods: bool,
    pub(crate) desired: bool,
    /// Module inputs (`devices/{d}/modules/{m}/inputs/#`).
    pub(crate) inputs: bool,
}

/// An open hub connection of a device.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) conn_id: u64,
    /// The connection's transport (a requested fault acts per transport).
    pub(crate) transport: crate::fault::Transport,
    pub(crate) tx: mpsc::Sender<Outbound>,
    pub(crate) subs: Subs,
}

/// How a registered device authenticates.
#[derive(Debug, Clone)]
pub(crate) enum DeviceAuth {
    /// Symmetric key (base64).
    Sas { key: String },
    /// Certificate chaining to this X.509 enrollment group's CA, CN = device id.
    X509 { group: String },
}

#[derive(Debug)]
pub(crate) struct PendingC2d {
    pub(crate) id: u64,
    pub(crate) message: Arc<C2dMessage>,
    pub(crate) expires: Instant,
    /// How many times it was handed to the device (abandoned deliveries count).
    pub(crate) delivery_count: u32,
    /// Connection it was last sent on (not sent again on the same connection).
    pub(crate) sent_on: Option<u64>,
    /// HTTPS receive: the lock token it was handed out with and when the lock ends.
    pub(crate) lock: Option<(String, Instant)>,
}

/// A device or module identity in the hub registry.
#[derive(Debug)]
pub(crate) struct Device {
    /// The registry key: the device id, or `{device id}/{module id}` for a module identity
    /// (see [`identity_key`](crate::ids::identity_key)).
    pub(crate) device_id: String,
    pub(crate) model_id: Option<String>,
    pub(crate) device_client_type: Option<String>,
    /// The transport of its last hub connection or HTTPS request.
    pub(crate) protocol: Option<crate::types::DeviceProtocol>,
    pub(crate) auth: DeviceAuth,
    pub(crate) enrollment_group: Option<String>,
    /// The gateway this device is a downstream device of.
    pub(crate) gateway_id: Option<String>,
    /// The edge device this leaf device is a child of (edge-hub mode).
    pub(crate) parent: Option<String>,
    pub(crate) generation_id: String,
    pub(crate) desired: Map<String, Value>,
    pub(crate) desired_version: u64,
    pub(crate) reported: Map<String, Value>,
    pub(crate) reported_version: u64,
    pub(crate) conn: Option<ConnEntry>,
    /// MQTT subscription filters kept across connections with CleanSession 0 (the session
    /// state of MQTT 3.1.1 section 3.1.2.4).
    pub(crate) persistent_filters: Vec<String>,
    pub(crate) c2d: VecDeque<PendingC2d>,
    pub(crate) recent: VecDeque<TelemetryMessage>,
    /// Data that did not fit the device's template, newest last.
    pub(crate) unmodeled: VecDeque<crate::types::UnmodeledData>,
    /// The hub the device was moved to by a manual failover (`None`: its home hub).
    pub(crate) failover_hub: Option<usize>,
}

impl Device {
    /// A new registry entry: empty twin sections at `$version` 1, no connection, no messages.
    pub(crate) fn new(device_id: String, auth: DeviceAuth) -> Device {
        Device {
            device_id,
            model_id: None,
            device_client_type: None,
            protocol: None,
            auth,
            enrollment_group: None,
            gateway_id: None,
            parent: None,
            generation_id: format!("63{}", crate::ids::random_hex(8)),
            desired: Map::new(),
            desired_version: 1,
            reported: Map::new(),
            reported_version: 1,
            conn: None,
            persistent_filters: Vec::new(),
            c2d: VecDeque::new(),
            recent: VecDeque::new(),
            unmodeled: VecDeque::new(),
            failover_hub: None,
        }
    }

    pub(crate) fn auth_kind(&self) -> AuthKind {
        match self.auth {
            DeviceAuth::Sas { .. } => AuthKind::Sas,
            DeviceAuth::X509 { .. } => AuthKind::X509,
        }
    }

    pub(crate) fn desired_json(&self) -> Value {
        let mut m = self.desired.clone();
        m.insert("$version".into(), Value::from(self.desired_version));
        Value::Object(m)
    }

    pub(crate) fn reported_json(&self) -> Value {
        let mut m = self.reported.clone();
        m.insert("$version".into(), Value::from(self.reported_version));
        Value::Object(m)
    }

    /// Records data that did not fit the template (the newest `RECENT_TELEMETRY` items).
    pub(crate) fn record_unmodeled(&mut self, items: Vec<crate::types::UnmodeledData>) {
        for item in items {
            tracing::info!(device_id = %item.device_id, kind = ?item.kind, name = %item.name, reason = %item.reason, "unmodeled data");
            if self.unmodeled.len() >= RECENT_TELEMETRY {
                self.unmodeled.pop_front();
            }
            self.unmodeled.push_back(item);
        }
    }

    /// Drops expired C2D messages.
    pub(crate) fn expire_c2d(&mut self, now: Instant) {
        self.c2d.retain(|m| m.expires > now);
    }
}

/// Status of a DPS registration operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegStatus {
    Assigning,
    Assigned,
}

/// A DPS registration.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) registration_id: String,
    pub(crate) operation_id: String,
    pub(crate) status: RegStatus,
    pub(crate) polls_left: u32,
    pub(crate) payload: Option<Value>,
    pub(crate) enrollment: String,
    pub(crate) auth: DeviceAuth,
    pub(crate) created: time::OffsetDateTime,
    pub(crate) last_updated: time::OffsetDateTime,
    pub(crate) etag: String,
    /// `true` once this registration id was assigned before (substatus
    /// `reprovisionedToInitialAssignment`).
    pub(crate) reprovisioned: bool,
}

/// One hub: its host name and where it listens.
#[derive(Debug, Clone)]
pub(crate) struct HubSettings {
    /// The host name devices address it by (username, SAS audience, `assignedHub`).
    pub(crate) hostname: String,
    /// The listen address of its MQTT, AMQP and HTTPS listeners (hub 0: the hub listener's).
    pub(crate) ip: std::net::IpAddr,
}

/// A SAS enrollment group besides the default one: device keys derive from its keys.
#[derive(Debug, Clone)]
pub(crate) struct SasGroup {
    pub(crate) id: String,
    /// Primary, then secondary key (base64); a device key derived from either is accepted.
    pub(crate) keys: Vec<String>,
}

/// An X.509 enrollment group.
#[derive(Debug, Clone)]
pub(crate) struct X509Group {
    pub(crate) id: String,
    pub(crate) cas: Vec<X509>,
}

/// A direct method waiting for its answer.
#[derive(Debug)]
pub(crate) struct PendingMethod {
    pub(crate) device_id: String,
    pub(crate) tx: oneshot::Sender<MethodResponse>,
}

/// The SHA-256 thumbprint of a DER certificate.
pub(crate) type Thumbprint = [u8; 32];

/// Mutable state behind one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) individual: HashMap<String, String>,
    pub(crate) x509_groups: Vec<X509Group>,
    /// Individual X.509 enrollments: the certificates (SHA-256 thumbprints, primary first)
    /// each registration id may present.
    pub(crate) x509_individual: HashMap<String, Vec<Thumbprint>>,
    /// SAS enrollment groups besides `SAS-IoT-Devices`.
    pub(crate) sas_groups: Vec<SasGroup>,
    /// Device-template interfaces by `@id`.
    pub(crate) templates: crate::templates::Interfaces,
    pub(crate) registrations: HashMap<String, Registration>,
    pub(crate) devices: HashMap<String, Device>,
    pub(crate) methods: HashMap<String, PendingMethod>,
    /// Injected faults and connection counters.
    pub(crate) faults: crate::fault::Faults,
    /// File uploads under way, stored blobs and upload notifications.
    pub(crate) files: crate::files::Files,
    /// DPS register requests accepted, by registration id (polls not counted).
    pub(crate) dps_registrations: HashMap<String, u64>,
}

/// Everything the listener and connection tasks share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) acceptor: SslAcceptor,
    pub(crate) state: Mutex<State>,
    pub(crate) telemetry: broadcast::Sender<TelemetryMessage>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Bumped whenever fault rules that open connections apply change (token max age).
    pub(crate) fault_epoch: watch::Sender<u64>,
    /// AMQP connections open now (TLS or WebSocket), after their OPEN.
    pub(crate) amqp_connections: std::sync::atomic::AtomicUsize,
    counter: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        settings: Settings,
        acceptor: SslAcceptor,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        let (telemetry, _) = broadcast::channel(4096);
        Shared {
            settings,
            acceptor,
            state: Mutex::new(State::default()),
            telemetry,
            shutdown,
            fault_epoch: watch::Sender::new(0),
            amqp_connections: std::sync::atomic::AtomicUsize::new(0),
            counter: AtomicU64::new(1),
        }
    }

    /// Tells open connections that fault rules changed.
    pub(crate) fn faults_changed(&self) {
        self.fault_epoch.send_modify(|e| *e = e.wrapping_add(1));
    }

    /// Locks the state (a poisoned lock is recovered: state stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A process-unique increasing number (connection ids, C2D ids, method request ids).
    pub(crate) fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The template id a model id maps to.
    pub(crate) fn template_for(state: &State, model_id: Option<&str>) -> Option<String> {
        model_id
            .filter(|m| state.templates.contains_key(*m))
            .map(str::to_owned)
    }
}
