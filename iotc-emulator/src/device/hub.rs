//! The hub operations of a connected device, whatever the transport: authentication, the
//! connection registry, telemetry, the twin, direct-method answers and cloud-to-device
//! settlement. The MQTT, AMQP and HTTPS front ends translate their wire formats to these calls,
//! so the service side sees one hub.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::HubError;
use crate::fault;
use crate::merge;
use crate::sas;
use crate::state::{ConnEntry, DeviceAuth, Outbound, Shared, Subs, OUTBOUND_CAPACITY};
use crate::tls::{chains_to, common_name, PeerCert};
use crate::types::{C2dMessage, DeviceProtocol, MethodResponse, TelemetryMessage};

/// Maximum telemetry size: body + system property values + application names and values.
pub(crate) const MAX_TELEMETRY: usize = 256 * 1024;

/// What authenticated a connection (for the `iothub-connection-auth-method` stamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthType {
    Sas,
    X509,
}

impl AuthType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AuthType::Sas => "sas",
            AuthType::X509 => "x509",
        }
    }
}

/// A successful authentication.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authenticated {
    pub(crate) auth_type: AuthType,
    /// For SAS: when the token expires by its `se`.
    pub(crate) expiry: Option<Instant>,
    /// For SAS: when the token was first presented (for `expire_tokens_after`).
    pub(crate) first_seen: Option<Instant>,
}

impl Authenticated {
    /// When the connection must close for its token: the real expiry or the
    /// `expire_tokens_after` age, whichever comes first. Read again when faults change.
    pub(crate) fn token_deadline(&self, shared: &Shared, device_id: &str) -> Option<Instant> {
        let by_age = self.first_seen.and_then(|first| {
            shared
                .lock()
                .faults
                .token_max_age(device_id)
                .map(|m| fault::deadline(first, m))
        });
        [self.expiry, by_age].into_iter().flatten().min()
    }
}

/// Authenticates a device with a SAS token (`password`, empty for X.509) or the TLS client
/// certificate. `host` is the hub host name the device addressed (username or audience).
/// Returns the reason on refusal; the caller logs it and refuses with its transport's code.
pub(crate) fn authenticate(
    shared: &Shared,
    device_id: &str,
    host: &str,
    password: &str,
    cert: Option<&PeerCert>,
) -> Result<Authenticated, &'static str> {
    // The hub the device addressed (an unknown host: hub 0, as with one hub).
    let hub = crate::hubs::hub_named(&shared.settings, host).unwrap_or(0);
    let (auth, groups, enrolled) = {
        let state = shared.lock();
        let device = state
            .devices
            .get(device_id)
            .ok_or("device not registered")?;
        if crate::hubs::device_hub(&shared.settings, device) != hub {
            // IoT hub does not know a device assigned to another hub (or failed over).
            return Err("device not registered on this hub");
        }
        (
            device.auth.clone(),
            state.x509_groups.clone(),
            state.x509_individual.get(device_id).cloned(),
        )
    };
    match auth {
        DeviceAuth::Sas { key } => {
            if password.is_empty() {
                return Err("SAS device without a password");
            }
            let token = sas::SasToken::parse(password).map_err(|_| "malformed SAS token")?;
            if token.skn.is_some() {
                return Err("shared access policies are not emulated");
            }
            let path = crate::ids::identity_resource(device_id);
            let hub_hostname = shared
                .settings
                .hubs
                .get(hub)
                .map_or(shared.settings.hub_hostname.as_str(), |h| {
                    h.hostname.as_str()
                });
            let resources = [format!("{hub_hostname}/{path}"), format!("{host}/{path}")];
            let refs = [resources[0].as_str(), resources[1].as_str()];
            let expiry = match sas::validate(password, &key, &refs, sas::now_secs()) {
                Ok(expiry) => expiry,
                Err(sas::SasError::Expired) => return Err("SAS token expired"),
                Err(sas::SasError::WrongAudience) => return Err("SAS token audience mismatch"),
                Err(_) => return Err("SAS signature mismatch"),
            };
            let first_seen = token_first_seen(shared, device_id, password, Instant::now())?;
            Ok(Authenticated {
                auth_type: AuthType::Sas,
                expiry: Some(expiry_instant(expiry)),
                first_seen: Some(first_seen),
            })
        }
        DeviceAuth::X509 { group } => {
            if !password.is_empty() {
                return Err("X.509 device sent a password");
            }
            let cert = cert.ok_or("no client certificate")?;
            if common_name(&cert.leaf).as_deref() != Some(device_id) {
                return Err("client certificate CN does not match the device id");
            }
            // An individual X.509 enrollment names the device's certificates.
            if let Some(enrolled) = enrolled {
                return if crate::credentials::is_enrolled(&enrolled, cert) {
                    Ok(Authenticated {
                        auth_type: AuthType::X509,
                        expiry: None,
                        first_seen: None,
                    })
                } else {
                    Err("client certificate is not the device's enrolled certificate")
                };
            }
            let group = groups
                .iter()
                .find(|g| g.id == group)
                .ok_or("enrollment group removed")?;
            if chains_to(cert, &group.cas) {
                Ok(Authenticated {
                    auth_type: AuthType::X509,
                    expiry: None,
                    first_seen: None,
                })
            } else {
                Err("client certificate does not chain to the enrollment CA")
            }
        }
    }
}

/// When this token was first presented (for the `expire_tokens_after` fault); refuses a token
/// older than the fault allows.
fn token_first_seen(
    shared: &Shared,
    device_id: &str,
    token: &str,
    now: Instant,
) -> Result<Instant, &'static str> {
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut state = shared.lock();
    let first = state.faults.token_seen(device_id, hash, now);
    match state.faults.token_max_age(device_id) {
        Some(m) if now >= fault::deadline(first, m) => {
            Err("SAS token expired (expire_tokens_after)")
        }
        _ => Ok(first),
    }
}

/// The instant a token expiring at `se` (unix seconds) stops being valid: `se` (to the
/// sub-second, against the system clock) when that is still ahead, or `se` + the 5-minute skew
/// for a token accepted within the skew.
pub(crate) fn expiry_instant(se: i64) -> Instant {
    let now = Instant::now();
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let se = Duration::from_secs(u64::try_from(se).unwrap_or(0));
    let at = if se > now_unix {
        se
    } else {
        se + Duration::from_secs(sas::CLOCK_SKEW_SECS.unsigned_abs())
    };
    fault::deadline(now, at.saturating_sub(now_unix))
}

/// True when `host` names one of the emulator's hubs: its host name (case-insensitive),
/// optionally with `:{port}` of the MQTT or AMQP listener (every hub uses the same ports).
pub(crate) fn host_matches(shared: &Shared, host: &str) -> bool {
    shared.settings.hubs.iter().any(|hub| {
        let expected = &hub.hostname;
        if host.eq_ignore_ascii_case(expected) {
            return true;
        }
        match host.rsplit_once(':') {
            Some((h, port)) => {
                h.eq_ignore_ascii_case(expected)
                    && (port == shared.settings.hub_port.to_string()
                        || port == shared.settings.amqp_port.to_string())
            }
            None => false,
        }
    })
}

/// How a connection presents itself when it attaches.
#[derive(Debug)]
pub(crate) struct AttachOptions<'a> {
    /// MQTT CleanSession: forget the subscriptions of an earlier session.
    pub(crate) clean_session: bool,
    /// The model id the device announced.
    pub(crate) model_id: Option<&'a str>,
    /// The client's user agent (`DeviceClientType`).
    pub(crate) device_client_type: Option<&'a str>,
    /// The connection's transport.
    pub(crate) transport: crate::fault::Transport,
    /// Whether it runs over a WebSocket (the device list's protocol column).
    pub(crate) websocket: bool,
}

/// The protocol column's value for a connection over `transport`.
fn protocol_of(transport: crate::fault::Transport, websocket: bool) -> DeviceProtocol {
    use crate::fault::Transport;
    match (transport, websocket) {
        (Transport::Mqtt, false) => DeviceProtocol::Mqtt,
        (Transport::Mqtt, true) => DeviceProtocol::MqttWs,
        (Transport::Amqp, false) => DeviceProtocol::Amqp,
        (Transport::Amqp, true) => DeviceProtocol::AmqpWs,
        (Transport::Https, _) => DeviceProtocol::Https,
    }
}

/// Records that `device_id` reached the hub over HTTPS (an authenticated device-API request).
pub(crate) fn note_https(shared: &Shared, device_id: &str) {
    if let Some(device) = shared.lock().devices.get_mut(device_id) {
        device.protocol = Some(DeviceProtocol::Https);
    }
}

/// A connection registered for a device.
pub(crate) struct Attached {
    pub(crate) conn_id: u64,
    /// What the service side sends to this connection.
    pub(crate) rx: mpsc::Receiver<Outbound>,
    /// The subscription filters carried over from an earlier session (CleanSession 0).
    pub(crate) filters: Vec<String>,
}

/// Registers a connection of `device_id`, closing its previous one (IoT hub keeps one
/// connection per device, 400027). `None` when the device is not registered.
pub(crate) fn attach(
    shared: &Shared,
    device_id: &str,
    options: AttachOptions<'_>,
) -> Option<Attached> {
    let conn_id = shared.next_id();
    let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
    let mut state = shared.lock();
    let device = state.devices.get_mut(device_id)?;
    if options.clean_session {
        device.persistent_filters.clear();
    }
    let filters = device.persistent_filters.clone();
    // The front end publishes what the restored filters subscribe to (`set_subs`).
    let subs = Subs::default();
    if let Some(old) = device.conn.replace(ConnEntry {
        conn_id,
        transport: options.transport,
        tx,
        subs,
    }) {
        tracing::info!(
            device_id,
            "closing previous connection of the device (400027)"
        );
        let _ = old.tx.try_send(Outbound::Close);
    }
    if let Some(m) = options.model_id {
        device.model_id = Some(m.to_owned());
    }
    device.device_client_type = options.device_client_type.map(str::to_owned);
    device.protocol = Some(protocol_of(options.transport, options.websocket));
    Some(Attached {
        conn_id,
        rx,
        filters,
    })
}

/// Records the model id a device announced after attaching (AMQP link properties).
pub(crate) fn set_model_id(shared: &Shared, device_id: &str, model_id: &str) {
    if let Some(device) = shared.lock().devices.get_mut(device_id) {
        device.model_id = Some(model_id.to_owned());
    }
}

/// Unregisters a connection, unless a newer one of the device replaced it.
pub(crate) fn detach(shared: &Shared, device_id: &str, conn_id: u64) {
    let mut state = shared.lock();
    if let Some(device) = state.devices.get_mut(device_id) {
        if device.conn.as_ref().is_some_and(|c| c.conn_id == conn_id) {
            device.conn = None;
        }
    }
}

/// Publishes what the connection listens to. `persistent`: the subscription filters that
/// outlive the connection (MQTT CleanSession 0); `None` keeps none.
pub(crate) fn set_subs(
    shared: &Shared,
    device_id: &str,
    conn_id: u64,
    subs: Subs,
    persistent: Option<Vec<String>>,
) {
    let mut state = shared.lock();
    if let Some(device) = state.devices.get_mut(device_id) {
        if let Some(conn) = device.conn.as_mut().filter(|c| c.conn_id == conn_id) {
            conn.subs = subs;
        }
        device.persistent_filters = persistent.unwrap_or_default();
    }
}

/// Builds a telemetry message as IoT hub enqueues it: the device's system and application
/// properties plus the hub's stamps. Errors with 413 when the message exceeds 256 KB.
pub(crate) fn telemetry(
    shared: &Shared,
    device_id: &str,
    auth_type: AuthType,
    mut system: BTreeMap<String, String>,
    application: BTreeMap<String, String>,
    body: Bytes,
) -> Result<TelemetryMessage, HubError> {
    let size = body.len()
        + system.values().map(String::len).sum::<usize>()
        + application
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if size > MAX_TELEMETRY {
        return Err(HubError::new(
            413,
            413_001,
            format!("telemetry of {size} bytes exceeds 256 KB"),
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let generation_id = shared
        .lock()
        .devices
        .get(device_id)
        .map(|d| d.generation_id.clone())
        .unwrap_or_default();
    let (device_id, module_id) = crate::ids::split_identity(device_id);
    system.insert("iothub-connection-device-id".into(), device_id.to_owned());
    if let Some(m) = module_id {
        system.insert("iothub-connection-module-id".into(), m.to_owned());
    }
    system.insert(
        "iothub-connection-auth-method".into(),
        format!(
            r#"{{"scope":"{}","type":"{}","issuer":"iothub"}}"#,
            if module_id.is_some() {
                "module"
            } else {
                "device"
            },
            auth_type.name()
        ),
    );
    system.insert("iothub-connection-auth-generation-id".into(), generation_id);
    system.insert("iothub-enqueuedtime".into(), crate::ids::service_time(now));
    Ok(TelemetryMessage {
        device_id: device_id.to_owned(),
        module_id: module_id.map(str::to_owned),
        component: system.get("sub").cloned(),
        body: body.to_vec(),
        system_properties: system,
        application_properties: application,
        enqueued_time: now,
    })
}

/// Stores a telemetry message (recent messages, the template check) and hands it to the
/// service side's subscribers.
pub(crate) fn publish_telemetry(shared: &Shared, msg: TelemetryMessage) {
    {
        let mut state = shared.lock();
        let state = &mut *state;
        if let Some(device) = state.devices.get_mut(&msg.device_id) {
            if device.recent.len() >= crate::state::RECENT_TELEMETRY {
                device.recent.pop_front();
            }
            device.recent.push_back(msg.clone());
            let checker = crate::templates::Checker::new(
                &state.templates,
                device.model_id.as_deref(),
                &msg.device_id,
            );
            if let Some(items) = checker.map(|c| c.telemetry(msg.component.as_deref(), &msg.body)) {
                device.record_unmodeled(items);
            }
        }
    }
    let _ = shared.telemetry.send(msg);
}

/// The device's twin as a device reads it: `{"desired": …, "reported": …}` with `$version`s.
pub(crate) fn twin(shared: &Shared, device_id: &str) -> Result<Value, HubError> {
    let state = shared.lock();
    match state.devices.get(device_id) {
        Some(d) => Ok(json!({"desired": d.desired_json(), "reported": d.reported_json()})),
        None => Err(HubError::new(404, 404_001, "device not found")),
    }
}

/// Applies a reported-properties patch (JSON merge patch); returns the new reported version.
pub(crate) fn patch_reported(
    shared: &Shared,
    device_id: &str,
    body: &[u8],
) -> Result<u64, HubError> {
    let patch: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(HubError::new(
                400,
                400_004,
                "reported patch is not a JSON object",
            ))
        }
    };
    merge::validate_patch(&patch).map_err(|m| HubError::new(400, 400_004, m))?;
    let mut state = shared.lock();
    let state = &mut *state;
    let device = state
        .devices
        .get_mut(device_id)
        .ok_or_else(|| HubError::new(404, 404_001, "device not found"))?;
    let mut merged = device.reported.clone();
    merge::merge_patch(&mut merged, &patch);
    if merge::section_size(&merged) > merge::MAX_SECTION_BYTES {
        return Err(HubError::new(
            400,
            400_004,
            "reported properties exceed 32 KB",
        ));
    }
    device.reported = merged;
    device.reported_version += 1;
    let checker =
        crate::templates::Checker::new(&state.templates, device.model_id.as_deref(), device_id);
    if let Some(items) = checker.map(|c| c.reported(&patch)) {
        device.record_unmodeled(items);
    }
    Ok(device.reported_version)
}

/// Hands a device's answer to a direct method to the waiting invoker. Answers for unknown or
/// expired requests, or for another device's request, are ignored.
pub(crate) fn method_response(
    shared: &Shared,
    device_id: &str,
    rid: &str,
    status: i32,
    payload: &[u8],
) {
    let pending = {
        let mut state = shared.lock();
        match state.methods.get(rid) {
            Some(m) if m.device_id == device_id => state.methods.remove(rid),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        tracing::debug!(
            device_id,
            rid,
            "method response for unknown or expired request"
        );
        return;
    };
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
    };
    let _ = pending.tx.send(MethodResponse { status, payload });
}

/// The queued C2D messages not yet handed to connection `conn_id`, oldest first; they are
/// marked as sent on it.
pub(crate) fn pending_c2d(
    shared: &Shared,
    device_id: &str,
    conn_id: u64,
) -> Vec<(u64, Arc<C2dMessage>)> {
    let mut state = shared.lock();
    let Some(device) = state.devices.get_mut(device_id) else {
        return Vec::new();
    };
    device.expire_c2d(Instant::now());
    device
        .c2d
        .iter_mut()
        .filter(|m| m.sent_on != Some(conn_id))
        .map(|m| {
            m.sent_on = Some(conn_id);
            m.delivery_count += 1;
            (m.id, m.message.clone())
        })
        .collect()
}

/// The device completed (acknowledged) a C2D message: it leaves the queue. False when the
/// message is not queued (expired, or settled before).
pub(crate) fn complete_c2d(shared: &Shared, device_id: &str, id: u64) -> bool {
    remove_c2d(shared, device_id, id)
}

/// The device rejected a C2D message: it leaves the queue for good (IoT hub dead-letters it).
pub(crate) fn reject_c2d(shared: &Shared, device_id: &str, id: u64) -> bool {
    let removed = remove_c2d(shared, device_id, id);
    if removed {
        tracing::info!(device_id, id, "C2D message rejected by the device");
    }
    removed
}

/// The device abandoned a C2D message: it stays queued and is delivered again.
pub(crate) fn abandon_c2d(shared: &Shared, device_id: &str, id: u64) -> bool {
    let mut state = shared.lock();
    let Some(m) = state
        .devices
        .get_mut(device_id)
        .and_then(|d| d.c2d.iter_mut().find(|m| m.id == id))
    else {
        return false;
    };
    m.sent_on = None;
    m.lock = None;
    true
}

/// A C2D message handed out over HTTPS, locked until settled or until the lock ends.
pub(crate) struct LockedC2d {
    pub(crate) id: u64,
    pub(crate) message: Arc<C2dMessage>,
    pub(crate) lock_token: String,
    pub(crate) delivery_count: u32,
    /// When the message expires (its time to live).
    pub(crate) expires: Instant,
}

/// HTTPS receive (protocol.md 6.3): locks the oldest queued message that is not locked (or
/// whose lock ended) for `lock`, with a fresh lock token.
pub(crate) fn lock_next_c2d(shared: &Shared, device_id: &str, lock: Duration) -> Option<LockedC2d> {
    let token = crate::ids::random_uuid();
    let mut state = shared.lock();
    let device = state.devices.get_mut(device_id)?;
    let now = Instant::now();
    device.expire_c2d(now);
    let m = device
        .c2d
        .iter_mut()
        .find(|m| m.lock.as_ref().is_none_or(|(_, until)| *until <= now))?;
    m.lock = Some((token.clone(), now + lock));
    m.delivery_count += 1;
    Some(LockedC2d {
        id: m.id,
        message: m.message.clone(),
        lock_token: token,
        delivery_count: m.delivery_count,
        expires: m.expires,
    })
}

/// The queue id of the message locked with `lock_token`, while the lock holds.
pub(crate) fn c2d_by_lock(shared: &Shared, device_id: &str, lock_token: &str) -> Option<u64> {
    let state = shared.lock();
    let now = Instant::now();
    state
        .devices
        .get(device_id)?
        .c2d
        .iter()
        .find(|m| {
            m.lock
                .as_ref()
                .is_some_and(|(t, until)| t == lock_token && *until > now)
        })
        .map(|m| m.id)
}

fn remove_c2d(shared: &Shared, device_id: &str, id: u64) -> bool {
    let mut state = shared.lock();
    let Some(device) = state.devices.get_mut(device_id) else {
        return false;
    };
    let before = device.c2d.len();
    device.c2d.retain(|m| m.id != id);
    device.c2d.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_error_body() {
        let e = HubError::new(400, 400_004, "bad");
        assert_eq!(e.body(), json!({"errorCode": 400_004, "message": "bad"}));
    }

    #[test]
    fn expiry_within_skew_gets_the_skew() {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let ahead = expiry_instant(now_unix + 100);
        assert!(ahead > Instant::now() + Duration::from_secs(98));
        let past = expiry_instant(now_unix - 10);
        let skew = Duration::from_secs(sas::CLOCK_SKEW_SECS.unsigned_abs());
        assert!(past > Instant::now() + skew - Duration::from_secs(12));
        assert!(past < Instant::now() + skew);
    }
}
