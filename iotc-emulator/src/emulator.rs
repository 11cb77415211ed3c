//! The [`Emulator`] handle: start-up, enrollments, templates and the service-side API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::conn::Role;
use crate::state::{
    Outbound, PendingC2d, PendingMethod, Settings, Shared, X509Group, C2D_TTL, MAX_C2D_PENDING,
};
use crate::types::{
    C2dMessage, DeviceInfo, MethodResponse, RegistrationInfo, TelemetryMessage, TelemetryReceiver,
    Twin, UnmodeledData,
};
use crate::{fault, merge, tls, wire, EmulatorError, RefuseCode, ServiceError};

/// Maximum direct-method payload (request and response).
const MAX_METHOD_PAYLOAD: usize = 128 * 1024;
/// Maximum C2D message size.
const MAX_C2D: usize = 64 * 1024;

/// Configuration of an [`Emulator`]. Every field has a default suited to tests.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address of the DPS listener (MQTT over TLS). Default `127.0.0.1:0` (a free port).
    pub dps_listen: SocketAddr,
    /// Address of the hub listener. `None` (default): the hub shares the DPS listener and the
    /// CONNECT username tells DPS from hub.
    pub hub_listen: Option<SocketAddr>,
    /// Host name devices use for DPS (put in the server certificate). Default `localhost`.
    pub dps_hostname: String,
    /// Host name of the hub (server certificate, SAS audience, `assignedHub`). Default
    /// `localhost`. DPS announces `assignedHub` as `{hub_hostname}:{port}` unless the hub port
    /// is 8883, where it announces the bare host name like the real service.
    pub hub_hostname: String,
    /// The DPS ID scope. `None` (default): generated, `0ne` + 8 upper-case hex digits.
    pub id_scope: Option<String>,
    /// The key (base64) of the default SAS enrollment group `SAS-IoT-Devices`. `None`
    /// (default): 64 random bytes.
    pub group_key: Option<String>,
    /// The `retry-after` DPS sends with `202` (rounded up to whole seconds). Default 1 s (the
    /// real service uses 3 s); zero is allowed.
    pub dps_retry_after: Duration,
    /// How many operation-status polls are needed before DPS answers `200 assigned`. Default 1
    /// (the first poll assigns); 0 makes the register request itself answer `200`.
    pub dps_polls_before_assign: u32,
    /// Time a client gets from the TCP accept to a complete CONNECT packet (TLS handshake
    /// included); a connection that has not sent its CONNECT by then is closed (half-open
    /// connections, slow-loris clients). Default 15 s; must not be zero. Tests of those cases
    /// use a few hundred milliseconds.
    pub handshake_timeout: Duration,
    /// Edge-hub mode: an edge device with module identities, routes and the workload API
    /// (see [`EdgeConfig`](crate::EdgeConfig)). Default `None`.
    pub edge: Option<crate::EdgeConfig>,
    /// Port of the HTTPS listener (device REST API, DPS REST, the file-upload blob store and
    /// WebSockets on `/$iothub/websocket`), bound on the DPS and hub listen addresses.
    /// `None` (default): 443 when the hub listens on 8883 (where the official SDKs expect
    /// it), a free port otherwise.
    pub https_port: Option<u16>,
    /// Port of the AMQP 1.0 listeners (TLS), on the DPS listener's address and, when the hub
    /// has its own address, on the hub's too. `None` (default): 5671 when the hub's MQTT port
    /// is 8883, else a free port. `Some(0)` also picks a free port.
    pub amqp_port: Option<u16>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            dps_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hub_listen: None,
            dps_hostname: "localhost".into(),
            hub_hostname: "localhost".into(),
            id_scope: None,
            group_key: None,
            dps_retry_after: Duration::from_secs(1),
            dps_polls_before_assign: 1,
            handshake_timeout: Duration::from_secs(15),
            edge: None,
            https_port: None,
            amqp_port: None,
        }
    }
}

/// Stops the listeners and connections when the last [`Emulator`] handle is dropped.
struct Guard {
    shutdown: watch::Sender<bool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// A running local IoT Central (DPS + IoT hub over MQTT 3.1.1/TLS).
///
/// Cheap to clone; all clones control the same emulator. Dropping the last clone stops the
/// listeners and closes every device connection.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), iotc_emulator::EmulatorError> {
/// use iotc_emulator::{Emulator, EmulatorConfig};
/// let emulator = Emulator::start(EmulatorConfig::default()).await?;
/// println!("DPS {} scope {}", emulator.dps_endpoint(), emulator.id_scope());
/// let mut telemetry = emulator.telemetry();
/// if let Some(msg) = telemetry.recv().await {
///     println!("{}: {:?}", msg.device_id, msg.body_json());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
    dps_addr: SocketAddr,
    hub_addr: SocketAddr,
    https_addr: SocketAddr,
    amqp_port: u16,
    ca_pem: Arc<str>,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("dps_addr", &self.dps_addr)
            .field("hub_addr", &self.hub_addr)
            .field("id_scope", &self.shared.settings.id_scope)
            .finish_non_exhaustive()
    }
}

fn generate_scope() -> String {
    format!("0ne{}", crate::state::random_hex(4).to_ascii_uppercase())
}

fn generate_key() -> Result<String, EmulatorError> {
    let mut key = [0u8; 64];
    openssl::rand::rand_bytes(&mut key).map_err(|e| EmulatorError::Tls(e.to_string()))?;
    Ok(B64.encode(key))
}

impl Emulator {
    /// Binds the listeners, generates the CA and server certificate, and starts serving.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Io`] if an address cannot be bound, [`EmulatorError::InvalidConfig`]
    /// for a group key that is not base64, an empty ID scope or host name, or a zero
    /// handshake timeout,
    /// [`EmulatorError::Certificate`] / [`EmulatorError::Tls`] if TLS cannot be set up.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let id_scope = match config.id_scope {
            Some(s) if s.is_empty() || s.contains('/') => {
                return Err(EmulatorError::InvalidConfig(format!(
                    "invalid ID scope {s:?}"
                )))
            }
            Some(s) => s,
            None => generate_scope(),
        };
        let group_key = match config.group_key {
            Some(k) => {
                if B64.decode(&k).map(|b| b.is_empty()).unwrap_or(true) {
                    return Err(EmulatorError::InvalidConfig(
                        "group key is not valid base64".into(),
                    ));
                }
                k
            }
            None => generate_key()?,
        };
        for (name, v) in [
            ("dps_hostname", &config.dps_hostname),
            ("hub_hostname", &config.hub_hostname),
        ] {
            if v.is_empty() || v.contains('/') || v.contains(':') {
                return Err(EmulatorError::InvalidConfig(format!(
                    "{name} must be a bare host name, got {v:?}"
                )));
            }
        }

        if config.handshake_timeout.is_zero() {
            return Err(EmulatorError::InvalidConfig(
                "handshake_timeout must not be zero".into(),
            ));
        }

        let edge = match &config.edge {
            Some(edge) => {
                if edge.device_id.is_empty() || edge.device_id.contains('/') {
                    return Err(EmulatorError::InvalidConfig(format!(
                        "invalid edge device id {:?}",
                        edge.device_id
                    )));
                }
                Some(crate::edge::EdgeSettings::from_config(edge)?)
            }
            None => None,
        };

        let dps_listener = TcpListener::bind(config.dps_listen).await?;
        let dps_addr = dps_listener.local_addr()?;
        let hub_listener = match config.hub_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let hub_addr = match &hub_listener {
            Some(l) => l.local_addr()?,
            None => dps_addr,
        };

        let https_port = config
            .https_port
            .unwrap_or(if hub_addr.port() == 8883 { 443 } else { 0 });
        let first_https = TcpListener::bind(SocketAddr::new(dps_addr.ip(), https_port)).await?;
        let https_addr = first_https.local_addr()?;
        let mut https_listeners = vec![first_https];
        if hub_addr.ip() != dps_addr.ip() {
            https_listeners
                .push(TcpListener::bind(SocketAddr::new(hub_addr.ip(), https_addr.port())).await?);
        }

        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            config.dps_hostname.clone(),
            config.hub_hostname.clone(),
        ];
        for addr in [dps_addr, hub_addr] {
            if !addr.ip().is_unspecified() {
                names.push(addr.ip().to_string());
            }
        }
        let server_tls = tls::generate(&names)?;

        // AMQP: one listener on the DPS address, and one on the hub's when it differs.
        let amqp_port = match config.amqp_port {
            Some(p) => p,
            None if hub_addr.port() == 8883 => 5671,
            None => 0,
        };
        let amqp_dps = TcpListener::bind(SocketAddr::new(dps_addr.ip(), amqp_port)).await?;
        let amqp_port = amqp_dps.local_addr()?.port();
        let amqp_hub = if hub_addr.ip() != dps_addr.ip() {
            Some(TcpListener::bind(SocketAddr::new(hub_addr.ip(), amqp_port)).await?)
        } else {
            None
        };
        let assigned_hub_amqp = if amqp_port == 5671 {
            config.hub_hostname.clone()
        } else {
            format!("{}:{amqp_port}", config.hub_hostname)
        };

        let hub_port = hub_addr.port();
        let assigned_hub = if hub_port == 8883 {
            config.hub_hostname.clone()
        } else {
            format!("{}:{hub_port}", config.hub_hostname)
        };
        let https_assigned_hub = if https_addr.port() == 443 {
            config.hub_hostname.clone()
        } else {
            format!("{}:{}", config.hub_hostname, https_addr.port())
        };
        let retry = config.dps_retry_after;
        let settings = Settings {
            id_scope,
            dps_hostname: config.dps_hostname.clone(),
            group_key,
            hub_hostname: config.hub_hostname.clone(),
            hub_port,
            assigned_hub,
            amqp_port,
            assigned_hub_amqp,
            dps_retry_after_secs: retry.as_secs() + u64::from(retry.subsec_nanos() > 0),
            dps_polls_before_assign: config.dps_polls_before_assign,
            handshake_timeout: config.handshake_timeout,
            edge,
            workload_socket: config.edge.as_ref().and_then(|e| e.workload_socket.clone()),
            https_assigned_hub,
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(settings, server_tls.acceptor, shutdown_rx));

        match hub_listener {
            Some(hub) => {
                tokio::spawn(crate::conn::serve(shared.clone(), dps_listener, Role::Dps));
                tokio::spawn(crate::conn::serve(shared.clone(), hub, Role::Hub));
            }
            None => {
                tokio::spawn(crate::conn::serve(shared.clone(), dps_listener, Role::Both));
            }
        }
        for listener in https_listeners {
            tokio::spawn(crate::https::serve(shared.clone(), listener));
        }
        match amqp_hub {
            Some(hub) => {
                tokio::spawn(crate::amqp::serve(shared.clone(), amqp_dps, Role::Dps));
                tokio::spawn(crate::amqp::serve(shared.clone(), hub, Role::Hub));
            }
            None => {
                tokio::spawn(crate::amqp::serve(shared.clone(), amqp_dps, Role::Both));
            }
        }
        tracing::info!(%dps_addr, %hub_addr, %https_addr, amqp_port, id_scope = %shared.settings.id_scope, "iotc-emulator started");
        let emulator = Emulator {
            shared,
            dps_addr,
            hub_addr,
            https_addr,
            amqp_port,
            ca_pem: server_tls.ca_pem.into(),
            _guard: Arc::new(Guard {
                shutdown: shutdown_tx,
            }),
        };
        if let Some(edge) = &config.edge {
            emulator.register_device(&edge.device_id, None)?;
            if let Some(path) = &edge.workload_socket {
                crate::workload::serve(
                    emulator.shared.clone(),
                    path,
                    edge.device_id.clone(),
                    emulator.ca_pem.clone(),
                )
                .await?;
            }
        }
        Ok(emulator)
    }

    /// What a device passes as DPS endpoint: `{dps_hostname}:{port}`.
    pub fn dps_endpoint(&self) -> String {
        format!(
            "{}:{}",
            self.shared.settings.dps_hostname,
            self.dps_addr.port()
        )
    }

    /// What a device passes as DPS endpoint over AMQP: `{dps_hostname}:{amqp_port}`.
    pub fn dps_amqp_endpoint(&self) -> String {
        format!("{}:{}", self.shared.settings.dps_hostname, self.amqp_port)
    }

    /// `assignedHub` as DPS announces it over AMQP: the bare hub host name when AMQP listens
    /// on 5671, else `{hub_hostname}:{amqp_port}`.
    pub fn assigned_hub_amqp(&self) -> &str {
        &self.shared.settings.assigned_hub_amqp
    }

    /// The port of the AMQP 1.0 (TLS) listeners, DPS and hub.
    pub fn amqp_port(&self) -> u16 {
        self.amqp_port
    }

    /// The DPS host name (as configured).
    pub fn dps_hostname(&self) -> &str {
        &self.shared.settings.dps_hostname
    }

    /// The bound DPS listener address.
    pub fn dps_addr(&self) -> SocketAddr {
        self.dps_addr
    }

    /// The bound hub listener address (equal to [`dps_addr`](Self::dps_addr) when shared).
    pub fn hub_addr(&self) -> SocketAddr {
        self.hub_addr
    }

    /// The DPS ID scope.
    pub fn id_scope(&self) -> &str {
        &self.shared.settings.id_scope
    }

    /// The key (base64) of the default SAS enrollment group `SAS-IoT-Devices`; device keys are
    /// derived from it (`base64(HMAC-SHA256(key, registration id))`).
    pub fn group_key(&self) -> &str {
        &self.shared.settings.group_key
    }

    /// The hub host name (without port).
    pub fn hub_hostname(&self) -> &str {
        &self.shared.settings.hub_hostname
    }

    /// The bound HTTPS listener address (device REST API, DPS REST, blob store, WebSockets).
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// What a device passes as DPS endpoint for HTTPS and WebSockets:
    /// `{dps_hostname}:{https port}`.
    pub fn dps_https_endpoint(&self) -> String {
        format!(
            "{}:{}",
            self.shared.settings.dps_hostname,
            self.https_addr.port()
        )
    }

    /// The `assignedHub` DPS announces to devices that register on the HTTPS port (over
    /// HTTPS or WebSockets): `{hub_hostname}:{https port}`, or the bare host name on 443.
    pub fn https_assigned_hub(&self) -> &str {
        &self.shared.settings.https_assigned_hub
    }

    /// Every blob devices stored through file upload, by name.
    pub fn uploaded_files(&self) -> Vec<crate::UploadedBlob> {
        self.shared.lock().files.blobs()
    }

    /// The blob `blob_name` (`{deviceId}/{name}`), if a device stored it.
    pub fn uploaded_file(&self, blob_name: &str) -> Option<crate::UploadedBlob> {
        self.shared.lock().files.blob(blob_name)
    }

    /// Every file-upload notification devices sent, oldest first.
    pub fn file_upload_notifications(&self) -> Vec<crate::FileUploadNotification> {
        self.shared.lock().files.notifications()
    }

    /// The `assignedHub` DPS announces: `{hub_hostname}:{port}`, or the bare host name when
    /// the hub listens on 8883.
    pub fn assigned_hub(&self) -> &str {
        &self.shared.settings.assigned_hub
    }

    /// PEM of the generated CA that signed the server certificate (SANs: `localhost`,
    /// `127.0.0.1`, `::1`, both host names and the listen IPs). Devices must trust it.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The device key (base64) derived from the group key for `registration_id`, as a device
    /// of the default SAS group would compute it.
    pub fn derive_device_key(&self, registration_id: &str) -> String {
        crate::sas::derive_device_key(&self.shared.settings.group_key, registration_id)
            .unwrap_or_default()
    }

    /// Adds an X.509 enrollment group: devices presenting a TLS client certificate that chains
    /// to `ca_cert_pem` (one or more PEM certificates; an intermediate may be the anchor) and
    /// whose subject CN equals the registration id are accepted by DPS; the hub then accepts
    /// that device when it presents a certificate chaining to the same CA with CN = device id.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::Certificate`] if the PEM holds no certificate,
    /// [`EmulatorError::InvalidConfig`] for an empty group id.
    pub fn add_x509_enrollment_group(
        &self,
        group_id: &str,
        ca_cert_pem: &str,
    ) -> Result<(), EmulatorError> {
        if group_id.is_empty() {
            return Err(EmulatorError::InvalidConfig("empty group id".into()));
        }
        let cas = tls::parse_pem_certs(ca_cert_pem)?;
        let mut state = self.shared.lock();
        state.x509_groups.retain(|g| g.id != group_id);
        state.x509_groups.push(X509Group {
            id: group_id.to_owned(),
            cas,
        });
        Ok(())
    }

    /// Adds (or replaces) an individual SAS enrollment: the registration id authenticates with
    /// its own key (base64). It wins over the group enrollment.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] if the key is not base64 or the id is empty.
    pub fn add_individual_enrollment(
        &self,
        registration_id: &str,
        key_base64: &str,
    ) -> Result<(), EmulatorError> {
        if registration_id.is_empty() || registration_id.contains('/') {
            return Err(EmulatorError::InvalidConfig(format!(
                "invalid registration id {registration_id:?}"
            )));
        }
        if B64.decode(key_base64).map(|b| b.is_empty()).unwrap_or(true) {
            return Err(EmulatorError::InvalidConfig(
                "enrollment key is not valid base64".into(),
            ));
        }
        self.shared
            .lock()
            .individual
            .insert(registration_id.to_owned(), key_base64.to_owned());
        Ok(())
    }

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

    /// Invokes a direct method (command) and waits up to `timeout` for the answer. The request
    /// is published on `$iothub/methods/POST/{method_name}/?$rid={hex id}`; an empty payload is
    /// sent for `Value::Null`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`]; [`ServiceError::DeviceNotOnline`] if the device is not
    /// connected or not subscribed to `$iothub/methods/POST/#`; [`ServiceError::Timeout`];
    /// [`ServiceError::InvalidRequest`] for an invalid method name or a payload over 128 KB.
    pub async fn invoke_command(
        &self,
        device_id: &str,
        method_name: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<MethodResponse, ServiceError> {
        if !wire::valid_method_name(method_name) {
            return Err(ServiceError::InvalidRequest(format!(
                "invalid method name {method_name:?}"
            )));
        }
        let body = match &payload {
            Value::Null => Vec::new(),
            v => v.to_string().into_bytes(),
        };
        if body.len() > MAX_METHOD_PAYLOAD {
            return Err(ServiceError::InvalidRequest(
                "method payload exceeds 128 KB".into(),
            ));
        }
        let rid = format!("{:x}", self.shared.next_id());
        let (reply_tx, reply_rx) = oneshot::channel();
        let tx = {
            let mut state = self.shared.lock();
            let device = state
                .devices
                .get(device_id)
                .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
            let tx = device
                .conn
                .as_ref()
                .filter(|c| c.subs.methods)
                .map(|c| c.tx.clone())
                .ok_or_else(|| ServiceError::DeviceNotOnline(device_id.to_owned()))?;
            state.methods.insert(
                rid.clone(),
                PendingMethod {
                    device_id: device_id.to_owned(),
                    tx: reply_tx,
                },
            );
            tx
        };
        tracing::debug!(device_id, method_name, rid, "invoking direct method");
        let exchange = async {
            tx.send(Outbound::Method {
                rid: rid.clone(),
                name: method_name.to_owned(),
                payload: Bytes::from(body),
            })
            .await
            .map_err(|_| ServiceError::DeviceNotOnline(device_id.to_owned()))?;
            reply_rx
                .await
                .map_err(|_| ServiceError::DeviceNotOnline(device_id.to_owned()))
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ServiceError::Timeout),
        };
        let mut state = self.shared.lock();
        state.methods.remove(&rid);
        if let Ok(response) = &result {
            let state = &mut *state;
            if let Some(device) = state.devices.get_mut(device_id) {
                let checker = crate::templates::Checker::new(
                    &state.templates,
                    device.model_id.as_deref(),
                    device_id,
                );
                if let Some(checker) = checker {
                    let items =
                        checker.command_response(method_name, response.status, &response.payload);
                    device.record_unmodeled(items);
                }
            }
        }
        result
    }

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
                auth: d.auth_kind(),
                enrollment_group: d.enrollment_group.clone(),
                device_client_type: d.device_client_type.clone(),
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
                assigned_hub: self.shared.settings.assigned_hub.clone(),
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

    /// Closes the device's hub connection (fault injection: the device sees the network drop;
    /// the close is a TLS close_notify and FIN, the will message is sent). Returns whether a
    /// connection was open.
    pub fn disconnect_device(&self, device_id: &str) -> bool {
        let state = self.shared.lock();
        match state.devices.get(device_id).and_then(|d| d.conn.as_ref()) {
            Some(conn) => {
                let _ = conn.tx.try_send(Outbound::Close);
                true
            }
            None => false,
        }
    }

    /// For `duration` from now, the hub refuses every CONNECT of `device_id` (of every device
    /// with `None`) with `code`: CONNACK 5 ([`RefuseCode::NotAuthorized`]) or CONNACK 3
    /// ([`RefuseCode::ServerUnavailable`]). Open connections are not touched (combine with
    /// [`disconnect_device`](Self::disconnect_device)); DPS is not affected. A new call for the
    /// same target replaces the previous one; `Duration::ZERO` lifts it. Refused CONNECTs still
    /// count in [`connection_attempts`](Self::connection_attempts).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(emulator: iotc_emulator::Emulator) {
    /// use std::time::Duration;
    /// use iotc_emulator::RefuseCode;
    /// emulator.refuse_connections(Some("dev-01"), RefuseCode::ServerUnavailable, Duration::from_secs(3));
    /// emulator.disconnect_device("dev-01");
    /// // ... the device reconnects with backoff and gets CONNACK 3 for 3 s ...
    /// assert!(emulator.connection_attempts("dev-01") < 10, "retry storm");
    /// # }
    /// ```
    pub fn refuse_connections(
        &self,
        device_id: Option<&str>,
        code: RefuseCode,
        duration: Duration,
    ) {
        let until = fault::deadline(Instant::now(), duration);
        self.shared.lock().faults.refuse(device_id, code, until);
    }

    /// For `duration` from now the emulator is throttled: DPS answers register and
    /// operation-status requests with status `429` (`errorCode` 429001) and
    /// `retry-after={retry_after}` (whole seconds, rounded up); the hub refuses CONNECTs with
    /// CONNACK 3 (server busy), answers twin requests (GET, reported PATCH) with status `429`
    /// without applying them, and holds the PUBACK of QoS 1 telemetry until the throttle ends
    /// ("traffic shaping"; the message itself is accepted at once). Open connections stay open.
    /// A new call replaces the previous throttle; `Duration::ZERO` ends it.
    pub fn throttle(&self, duration: Duration, retry_after: Duration) {
        let until = fault::deadline(Instant::now(), duration);
        self.shared.lock().faults.set_throttle(until, retry_after);
    }

    /// From now on, the hub treats a SAS token of `device_id` (of every device with `None`) as
    /// expired `max_age` after the CONNECT that first presented it: it closes that connection
    /// then, as it does at the token's real expiry, and refuses (CONNACK 5) a later CONNECT
    /// presenting the same token. It applies to open connections too (counted from their
    /// CONNECT), so a renewal can be tested without waiting an hour. The real `se` still
    /// applies when it comes first. X.509 connections are not affected. A rule for a device wins
    /// over the rule for every device; a new call replaces the rule for the same target;
    /// [`clear_faults`](Self::clear_faults) removes them.
    pub fn expire_tokens_after(&self, device_id: Option<&str>, max_age: Duration) {
        self.shared
            .lock()
            .faults
            .set_token_max_age(device_id, max_age);
        self.shared.faults_changed();
    }

    /// Delays the acknowledgements the hub sends `device_id` by `delay`: the PUBACK of every
    /// QoS 1 publish (telemetry, twin requests, method responses) and the twin responses
    /// (`$iothub/twin/res/…`). The publish itself is processed at once (telemetry is recorded
    /// and delivered when it arrives). Applies to open and later connections until changed;
    /// `Duration::ZERO` removes the delay. Acknowledgements still pending when the connection
    /// closes are lost.
    pub fn delay_acks(&self, device_id: &str, delay: Duration) {
        self.shared.lock().faults.set_ack_delay(device_id, delay);
    }

    /// Silently drops the PUBACKs of the next `count` QoS 1 telemetry messages of `device_id`
    /// (on any connection). Each message is still recorded as received, so a client that
    /// resends it (at-least-once) produces a duplicate the test can count. Replaces the
    /// previous count; 0 cancels.
    pub fn drop_acks(&self, device_id: &str, count: u64) {
        self.shared.lock().faults.set_ack_drop(device_id, count);
    }

    /// The number of AMQP connections (over TLS or WebSockets) open now, DPS and hub alike:
    /// shows whether devices share a connection (a gateway multiplexing its downstream
    /// devices) or each has its own.
    pub fn open_amqp_connections(&self) -> usize {
        self.shared
            .amqp_connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The number of connection attempts the hub has seen for `device_id` (`{device}/{module}`
    /// for a module), accepted or refused, since the emulator started: MQTT CONNECT packets (the
    /// device id of the username, or the ClientId when the username is unusable) and AMQP
    /// authentications (the first CBS put-token of the device on a connection, or its first
    /// link on a certificate-authenticated connection; token renewals do not count). Not reset
    /// by [`clear_faults`](Self::clear_faults).
    pub fn connection_attempts(&self, device_id: &str) -> u64 {
        self.shared.lock().faults.hub_attempts(device_id)
    }

    /// The number of CONNECT packets DPS has seen for `registration_id` since the emulator
    /// started. Not reset by [`clear_faults`](Self::clear_faults).
    pub fn dps_attempts(&self, registration_id: &str) -> u64 {
        self.shared.lock().faults.dps_attempts(registration_id)
    }

    /// Removes every injected fault: connection refusals, the throttle, token max ages, ack
    /// delays and drops, and faults requested by devices through the fault-injection
    /// properties (a requested fault that has not started yet never starts). Acknowledgements
    /// already held back are still sent when due. Counters are kept.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
        self.shared.faults_changed();
    }
}

/// Edge-hub mode: module identities, leaf devices and the module side of the service API.
impl Emulator {
    /// The edge device id of the edge-hub mode, if configured.
    pub fn edge_device_id(&self) -> Option<&str> {
        self.shared
            .settings
            .edge
            .as_ref()
            .map(|e| e.device_id.as_str())
    }

    /// Registers a device identity directly in the hub registry (no DPS), its key derived from
    /// the group key; an existing identity is kept. Returns its key (base64).
    fn register_device(&self, key: &str, parent: Option<&str>) -> Result<String, EmulatorError> {
        let (device_id, _) = crate::state::split_identity(key);
        let new_key = if key.contains('/') {
            // Module keys are random, like the keys IoT hub generates (a failing random source
            // is an error, never a predictable key).
            let mut bytes = [0u8; 32];
            openssl::rand::rand_bytes(&mut bytes).map_err(|e| EmulatorError::Tls(e.to_string()))?;
            B64.encode(bytes)
        } else {
            crate::sas::derive_device_key(&self.shared.settings.group_key, device_id)
                .unwrap_or_default()
        };
        let mut state = self.shared.lock();
        let device = state.devices.entry(key.to_owned()).or_insert_with(|| {
            crate::state::Device::new(
                key.to_owned(),
                crate::state::DeviceAuth::Sas { key: new_key },
            )
        });
        if parent.is_some() {
            device.parent = parent.map(str::to_owned);
        }
        match &device.auth {
            crate::state::DeviceAuth::Sas { key } => Ok(key.clone()),
            crate::state::DeviceAuth::X509 { .. } => Err(EmulatorError::InvalidConfig(format!(
                "{key} authenticates with X.509; only SAS identities can be used here"
            ))),
        }
    }

    fn check_id(what: &str, id: &str) -> Result<(), EmulatorError> {
        if id.is_empty() || id.contains('/') || id.contains(char::is_whitespace) {
            return Err(EmulatorError::InvalidConfig(format!(
                "invalid {what} {id:?}"
            )));
        }
        Ok(())
    }

    /// Adds module identity `module_id` of device `device_id` (IoT hub's module identities;
    /// the device is registered too if it is not yet) and returns the module's key (base64).
    /// Adding an existing module returns its key. Modules connect over MQTT with ClientId
    /// `{device}/{module}` and a SAS token for `{hub}/devices/{device}/modules/{module}`, signed
    /// with this key (or, for the edge device's modules, through the workload API).
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] for an empty id or one with `/` or white space.
    pub fn add_module(&self, device_id: &str, module_id: &str) -> Result<String, EmulatorError> {
        Self::check_id("device id", device_id)?;
        Self::check_id("module id", module_id)?;
        self.register_device(device_id, None)?;
        self.register_device(
            &crate::state::identity_key(device_id, Some(module_id)),
            None,
        )
    }

    /// The generation id of a module identity (`IOTEDGE_MODULEGENERATIONID`), `None` if the
    /// module does not exist.
    pub fn module_generation_id(&self, device_id: &str, module_id: &str) -> Option<String> {
        self.shared
            .lock()
            .devices
            .get(&crate::state::identity_key(device_id, Some(module_id)))
            .map(|d| d.generation_id.clone())
    }

    /// Registers `device_id` as a leaf device of the edge device (its key derived from the
    /// group key, like a device of the default enrollment group; a device provisioned through
    /// DPS before keeps its identity) and returns its key (base64). A leaf device connects to
    /// the hub listener with its own identity (a connection string with `GatewayHostName`);
    /// its messages take the edge routes.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`] without the edge-hub mode, for an invalid id, or for a
    /// device that authenticates with X.509.
    pub fn add_leaf_device(&self, device_id: &str) -> Result<String, EmulatorError> {
        Self::check_id("device id", device_id)?;
        let edge = self
            .edge_device_id()
            .ok_or_else(|| {
                EmulatorError::InvalidConfig("the edge-hub mode is not configured".into())
            })?
            .to_owned();
        if edge == device_id {
            return Err(EmulatorError::InvalidConfig(
                "the edge device cannot be its own leaf device".into(),
            ));
        }
        self.register_device(device_id, Some(&edge))
    }

    /// The `IOTEDGE_*` environment the IoT Edge runtime would give `module_id` of the edge
    /// device: workload URI (`unix://{socket}`), device, module and generation ids, hub host,
    /// gateway host (`{hub host}:{port}` — the emulator's hub does not listen on 8883), API
    /// version and auth scheme. Empty without the edge-hub mode or a workload socket, or for
    /// an unknown module.
    pub fn edge_environment(&self, module_id: &str) -> Vec<(String, String)> {
        let (Some(edge), Some(socket)) = (self.edge_device_id(), self.workload_socket()) else {
            return Vec::new();
        };
        let Some(generation) = self.module_generation_id(edge, module_id) else {
            return Vec::new();
        };
        [
            (
                "IOTEDGE_WORKLOADURI",
                format!("unix://{}", socket.display()),
            ),
            ("IOTEDGE_DEVICEID", edge.to_owned()),
            ("IOTEDGE_MODULEID", module_id.to_owned()),
            ("IOTEDGE_MODULEGENERATIONID", generation),
            ("IOTEDGE_IOTHUBHOSTNAME", self.hub_hostname().to_owned()),
            (
                "IOTEDGE_GATEWAYHOSTNAME",
                format!("{}:{}", self.hub_hostname(), self.hub_addr.port()),
            ),
            ("IOTEDGE_APIVERSION", "2020-07-07".to_owned()),
            ("IOTEDGE_AUTHSCHEME", "sasToken".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn workload_socket(&self) -> Option<std::path::PathBuf> {
        self.shared.settings.workload_socket.clone()
    }

    /// A module's twin, `None` if the module does not exist.
    pub fn module_twin(&self, device_id: &str, module_id: &str) -> Option<Twin> {
        let mut twin = self.twin(&crate::state::identity_key(device_id, Some(module_id)))?;
        twin.device_id = device_id.to_owned();
        Some(twin)
    }

    /// Updates a module's desired properties, as [`update_desired`](Self::update_desired)
    /// does a device's.
    ///
    /// # Errors
    ///
    /// As [`update_desired`](Self::update_desired).
    pub async fn update_module_desired(
        &self,
        device_id: &str,
        module_id: &str,
        patch: Value,
    ) -> Result<u64, ServiceError> {
        self.update_desired(
            &crate::state::identity_key(device_id, Some(module_id)),
            patch,
        )
        .await
    }

    /// Invokes a direct method of a module, as [`invoke_command`](Self::invoke_command) does
    /// a device's (the module answers on the same `$iothub/methods/…` topics).
    ///
    /// # Errors
    ///
    /// As [`invoke_command`](Self::invoke_command).
    pub async fn invoke_module_command(
        &self,
        device_id: &str,
        module_id: &str,
        method_name: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<MethodResponse, ServiceError> {
        let key = crate::state::identity_key(device_id, Some(module_id));
        self.invoke_command(&key, method_name, payload, timeout)
            .await
    }
}
