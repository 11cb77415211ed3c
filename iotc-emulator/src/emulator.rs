//! The [`Emulator`] handle: configuration, start-up (listeners, TLS, settings) and the
//! endpoints devices are given. What the service side does lives in [`crate::service`],
//! enrollments in [`crate::enrollments`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::{Settings, Shared};
use crate::tls::Role;
use crate::{tls, EmulatorError};

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
    /// How many IoT hubs DPS spreads devices over (default 1; 0 counts as 1). Hub 0 is the hub
    /// configured above; hub `k` (`k ≥ 1`) is named `127.0.0.{k + 1}` and listens on that
    /// loopback address with hub 0's port numbers, so the listen addresses must not be
    /// unspecified (`0.0.0.0`) when `hubs > 1`. See [`Emulator::hubs`] and
    /// [`Emulator::manual_failover`].
    pub hubs: usize,
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
            hubs: 1,
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
    pub(crate) shared: Arc<Shared>,
    dps_addr: SocketAddr,
    pub(crate) hub_addr: SocketAddr,
    https_addr: SocketAddr,
    amqp_port: u16,
    pub(crate) ca_pem: Arc<str>,
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
    format!("0ne{}", crate::ids::random_hex(4).to_ascii_uppercase())
}

pub(crate) fn generate_key() -> Result<String, EmulatorError> {
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
    /// handshake timeout, more hubs than loopback addresses, or several hubs on unspecified
    /// listen addresses,
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

        let extra_hub_ips = crate::hubs::extra_hub_ips(
            config.hubs.max(1),
            &[
                config.dps_hostname.clone(),
                config.hub_hostname.clone(),
                dps_addr.ip().to_string(),
                hub_addr.ip().to_string(),
            ],
        );
        if extra_hub_ips.len() + 1 < config.hubs {
            return Err(EmulatorError::InvalidConfig(format!(
                "{} hubs do not fit in 127.0.0.2-127.0.0.255",
                config.hubs
            )));
        }
        if !extra_hub_ips.is_empty()
            && (dps_addr.ip().is_unspecified() || hub_addr.ip().is_unspecified())
        {
            return Err(EmulatorError::InvalidConfig(
                "hubs > 1 needs specific listen addresses (not 0.0.0.0 or ::)".into(),
            ));
        }
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            config.dps_hostname.clone(),
            config.hub_hostname.clone(),
        ];
        names.extend(extra_hub_ips.iter().map(ToString::to_string));
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
        // Hubs 1.. listen on their own loopback address with hub 0's port numbers.
        let mut extra_listeners = Vec::new();
        for ip in &extra_hub_ips {
            let ip = std::net::IpAddr::V4(*ip);
            extra_listeners.push((
                TcpListener::bind(SocketAddr::new(ip, hub_addr.port())).await?,
                TcpListener::bind(SocketAddr::new(ip, amqp_port)).await?,
                TcpListener::bind(SocketAddr::new(ip, https_addr.port())).await?,
            ));
        }
        let mut hubs = vec![crate::state::HubSettings {
            hostname: config.hub_hostname.clone(),
            ip: hub_addr.ip(),
        }];
        hubs.extend(extra_hub_ips.iter().map(|ip| crate::state::HubSettings {
            hostname: ip.to_string(),
            ip: std::net::IpAddr::V4(*ip),
        }));
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
            hubs,
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(settings, server_tls.acceptor, shutdown_rx));

        match hub_listener {
            Some(hub) => {
                tokio::spawn(crate::mqtt::serve(shared.clone(), dps_listener, Role::Dps));
                tokio::spawn(crate::mqtt::serve(shared.clone(), hub, Role::Hub));
            }
            None => {
                tokio::spawn(crate::mqtt::serve(shared.clone(), dps_listener, Role::Both));
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
        for (mqtt, amqp, https) in extra_listeners {
            tokio::spawn(crate::mqtt::serve(shared.clone(), mqtt, Role::Hub));
            tokio::spawn(crate::amqp::serve(shared.clone(), amqp, Role::Hub));
            tokio::spawn(crate::https::serve(shared.clone(), https));
        }
        tracing::info!(%dps_addr, %hub_addr, %https_addr, amqp_port, hubs = shared.settings.hubs.len(), id_scope = %shared.settings.id_scope, "iotc-emulator started");
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
                crate::edge::workload::serve(
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
}
