//! The IoT hub links of a device on an AMQP connection (protocol.md 5.3–5.6): telemetry,
//! cloud-to-device messages with dispositions, twin requests and notifications, direct methods.
//! Each link runs in its own task; the device's task forwards what the service side sends and
//! closes every link of the device when its token expires without renewal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fe2o3_amqp::acceptor::LinkEndpoint;
use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp::types::definitions::{self, AmqpError, ErrorCondition, Fields, LinkError};
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Body, Message, MessageAnnotations, MessageId, Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol, Timestamp, Value};
use fe2o3_amqp::{Receiver, Sender};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::conn::{
    close_link, error, link_killed, link_property, AmqpConn, DeviceLinks, Inner, LinkKill,
};
use super::msg::{
    annotation, app_property, body_bytes, correlation_id, data_body, id_from_text, id_text,
    simple_text, value_text, AmqpMessage,
};
use crate::device::faults::{self, Ack, Operation};
use crate::device::hub::{self as device_hub, AttachOptions, Authenticated};
use crate::fault::{AmqpLink, ConnectFault, FaultAction, FaultKind, OpFault, Transport};
use crate::state::Outbound;
use crate::types::C2dMessage;

/// Records a device authenticated by CBS on `conn`: a new device is connected to the hub at
/// once (IoT hub shows an AMQP device connected once its token is accepted, before any link);
/// a device already there gets its token renewed. Returns whether it was a renewal, `None`
/// when the device is not registered.
pub(crate) fn authenticated(
    conn: &Arc<AmqpConn>,
    device_id: &str,
    auth: Authenticated,
    client: Option<&str>,
) -> Option<bool> {
    let device = {
        let mut devices = conn.devices.lock().ok()?;
        // A device whose links are closing (its session ended) starts over.
        if let Some(device) = devices.get(device_id).filter(|d| d.is_open()) {
            if let Ok(mut inner) = device.inner.lock() {
                inner.auth = Some(auth);
            }
            device.renewed.send_modify(|n| *n += 1);
            return Some(true);
        }
        let device = DeviceLinks::new(conn, device_id, auth);
        devices.insert(device_id.to_owned(), device.clone());
        device
    };
    if start(&device, None, client) {
        Some(false)
    } else {
        if let Ok(mut devices) = conn.devices.lock() {
            devices.remove(device_id);
        }
        None
    }
}

impl DeviceLinks {
    fn new(conn: &Arc<AmqpConn>, device_id: &str, auth: Authenticated) -> Arc<DeviceLinks> {
        Arc::new(DeviceLinks {
            conn: conn.clone(),
            device_id: device_id.to_owned(),
            inner: Mutex::new(Inner {
                auth: Some(auth),
                ..Inner::default()
            }),
            close: watch::channel(None).0,
            renewed: watch::channel(0).0,
            sessions: Mutex::new(Vec::new()),
            links: AtomicUsize::new(0),
        })
    }

    /// Records a session the device's links attached on (ended by `KillAmqpSession`); while
    /// that fault lasts, the new session is ended too.
    pub(crate) fn add_session(&self, end: watch::Sender<Option<definitions::Error>>) {
        if let Some((kind, FaultAction::EndSession)) =
            faults::in_force(self.shared(), &self.device_id, Transport::Amqp)
        {
            tracing::info!(device_id = %self.device_id, "fault injection in force: ending the device's new AMQP session");
            let _ = end.send(Some(error(
                AmqpError::InternalError,
                fault_description(kind),
            )));
        }
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|s| !s.is_closed());
            sessions.push(end);
        }
    }

    /// Applies a fault the device asked for to its links, session or connection.
    fn apply_fault(&self, kind: FaultKind, action: FaultAction) {
        let description = fault_description(kind);
        match action {
            FaultAction::Close { abrupt } => {
                tracing::info!(device_id = %self.device_id, fault = kind.name(), abrupt, "fault injection: closing the AMQP connection");
                let e = definitions::Error::new(
                    ErrorCondition::ConnectionError(definitions::ConnectionError::ConnectionForced),
                    Some(description),
                    None,
                );
                // `KillTcp` cuts the socket (a reset, or a FIN for `byebye`); the AMQP
                // connection faults close with a CLOSE frame.
                if kind == FaultKind::KillTcp {
                    self.conn.cut(abrupt);
                } else {
                    self.conn.close(Some(e));
                }
                self.end(None);
            }
            FaultAction::EndSession => {
                tracing::info!(device_id = %self.device_id, "fault injection: ending the device's AMQP session");
                let e = error(AmqpError::InternalError, description);
                if let Ok(sessions) = self.sessions.lock() {
                    for s in sessions.iter() {
                        let _ = s.send(Some(e.clone()));
                    }
                }
            }
            FaultAction::DetachLink(link) => {
                tracing::info!(device_id = %self.device_id, ?link, "fault injection: detaching an AMQP link");
                let device_id = match link {
                    AmqpLink::CbsRequest | AmqpLink::CbsResponse => None,
                    _ => Some(self.device_id.clone()),
                };
                let _ = self.conn.link_kill.send(Some(LinkKill {
                    device_id,
                    link,
                    error: detach_forced(kind),
                }));
            }
            FaultAction::Unauthorized => {
                tracing::info!(device_id = %self.device_id, "fault injection: the device's links closed as unauthorized");
                self.end(Some(error(AmqpError::UnauthorizedAccess, description)));
            }
        }
    }

    fn shared(&self) -> &crate::state::Shared {
        &self.conn.shared
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut i| f(&mut i))
    }

    fn closing(&self) -> watch::Receiver<Option<definitions::Error>> {
        self.close.subscribe()
    }

    fn sync_subs(&self) {
        let Some((conn_id, subs)) = self.with(|i| (i.conn_id, i.subs)) else {
            return;
        };
        if let Some(conn_id) = conn_id {
            device_hub::set_subs(self.shared(), &self.device_id, conn_id, subs, None);
        }
    }
}

/// How a fault's errors describe it (the clients' tests look for the fault's name).
pub(crate) fn fault_description(kind: FaultKind) -> String {
    format!("fault injection: {}", kind.name())
}

/// The error a link detached by `kind` carries.
pub(crate) fn detach_forced(kind: FaultKind) -> definitions::Error {
    definitions::Error::new(
        ErrorCondition::LinkError(LinkError::DetachForced),
        Some(fault_description(kind)),
        None,
    )
}

/// Which hub link a link attaching at `rest` (lower case, no trailing `/`) is.
fn link_role(rest: &str, link: &LinkEndpoint) -> Option<AmqpLink> {
    match (rest, link) {
        ("messages/events", LinkEndpoint::Receiver(_)) => Some(AmqpLink::Telemetry),
        ("messages/devicebound", LinkEndpoint::Sender(_)) => Some(AmqpLink::C2d),
        ("twin", LinkEndpoint::Receiver(_)) => Some(AmqpLink::TwinRequest),
        ("twin", LinkEndpoint::Sender(_)) => Some(AmqpLink::TwinResponse),
        ("methods/devicebound", LinkEndpoint::Sender(_)) => Some(AmqpLink::MethodRequest),
        ("methods/devicebound", LinkEndpoint::Receiver(_)) => Some(AmqpLink::MethodResponse),
        _ => None,
    }
}

/// Attaches one hub link of `device_id`.
pub(crate) async fn attach(
    conn: &Arc<AmqpConn>,
    device_id: &str,
    rest: &str,
    link: LinkEndpoint,
    properties: &Fields,
) -> Option<Arc<DeviceLinks>> {
    let unauthorized = |why: &str| error(AmqpError::UnauthorizedAccess, why.to_owned());
    let existing = conn.live_device(device_id);
    let device = match existing {
        Some(d) => d,
        None => match authenticate_without_cbs(conn, device_id) {
            Ok(d) => d,
            Err(reason) => {
                tracing::info!(peer = %conn.peer, device_id, reason, "hub link refused");
                close_link(link, unauthorized(reason)).await;
                return None;
            }
        },
    };
    if device.close.borrow().is_some() {
        close_link(link, unauthorized("the device's links are closed")).await;
        return None;
    }
    let model_id = link_property(properties, "com.microsoft:model-id");
    if device.with(|i| i.conn_id).flatten().is_none() {
        let client = link_property(properties, "com.microsoft:client-version");
        if !start(&device, model_id.as_deref(), client.as_deref()) {
            close_link(link, unauthorized("device not registered")).await;
            return None;
        }
    } else if let Some(model_id) = &model_id {
        device_hub::set_model_id(device.shared(), device_id, model_id);
    }
    let rest = rest.trim_end_matches('/').to_ascii_lowercase();
    let attached = device.clone();
    // A link a fault killed is detached again while the fault lasts.
    if let (Some(role), Some((kind, FaultAction::DetachLink(killed)))) = (
        link_role(&rest, &link),
        faults::in_force(device.shared(), device_id, Transport::Amqp),
    ) {
        if role == killed {
            tracing::info!(device_id, link = ?role, "fault injection in force: link detached again");
            close_link(link, detach_forced(kind)).await;
            return Some(attached);
        }
    }
    match (rest.as_str(), link) {
        ("messages/events", LinkEndpoint::Receiver(r)) => {
            spawn_link(&device, telemetry_link(device.clone(), r));
        }
        ("messages/devicebound", LinkEndpoint::Sender(s)) => {
            let (tx, rx) = mpsc::channel(64);
            let pending = device.with(|i| {
                i.c2d_out = Some(tx.clone());
                i.subs.c2d = true;
                i.conn_id
            });
            device.sync_subs();
            spawn_link(&device, c2d_link(device.clone(), s, rx));
            if let Some(Some(conn_id)) = pending {
                for item in device_hub::pending_c2d(device.shared(), &device.device_id, conn_id) {
                    let _ = tx.try_send(item);
                }
            }
        }
        ("twin", LinkEndpoint::Sender(s)) => {
            let (tx, rx) = mpsc::channel(64);
            device.with(|i| i.twin_out = Some(tx));
            spawn_link(
                &device,
                writer(device.clone(), s, rx, Some(AmqpLink::TwinResponse)),
            );
        }
        ("twin", LinkEndpoint::Receiver(r)) => {
            spawn_link(&device, twin_link(device.clone(), r));
        }
        ("methods/devicebound", LinkEndpoint::Sender(s)) => {
            let (tx, rx) = mpsc::channel(64);
            device.with(|i| {
                i.methods_out = Some(tx);
                i.subs.methods = true;
            });
            device.sync_subs();
            spawn_link(
                &device,
                writer(device.clone(), s, rx, Some(AmqpLink::MethodRequest)),
            );
        }
        // A module receives its inputs from the address it sends telemetry to.
        ("messages/events", LinkEndpoint::Sender(s)) if device_id.contains('/') => {
            let (tx, rx) = mpsc::channel(64);
            device.with(|i| {
                i.inputs_out = Some(tx);
                i.subs.inputs = true;
            });
            device.sync_subs();
            spawn_link(&device, writer(device.clone(), s, rx, None));
        }
        ("methods/devicebound", LinkEndpoint::Receiver(r)) => {
            spawn_link(&device, method_responses(device.clone(), r));
        }
        (other, link) => {
            tracing::info!(
                device_id,
                address = other,
                "hub link to an unknown node refused"
            );
            close_link(link, error(AmqpError::NotFound, format!("no node {other}"))).await;
        }
    }
    Some(attached)
}

/// Authenticates a device that did not put a token: by the TLS client certificate (X.509,
/// protocol.md 5.2), or by a SASL PLAIN login `{deviceId}@sas.{hubName}` with a SAS token.
fn authenticate_without_cbs(
    conn: &Arc<AmqpConn>,
    device_id: &str,
) -> Result<Arc<DeviceLinks>, &'static str> {
    let shared = &conn.shared;
    // No host name on this path: the device is judged on the hub it belongs to (with several
    // hubs, the wrong hub does not refuse it here; see `docs/emulator.md`, "Hubs and failover").
    let hub = crate::hubs::current_hostname(shared, device_id);
    let password = match &conn.sasl.plain {
        Some((user, password)) if user.split_once("@sas.").map(|(d, _)| d) == Some(device_id) => {
            password.clone()
        }
        _ => String::new(),
    };
    if password.is_empty() && conn.cert.is_none() {
        return Err("no CBS token for the device on this connection");
    }
    faults::count_attempt(shared, device_id);
    match faults::admit(shared, device_id, Transport::Amqp) {
        None => {}
        Some(ConnectFault::Refuse(_, reason)) => {
            tracing::info!(peer = %conn.peer, device_id, reason, "hub link refused (fault injection)");
            return Err(reason);
        }
        Some(ConnectFault::Cut) => {
            conn.cut(true);
            return Err("connection cut (fault injection)");
        }
        Some(ConnectFault::Close(reason)) => {
            conn.close(None);
            return Err(reason);
        }
    }
    let auth = device_hub::authenticate(shared, device_id, &hub, &password, conn.cert.as_ref())?;
    let device = DeviceLinks::new(conn, device_id, auth);
    if let Ok(mut devices) = conn.devices.lock() {
        devices.insert(device_id.to_owned(), device.clone());
    }
    Ok(device)
}

/// Registers the device's connection with the hub and starts its task. False when the device
/// is not registered.
fn start(device: &Arc<DeviceLinks>, model_id: Option<&str>, client: Option<&str>) -> bool {
    let Some(attached) = device_hub::attach(
        device.shared(),
        &device.device_id,
        AttachOptions {
            clean_session: true,
            model_id,
            device_client_type: client,
            transport: Transport::Amqp,
            websocket: device.conn.websocket,
        },
    ) else {
        return false;
    };
    device.with(|i| i.conn_id = Some(attached.conn_id));
    tracing::info!(
        peer = %device.conn.peer,
        device_id = %device.device_id,
        model_id = model_id.unwrap_or(""),
        client = client.unwrap_or(""),
        "device connected to hub over AMQP"
    );
    tokio::spawn(device_task(device.clone(), attached.conn_id, attached.rx));
    true
}

/// Forwards what the service side sends, and ends the device when its token expires, the hub
/// closes it, or its links close.
async fn device_task(device: Arc<DeviceLinks>, conn_id: u64, mut rx: mpsc::Receiver<Outbound>) {
    let shared = device.conn.shared.clone();
    let mut epoch = shared.fault_epoch.subscribe();
    let mut renewed = device.renewed.subscribe();
    let mut closing = device.closing();
    let deadline = |device: &DeviceLinks| {
        device
            .with(|i| i.auth)
            .flatten()
            .and_then(|a| a.token_deadline(&shared, &device.device_id))
            .map(Instant::from_std)
    };
    let mut token_deadline = deadline(&device);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::DesiredPatch { version, body }) => {
                    let (subscribed, out) = device.with(|i| (i.subs.desired, i.twin_out.clone())).unwrap_or((false, None));
                    if let (true, Some(out)) = (subscribed, out) {
                        let _ = out.try_send(desired_notification(version, &body));
                    }
                }
                Some(Outbound::Method { rid, name, payload }) => {
                    if let Some(Some(out)) = device.with(|i| i.methods_out.clone()) {
                        let _ = out.try_send(method_request(&rid, &name, &payload));
                    }
                }
                Some(Outbound::C2d { id, message }) => {
                    if let Some(Some(out)) = device.with(|i| i.c2d_out.clone()) {
                        let _ = out.try_send((id, message));
                    }
                }
                Some(Outbound::Input { input, message }) => {
                    if let Some(Some(out)) = device.with(|i| i.inputs_out.clone()) {
                        let _ = out.try_send(input_message(&input, &message));
                    }
                }
                Some(Outbound::Fault { kind, action }) => device.apply_fault(kind, action),
                Some(Outbound::Close) | None => {
                    device.end(Some(definitions::Error::new(
                        ErrorCondition::LinkError(LinkError::DetachForced),
                        Some("closed by the hub (newer connection of the same device, or service request)".to_owned()),
                        None,
                    )));
                }
            },
            _ = sleep_until_opt(token_deadline) => {
                tracing::info!(device_id = %device.device_id, "SAS token expired without renewal (401003); closing the device's links");
                device.end(Some(error(AmqpError::UnauthorizedAccess, "SAS token expired (401003)")));
            }
            r = renewed.changed() => {
                if r.is_ok() {
                    token_deadline = deadline(&device);
                }
            }
            r = epoch.changed() => {
                if r.is_ok() {
                    token_deadline = deadline(&device);
                }
            }
            _ = closing.changed() => break,
        }
        if closing.borrow().is_some() {
            break;
        }
    }
    if let Ok(mut devices) = device.conn.devices.lock() {
        if devices
            .get(&device.device_id)
            .is_some_and(|d| Arc::ptr_eq(d, &device))
        {
            devices.remove(&device.device_id);
        }
    }
    device_hub::detach(&shared, &device.device_id, conn_id);
    tracing::info!(device_id = %device.device_id, "device disconnected from hub (AMQP)");
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Waits until the device's links are to close; returns the error to close with.
async fn closed(closing: &mut watch::Receiver<Option<definitions::Error>>) -> definitions::Error {
    loop {
        if let Some(e) = closing.borrow().clone() {
            return e;
        }
        if closing.changed().await.is_err() {
            return error(AmqpError::InternalError, "device ended");
        }
    }
}

/// Waits until a link of `device` is to close: every link of the device closes, or a fault
/// detaches `link`. Returns the error to detach with.
async fn stopped(
    device: &DeviceLinks,
    closing: &mut watch::Receiver<Option<definitions::Error>>,
    kills: &mut watch::Receiver<Option<LinkKill>>,
    link: Option<AmqpLink>,
) -> definitions::Error {
    let killed = async {
        match link {
            Some(link) => link_killed(kills, Some(&device.device_id), link).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        e = closed(closing) => e,
        e = killed => e,
    }
}

/// Who ended a link of the device.
enum Detached {
    /// The device detached it (or its connection went).
    ByDevice,
    /// The hub: the device's links are closing, or a fault killed the link.
    ByHub,
}

/// Runs a link of the device, counted in its open links: when the device itself detaches the
/// last of them, it has left the hub (a downstream device leaving a gateway's shared session,
/// whose session stays) and is disconnected. Links the hub ends (faults, token expiry) do not
/// count as leaving: the device is expected to attach them again.
fn spawn_link(
    device: &Arc<DeviceLinks>,
    link: impl std::future::Future<Output = Detached> + Send + 'static,
) {
    device.links.fetch_add(1, Ordering::AcqRel);
    let device = device.clone();
    tokio::spawn(async move {
        let detached = link.await;
        let left = device.links.fetch_sub(1, Ordering::AcqRel) - 1;
        if left == 0 && matches!(detached, Detached::ByDevice) && device.is_open() {
            tracing::info!(device_id = %device.device_id, "the device detached its last link");
            device.end(None);
        }
    });
}

/// Sends pre-settled messages (twin answers, notifications, method requests) on `sender`.
async fn writer(
    device: Arc<DeviceLinks>,
    mut sender: Sender,
    mut rx: mpsc::Receiver<AmqpMessage>,
    link: Option<AmqpLink>,
) -> Detached {
    let mut closing = device.closing();
    let mut kills = device.conn.link_kill.subscribe();
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                let sendable = Sendable::builder().message(m).settled(true).build();
                if sender.send(sendable).await.is_err() {
                    return Detached::ByDevice;
                }
            }
            _ = sender.on_detach() => return Detached::ByDevice,
            e = stopped(&device, &mut closing, &mut kills, link) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), sender.close_with_error(e)).await;
                return Detached::ByHub;
            }
        }
    }
    let _ = sender.close().await;
    Detached::ByHub
}

/// The telemetry link: each message is enqueued for the service side, then settled
/// `accepted`, or `rejected` with the hub's error.
async fn telemetry_link(device: Arc<DeviceLinks>, mut receiver: Receiver) -> Detached {
    let mut closing = device.closing();
    let mut kills = device.conn.link_kill.subscribe();
    const LINK: Option<AmqpLink> = Some(AmqpLink::Telemetry);
    loop {
        let delivery = tokio::select! {
            d = receiver.recv::<Body<Value>>() => match d {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(device_id = %device.device_id, error = %e, "telemetry link ended");
                    return Detached::ByDevice;
                }
            },
            e = stopped(&device, &mut closing, &mut kills, LINK) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close_with_error(e)).await;
                return Detached::ByHub;
            }
        };
        if let Err(f) = faults::operation(device.shared(), &device.device_id, Operation::Telemetry)
        {
            let (status, code, message) = f.twin_error();
            // IoT hub's conditions: the SDKs map them to their throttling, quota and
            // unauthorized errors.
            let condition = match f {
                OpFault::Throttled => {
                    ErrorCondition::Custom(Symbol::from("com.microsoft:device-container-throttled"))
                }
                OpFault::Quota => {
                    ErrorCondition::Custom(Symbol::from("com.microsoft:quota-exceeded"))
                }
                OpFault::Unauthorized => ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess),
            };
            let e = definitions::Error::new(
                condition,
                Some(format!("{message} ({status}, {code})")),
                None,
            );
            let _ = receiver.reject(&delivery, e).await;
            continue;
        }
        let auth_type = device
            .with(|i| i.auth.map(|a| a.auth_type))
            .flatten()
            .unwrap_or(device_hub::AuthType::Sas);
        let message = delivery.message();
        let (system, application) = telemetry_properties(message);
        let body = Bytes::from(body_bytes(&message.body));
        match device_hub::telemetry(
            device.shared(),
            &device.device_id,
            auth_type,
            system,
            application,
            body,
        ) {
            Ok(msg) => {
                // Over AMQP the request is accepted at once; the fault starts after its delay.
                faults::request(
                    &device.conn.shared,
                    &device.device_id,
                    &msg.application_properties,
                    Transport::Amqp,
                );
                crate::edge::route_telemetry(&device.conn.shared, msg);
            }
            Err(e) => {
                let e = definitions::Error::new(
                    ErrorCondition::Custom(Symbol::from("com.microsoft:message-too-large")),
                    Some(format!("{} ({}, {})", e.message, e.status, e.code)),
                    None,
                );
                let _ = receiver.reject(&delivery, e).await;
                continue;
            }
        }
        match faults::telemetry_ack(device.shared(), &device.device_id) {
            Ack::Drop => {
                tracing::info!(device_id = %device.device_id, "telemetry disposition dropped (drop_acks)");
            }
            Ack::At(due) => {
                let disposer = receiver.disposer();
                let info = fe2o3_amqp::link::delivery::DeliveryInfo::from(&delivery);
                tokio::spawn(async move {
                    tokio::time::sleep_until(Instant::from_std(due)).await;
                    let _ = disposer.accept(info).await;
                });
            }
            Ack::Now => {
                let _ = receiver.accept(&delivery).await;
            }
        }
    }
}

/// The system and application properties of a telemetry message, named as over MQTT
/// (`mid`, `cid`, `ct`, `ce`, `sub`, `ctime`, …).
fn telemetry_properties(
    message: &AmqpMessage,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut system = BTreeMap::new();
    let mut application = BTreeMap::new();
    if let Some(p) = &message.properties {
        if let Some(id) = &p.message_id {
            system.insert("mid".into(), id_text(id));
        }
        if let Some(id) = &p.correlation_id {
            system.insert("cid".into(), id_text(id));
        }
        if let Some(ct) = &p.content_type {
            system.insert("ct".into(), ct.0.clone());
        }
        if let Some(ce) = &p.content_encoding {
            system.insert("ce".into(), ce.0.clone());
        }
        if let Some(to) = &p.to {
            system.insert("to".into(), to.clone());
        }
    }
    for (name, key) in [
        ("dt-subject", "sub"),
        ("iothub-interface-id", "ifid"),
        ("Diagnostic-Id", "diagid"),
        ("Correlation-Context", "diagctx"),
    ] {
        if let Some(v) = annotation(message, name).and_then(value_text) {
            system.insert(key.into(), v);
        }
    }
    if let Some(app) = &message.application_properties {
        for (name, value) in app.0.iter() {
            let Some(text) = simple_text(value) else {
                continue;
            };
            if name.eq_ignore_ascii_case("iothub-creation-time-utc") {
                system.insert("ctime".into(), text);
            } else if name.eq_ignore_ascii_case("iothub-message-schema") {
                system.insert("schema".into(), text);
            } else if name.eq_ignore_ascii_case("iothub-outputname") {
                // A module's output, as `$.on` over MQTT (protocol.md 8.4).
                system.insert("on".into(), text);
            } else {
                application.insert(name.clone(), text);
            }
        }
    }
    (system, application)
}

/// A message routed to a module input: the input name in the `x-opt-input-name` annotation,
/// the sender in `iothub-connection-device-id`/`-module-id` (protocol.md 8.4), the message's
/// properties and application properties as sent.
fn input_message(input: &str, message: &crate::types::TelemetryMessage) -> AmqpMessage {
    let system = &message.system_properties;
    let properties = Properties {
        message_id: system.get("mid").map(|v| MessageId::String(v.clone())),
        correlation_id: system.get("cid").map(|v| MessageId::String(v.clone())),
        content_type: system.get("ct").map(|v| Symbol::from(v.as_str())),
        content_encoding: system.get("ce").map(|v| Symbol::from(v.as_str())),
        ..Properties::default()
    };
    let mut annotations = MessageAnnotations::builder()
        .insert(
            OwnedKey::Symbol(Symbol::from("x-opt-input-name")),
            Value::String(input.to_owned()),
        )
        .insert(
            OwnedKey::Symbol(Symbol::from("iothub-connection-device-id")),
            Value::String(message.device_id.clone()),
        );
    if let Some(module) = &message.module_id {
        annotations = annotations.insert(
            OwnedKey::Symbol(Symbol::from("iothub-connection-module-id")),
            Value::String(module.clone()),
        );
    }
    let mut application = ApplicationProperties::builder();
    for (name, value) in &message.application_properties {
        application = application.insert(name.clone(), SimpleValue::String(value.clone()));
    }
    Message::builder()
        .properties(properties)
        .message_annotations(annotations.build())
        .application_properties(application.build())
        .body(data_body(message.body.clone()))
        .build()
}

/// A desired-property notification: no correlation id, the `version` annotation, the patch.
fn desired_notification(version: u64, body: &Bytes) -> AmqpMessage {
    Message::builder()
        .message_annotations(
            MessageAnnotations::builder()
                .insert(
                    OwnedKey::Symbol(Symbol::from("version")),
                    Value::Long(i64::try_from(version).unwrap_or(i64::MAX)),
                )
                .build(),
        )
        .body(data_body(body.to_vec()))
        .build()
}

/// A direct-method request: the request id as correlation id (a uuid when it is one),
/// `IoThub-methodname`, the JSON payload.
fn method_request(rid: &str, name: &str, payload: &Bytes) -> AmqpMessage {
    let properties = Properties {
        correlation_id: Some(id_from_text(rid)),
        message_id: Some(MessageId::String(rid.to_owned())),
        ..Properties::default()
    };
    Message::builder()
        .properties(properties)
        .application_properties(
            ApplicationProperties::builder()
                .insert("IoThub-methodname", SimpleValue::String(name.to_owned()))
                .build(),
        )
        .body(data_body(payload.to_vec()))
        .build()
}

/// Twin requests: GET, PATCH of reported properties, PUT/DELETE of the desired-property
/// subscription; each answered on the twin sender with the request's correlation id.
async fn twin_link(device: Arc<DeviceLinks>, mut receiver: Receiver) -> Detached {
    let mut closing = device.closing();
    let mut kills = device.conn.link_kill.subscribe();
    const LINK: Option<AmqpLink> = Some(AmqpLink::TwinRequest);
    loop {
        let delivery = tokio::select! {
            d = receiver.recv::<Body<Value>>() => match d {
                Ok(d) => d,
                Err(_) => return Detached::ByDevice,
            },
            e = stopped(&device, &mut closing, &mut kills, LINK) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close_with_error(e)).await;
                return Detached::ByHub;
            }
        };
        let _ = receiver.accept(&delivery).await;
        let request = delivery.into_message();
        let answer = twin_answer(&device, &request);
        if let Some(Some(out)) = device.with(|i| i.twin_out.clone()) {
            let _ = out.send(answer).await;
        } else {
            tracing::debug!(device_id = %device.device_id, "twin answer dropped: no twin receiver link");
        }
    }
}

fn twin_answer(device: &DeviceLinks, request: &AmqpMessage) -> AmqpMessage {
    let operation = annotation(request, "operation")
        .and_then(value_text)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let resource = annotation(request, "resource")
        .and_then(value_text)
        .unwrap_or_default();
    let failure = faults::operation(device.shared(), &device.device_id, Operation::Twin).err();
    let shared = device.shared();
    let id = &device.device_id;
    let (status, version, body): (u16, Option<u64>, Vec<u8>) = if let Some(f) = failure {
        let (status, code, message) = f.twin_error();
        let body = serde_json::json!({"errorCode": code, "message": message});
        (status, None, body.to_string().into_bytes())
    } else {
        match (operation.as_str(), resource.trim_end_matches('/')) {
            ("GET", _) => match device_hub::twin(shared, id) {
                Ok(twin) => (200, None, twin.to_string().into_bytes()),
                Err(e) => (e.status, None, e.body().to_string().into_bytes()),
            },
            ("PATCH", "/properties/reported") => {
                match device_hub::patch_reported(shared, id, &body_bytes(&request.body)) {
                    Ok(v) => (204, Some(v), Vec::new()),
                    Err(e) => (e.status, None, e.body().to_string().into_bytes()),
                }
            }
            ("PUT" | "DELETE", "/notifications/twin/properties/desired") => {
                let on = operation == "PUT";
                device.with(|i| i.subs.desired = on);
                device.sync_subs();
                (200, None, Vec::new())
            }
            _ => {
                let body = serde_json::json!({"errorCode": 400_004, "message": format!("unsupported twin operation {operation} {resource}")});
                (400, None, body.to_string().into_bytes())
            }
        }
    };
    let mut annotations = MessageAnnotations::builder().insert(
        OwnedKey::Symbol(Symbol::from("status")),
        Value::Int(i32::from(status)),
    );
    if let Some(v) = version {
        annotations = annotations.insert(
            OwnedKey::Symbol(Symbol::from("version")),
            Value::Long(i64::try_from(v).unwrap_or(i64::MAX)),
        );
    }
    let properties = Properties {
        correlation_id: correlation_id(request).cloned(),
        ..Properties::default()
    };
    Message::builder()
        .properties(properties)
        .message_annotations(annotations.build())
        .body(data_body(body))
        .build()
}

/// Direct-method answers: the correlation id names the request, `IoThub-status` the status.
async fn method_responses(device: Arc<DeviceLinks>, mut receiver: Receiver) -> Detached {
    let mut closing = device.closing();
    let mut kills = device.conn.link_kill.subscribe();
    const LINK: Option<AmqpLink> = Some(AmqpLink::MethodResponse);
    loop {
        let delivery = tokio::select! {
            d = receiver.recv::<Body<Value>>() => match d {
                Ok(d) => d,
                Err(_) => return Detached::ByDevice,
            },
            e = stopped(&device, &mut closing, &mut kills, LINK) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close_with_error(e)).await;
                return Detached::ByHub;
            }
        };
        let _ = receiver.accept(&delivery).await;
        let message = delivery.message();
        let Some(rid) = correlation_id(message).map(id_text) else {
            tracing::info!(device_id = %device.device_id, "method response without a correlation id ignored");
            continue;
        };
        let status = app_property(message, "IoThub-status")
            .and_then(simple_text)
            .and_then(|s| s.trim().parse::<i32>().ok());
        let Some(status) = status else {
            tracing::info!(device_id = %device.device_id, "method response without IoThub-status ignored");
            continue;
        };
        device_hub::method_response(
            device.shared(),
            &device.device_id,
            &rid,
            status,
            &body_bytes(&message.body),
        );
    }
}

/// Cloud-to-device messages: each is sent unsettled; the device's disposition settles it:
/// accepted completes, released or modified abandons (delivered again), rejected dead-letters.
async fn c2d_link(
    device: Arc<DeviceLinks>,
    mut sender: Sender,
    mut rx: mpsc::Receiver<(u64, Arc<C2dMessage>)>,
) -> Detached {
    let mut closing = device.closing();
    let mut kills = device.conn.link_kill.subscribe();
    const LINK: Option<AmqpLink> = Some(AmqpLink::C2d);
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some((id, message)) = item else { break };
                let delivery_count = device.shared().lock().devices.get(&device.device_id)
                    .and_then(|d| d.c2d.iter().find(|m| m.id == id).map(|m| m.delivery_count))
                    .unwrap_or(1);
                let amqp = c2d_message(&device.device_id, id, &message, delivery_count);
                let fut = match sender.send_batchable(amqp).await {
                    Ok(fut) => fut,
                    Err(e) => {
                        tracing::debug!(device_id = %device.device_id, error = %e, "C2D link ended");
                        return Detached::ByDevice;
                    }
                };
                let device = device.clone();
                tokio::spawn(async move {
                    let outcome = fut.await;
                    let shared = device.shared();
                    let id_ = &device.device_id;
                    match outcome {
                        Ok(Outcome::Accepted(_)) => {
                            device_hub::complete_c2d(shared, id_, id);
                        }
                        Ok(Outcome::Rejected(_)) => {
                            device_hub::reject_c2d(shared, id_, id);
                        }
                        Ok(_) => {
                            device_hub::abandon_c2d(shared, id_, id);
                            redeliver(&device);
                        }
                        Err(e) => tracing::debug!(device_id = %id_, error = %e, "C2D delivery not settled"),
                    }
                });
            }
            _ = sender.on_detach() => return Detached::ByDevice,
            e = stopped(&device, &mut closing, &mut kills, LINK) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), sender.close_with_error(e)).await;
                return Detached::ByHub;
            }
        }
    }
    let _ = sender.close().await;
    Detached::ByHub
}

/// Sends abandoned messages again on the device's C2D link.
fn redeliver(device: &DeviceLinks) {
    let Some((Some(conn_id), Some(out))) = device.with(|i| (i.conn_id, i.c2d_out.clone())) else {
        return;
    };
    for item in device_hub::pending_c2d(device.shared(), &device.device_id, conn_id) {
        let _ = out.try_send(item);
    }
}

fn timestamp(t: time::OffsetDateTime) -> Timestamp {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Timestamp::from_milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A C2D message as IoT hub sends it over AMQP (protocol.md 5.4).
fn c2d_message(device_id: &str, id: u64, message: &C2dMessage, delivery_count: u32) -> AmqpMessage {
    let properties = Properties {
        message_id: message.message_id.clone().map(MessageId::String),
        correlation_id: message.correlation_id.clone().map(MessageId::String),
        content_type: message.content_type.as_deref().map(Symbol::from),
        content_encoding: message.content_encoding.as_deref().map(Symbol::from),
        to: Some(format!("/devices/{device_id}/messages/deviceBound")),
        absolute_expiry_time: Some(timestamp(
            time::OffsetDateTime::now_utc() + crate::state::C2D_TTL,
        )),
        ..Properties::default()
    };
    let mut application = ApplicationProperties::builder();
    for (k, v) in &message.properties {
        application = application.insert(k.clone(), SimpleValue::String(v.clone()));
    }
    let annotations = MessageAnnotations::builder()
        .insert(
            OwnedKey::Symbol(Symbol::from("x-opt-sequence-number")),
            Value::Long(i64::try_from(id).unwrap_or(i64::MAX)),
        )
        .insert(
            OwnedKey::Symbol(Symbol::from("iothub-deliverycount")),
            Value::Int(i32::try_from(delivery_count.saturating_sub(1)).unwrap_or(i32::MAX)),
        )
        .insert(
            OwnedKey::Symbol(Symbol::from("iothub-enqueuedtime")),
            Value::Timestamp(timestamp(time::OffsetDateTime::now_utc())),
        )
        .build();
    Message::builder()
        .properties(properties)
        .application_properties(application.build())
        .message_annotations(annotations)
        .body(data_body(message.body.clone()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_properties_are_named_as_over_mqtt() {
        let p = Properties {
            message_id: Some(MessageId::String("m1".into())),
            content_type: Some(Symbol::from("application/json")),
            ..Properties::default()
        };
        let m: AmqpMessage = Message::builder()
            .properties(p)
            .message_annotations(
                MessageAnnotations::builder()
                    .insert(
                        OwnedKey::Symbol(Symbol::from("dt-subject")),
                        Value::String("thermostat1".into()),
                    )
                    .build(),
            )
            .application_properties(
                ApplicationProperties::builder()
                    .insert("alert", SimpleValue::String("yes".into()))
                    .insert(
                        "iothub-creation-time-utc",
                        SimpleValue::String("2024-05-01T08:00:00Z".into()),
                    )
                    .build(),
            )
            .body(data_body(b"{}".to_vec()))
            .build();
        let (system, application) = telemetry_properties(&m);
        assert_eq!(system.get("mid").map(String::as_str), Some("m1"));
        assert_eq!(
            system.get("ct").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(system.get("sub").map(String::as_str), Some("thermostat1"));
        assert_eq!(
            system.get("ctime").map(String::as_str),
            Some("2024-05-01T08:00:00Z")
        );
        assert_eq!(application.get("alert").map(String::as_str), Some("yes"));
        assert!(!application.contains_key("iothub-creation-time-utc"));
    }
}
