//! The [`Emulator`] handle: start-up, enrollments, templates and the service-side API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::conn::Role;
use crate::state::{
    c2d_topic, Outbound, PendingC2d, PendingMethod, Settings, Shared, X509Group, C2D_TTL,
    MAX_C2D_PENDING,
};
use crate::types::{
    C2dMessage, DeviceInfo, MethodResponse, RegistrationInfo, TelemetryMessage, TelemetryReceiver,
    Twin,
};
use crate::{merge, tls, wire, EmulatorError, ServiceError};

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
    /// for a group key that is not base64 or an empty ID scope or host name,
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

        let hub_port = hub_addr.port();
        let assigned_hub = if hub_port == 8883 {
            config.hub_hostname.clone()
        } else {
            format!("{}:{hub_port}", config.hub_hostname)
        };
        let retry = config.dps_retry_after;
        let settings = Settings {
            id_scope,
            group_key,
            hub_hostname: config.hub_hostname.clone(),
            hub_port,
            assigned_hub,
            dps_retry_after_secs: retry.as_secs() + u64::from(retry.subsec_nanos() > 0),
            dps_polls_before_assign: config.dps_polls_before_assign,
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
        tracing::info!(%dps_addr, %hub_addr, id_scope = %shared.settings.id_scope, "iotc-emulator started");
        Ok(Emulator {
            shared,
            dps_addr,
            hub_addr,
            ca_pem: server_tls.ca_pem.into(),
            _guard: Arc::new(Guard {
                shutdown: shutdown_tx,
            }),
        })
    }

    /// What a device passes as DPS endpoint: `{dps_hostname}:{port}`.
    pub fn dps_endpoint(&self) -> String {
        format!("{}:{}", self.dps_hostname(), self.dps_addr.port())
    }

    /// The DPS host name (as configured).
    pub fn dps_hostname(&self) -> &str {
        // Kept in the server names; stored separately for clarity.
        &self.shared_dps_hostname
    }
}
