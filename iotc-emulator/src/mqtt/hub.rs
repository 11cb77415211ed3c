//! The IoT hub over MQTT (protocol.md 4).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Packet, PubAck, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::QoS;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::dps::min_qos1;
use super::io::{keep_alive_timeout, password, refuse, ConnError, TlsIo};
use crate::device::faults::{self, Ack, Operation};
use crate::device::hub::{
    self as device_hub, host_matches, AttachOptions, Attached, Authenticated,
};
use crate::fault::{ConnectFault, FaultAction, Transport};
use crate::state::{Outbound, Shared, Subs};
use crate::tls::PeerCert;
use crate::types::{C2dMessage, TelemetryMessage};
use crate::wire;

/// Maximum subscriptions per connection.
const MAX_SUBSCRIPTIONS: usize = 5;

const METHODS_FILTER: &str = "$iothub/methods/POST/#";
const TWIN_RES_FILTER: &str = "$iothub/twin/res/#";
const DESIRED_FILTER: &str = "$iothub/twin/PATCH/properties/desired/#";

/// What a subscription filter means for this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    C2d,
    Methods,
    TwinRes,
    Desired,
    /// Module inputs: `devices/{d}/modules/{m}/inputs/#` or `devices/{d}/modules/{m}/#`.
    Inputs,
}

fn classify_filter(filter: &str, device_id: &str) -> Option<Filter> {
    match filter {
        METHODS_FILTER => return Some(Filter::Methods),
        TWIN_RES_FILTER => return Some(Filter::TwinRes),
        DESIRED_FILTER => return Some(Filter::Desired),
        _ => {}
    }
    let rest = filter.strip_prefix("devices/")?;
    if let (d, Some(m)) = crate::ids::split_identity(device_id) {
        let rest = rest.strip_prefix(d)?.strip_prefix("/modules/")?;
        let rest = rest.strip_prefix(m)?;
        return matches!(rest, "/inputs/#" | "/#").then_some(Filter::Inputs);
    }
    let (dev, rest) = rest.split_once('/')?;
    if (dev == device_id || dev == "+") && rest == "messages/devicebound/#" {
        Some(Filter::C2d)
    } else {
        None
    }
}

/// Serves one hub connection after its CONNECT.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    io: &mut TlsIo,
    connect: Connect,
    cert: Option<PeerCert>,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let username = connect
        .login
        .as_ref()
        .and_then(|l| wire::parse_hub_username(&l.username));
    // Counted per identity: `{device}`, or `{device}/{module}` for a module.
    let counted_id = username.as_ref().map_or(connect.client_id.clone(), |u| {
        crate::ids::identity_key(&u.device_id, u.module_id.as_deref())
    });
    faults::count_attempt(shared, &counted_id);
    let Some(username) = username else {
        tracing::info!(%peer, "hub CONNECT with unparsable username");
        refuse(io, ConnectReturnCode::BadUserNamePassword).await;
        return Ok(());
    };
    if username.api_version.is_none() {
        tracing::info!(%peer, "hub CONNECT username without api-version");
        refuse(io, ConnectReturnCode::BadUserNamePassword).await;
        return Ok(());
    }
    let expected_client_id = match &username.module_id {
        Some(m) => format!("{}/{m}", username.device_id),
        None => username.device_id.clone(),
    };
    if connect.client_id != expected_client_id {
        tracing::info!(%peer, "hub ClientId does not match the username");
        refuse(io, ConnectReturnCode::BadClientId).await;
        return Ok(());
    }
    // The registry key: `{device}` or `{device}/{module}` for a module identity.
    let device_id = crate::ids::identity_key(&username.device_id, username.module_id.as_deref());
    // Injected faults come first, as from a busy or faulted front end.
    match faults::admit(shared, &device_id, Transport::Mqtt) {
        Some(ConnectFault::Refuse(code, reason)) => {
            tracing::info!(%peer, device_id, reason, connack = code.connack_code(), "hub CONNECT refused (fault injection)");
            refuse(io, code.return_code()).await;
            return Ok(());
        }
        Some(ConnectFault::Close(reason)) => {
            tracing::info!(%peer, device_id, reason, "hub CONNECT refused (fault injection)");
            refuse(io, ConnectReturnCode::ServiceUnavailable).await;
            return Ok(());
        }
        Some(ConnectFault::Cut) => {
            return Err(ConnError::Abort(format!(
                "KillTcp fault of {device_id} in force: CONNECT cut"
            )));
        }
        None => {}
    }
    if !host_matches(shared, &username.host) {
        tracing::info!(%peer, device_id, host = %username.host, "hub CONNECT for another host");
        refuse(io, ConnectReturnCode::NotAuthorized).await;
        return Ok(());
    }
    let auth = match device_hub::authenticate(
        shared,
        &device_id,
        &username.host,
        password(&connect),
        cert.as_ref(),
    ) {
        Ok(v) => v,
        Err(reason) => {
            tracing::info!(%peer, device_id, reason, "hub CONNECT refused");
            refuse(io, ConnectReturnCode::NotAuthorized).await;
            return Ok(());
        }
    };
    let Some(Attached {
        conn_id,
        mut rx,
        filters,
    }) = device_hub::attach(
        shared,
        &device_id,
        AttachOptions {
            clean_session: connect.clean_session,
            model_id: username.model_id.as_deref(),
            device_client_type: username.device_client_type.as_deref(),
            transport: Transport::Mqtt,
            websocket: io.is_websocket(),
        },
    )
    else {
        refuse(io, ConnectReturnCode::NotAuthorized).await;
        return Ok(());
    };
    tracing::info!(
        %peer,
        device_id,
        api_version = username.api_version.as_deref().unwrap_or(""),
        model_id = username.model_id.as_deref().unwrap_or(""),
        client = username.device_client_type.as_deref().unwrap_or(""),
        "device connected to hub"
    );

    let will = connect
        .last_will
        .clone()
        .filter(|w| telemetry_bag(&w.topic, &device_id).is_some());
    let mut conn = HubConn {
        shared: shared.clone(),
        device_id: device_id.clone(),
        conn_id,
        auth,
        clean_session: connect.clean_session,
        filters: BTreeSet::new(),
        twin_res: false,
        inflight: HashMap::new(),
        inputs_inflight: BTreeSet::new(),
        next_pkid: 0,
        delayed: BTreeMap::new(),
        delayed_seq: 0,
    };
    // A CleanSession 0 session keeps its subscriptions (MQTT 3.1.1 section 3.1.2.4).
    conn.filters.extend(filters);
    conn.twin_res = conn
        .filters
        .iter()
        .any(|f| classify_filter(f, &device_id) == Some(Filter::TwinRes));
    let c2d_subscribed = conn
        .filters
        .iter()
        .any(|f| classify_filter(f, &device_id) == Some(Filter::C2d));
    conn.sync_subs();
    let result = async {
        io.write_packet(&Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            false,
        )))
        .await?;
        if c2d_subscribed {
            conn.deliver_pending_c2d(io).await?;
        }
        conn.run_loop(io, &mut rx, connect.keep_alive).await
    }
    .await;

    device_hub::detach(shared, &device_id, conn_id);
    let graceful = matches!(result, Ok(()));
    if !graceful {
        if let Some(will) = will {
            conn.send_will(will);
        }
    }
    tracing::info!(device_id, "device disconnected from hub");
    result
}

/// The property bag of a telemetry topic of `device_id` (a registry key: `{d}` or `{d}/{m}`,
/// whose topic is `devices/{d}/modules/{m}/messages/events/…`), `None` if the topic is not one.
fn telemetry_bag<'a>(topic: &'a str, device_id: &str) -> Option<&'a str> {
    let rest = topic.strip_prefix("devices/")?;
    let rest = match crate::ids::split_identity(device_id) {
        (d, Some(m)) => rest
            .strip_prefix(d)?
            .strip_prefix("/modules/")?
            .strip_prefix(m)?
            .strip_prefix('/')?,
        (d, None) => {
            let (dev, rest) = rest.split_once('/')?;
            if dev != d {
                return None;
            }
            rest
        }
    };
    if rest == "messages/events" {
        return Some("");
    }
    rest.strip_prefix("messages/events/")
}

/// A device-to-service event in the loop.
enum Event {
    Packet(Result<Packet, ConnError>),
    Out(Option<Outbound>),
    Idle,
    TokenExpired,
    /// Held-back packets are due.
    Delayed,
    /// Fault rules changed (`false`: the notifier is gone).
    FaultsChanged(bool),
}

struct HubConn {
    shared: Arc<Shared>,
    device_id: String,
    conn_id: u64,
    auth: Authenticated,
    clean_session: bool,
    filters: BTreeSet<String>,
    twin_res: bool,
    /// C2D packet id → queue id.
    inflight: HashMap<u16, u64>,
    /// Packet ids of module-input messages waiting for their PUBACK.
    inputs_inflight: BTreeSet<u16>,
    next_pkid: u16,
    /// Packets held back (`delay_acks`, throttling), by due time and sequence.
    delayed: BTreeMap<(std::time::Instant, u64), Packet>,
    delayed_seq: u64,
}

impl HubConn {
    fn token_deadline(&self) -> Option<Instant> {
        self.auth
            .token_deadline(&self.shared, &self.device_id)
            .map(Instant::from_std)
    }

    async fn run_loop(
        &mut self,
        io: &mut TlsIo,
        rx: &mut mpsc::Receiver<Outbound>,
        keep_alive: u16,
    ) -> Result<(), ConnError> {
        let idle = keep_alive_timeout(keep_alive);
        let mut epoch = self.shared.fault_epoch.subscribe();
        let mut epoch_open = true;
        let mut token_deadline = self.token_deadline();
        let mut last_activity = Instant::now();
        loop {
            let idle_deadline = idle.map(|d| last_activity + d);
            let next_delayed = self
                .delayed
                .keys()
                .next()
                .map(|(t, _)| Instant::from_std(*t));
            let event = tokio::select! {
                p = io.read_packet() => Event::Packet(p),
                o = rx.recv() => Event::Out(o),
                _ = sleep_until_opt(idle_deadline) => Event::Idle,
                _ = sleep_until_opt(token_deadline) => Event::TokenExpired,
                _ = sleep_until_opt(next_delayed) => Event::Delayed,
                r = epoch.changed(), if epoch_open => Event::FaultsChanged(r.is_ok()),
            };
            match event {
                Event::Packet(p) => {
                    last_activity = Instant::now();
                    match p? {
                        Packet::Disconnect => return Ok(()),
                        packet => self.handle_packet(io, packet).await?,
                    }
                }
                Event::Out(Some(Outbound::DesiredPatch { version, body })) => {
                    let topic =
                        format!("$iothub/twin/PATCH/properties/desired/?$version={version}");
                    let p = Publish::from_bytes(topic, QoS::AtMostOnce, body);
                    io.write_packet(&Packet::Publish(p)).await?;
                }
                Event::Out(Some(Outbound::Method { rid, name, payload })) => {
                    let topic = format!("$iothub/methods/POST/{name}/?$rid={rid}");
                    let p = Publish::from_bytes(topic, QoS::AtMostOnce, payload);
                    io.write_packet(&Packet::Publish(p)).await?;
                }
                Event::Out(Some(Outbound::C2d { id, message })) => {
                    self.write_c2d(io, id, &message).await?;
                }
                Event::Out(Some(Outbound::Input { input, message })) => {
                    self.write_input(io, &input, &message).await?;
                }
                Event::Out(Some(Outbound::Fault { kind, action })) => match action {
                    FaultAction::Close { abrupt: true } => {
                        return Err(ConnError::Abort(format!(
                            "fault injection ({}): connection cut",
                            kind.name()
                        )));
                    }
                    FaultAction::Close { abrupt: false } => {
                        return Err(ConnError::Protocol(format!(
                            "fault injection ({}): graceful shutdown",
                            kind.name()
                        )));
                    }
                    other => {
                        tracing::debug!(device_id = %self.device_id, ?other, "AMQP fault action on an MQTT connection ignored");
                    }
                },
                Event::Out(Some(Outbound::Close)) | Event::Out(None) => {
                    return Err(ConnError::Protocol(
                        "closed by the hub (newer connection of the same device, or service request)"
                            .into(),
                    ));
                }
                Event::Idle => return Err(ConnError::Protocol("keep-alive timeout".into())),
                Event::TokenExpired => {
                    tracing::info!(device_id = %self.device_id, "SAS token expired (401003); closing");
                    return Err(ConnError::Protocol("SAS token expired".into()));
                }
                Event::Delayed => {
                    let now = std::time::Instant::now();
                    while let Some(entry) = self.delayed.first_entry() {
                        if entry.key().0 > now {
                            break;
                        }
                        let packet = entry.remove();
                        io.write_packet(&packet).await?;
                    }
                }
                Event::FaultsChanged(open) => {
                    epoch_open = open;
                    token_deadline = self.token_deadline();
                }
            }
        }
    }

    /// Writes `packet` now, or holds it back until `due`.
    async fn send_at(
        &mut self,
        io: &mut TlsIo,
        packet: Packet,
        due: Option<std::time::Instant>,
    ) -> Result<(), ConnError> {
        match due {
            Some(t) if t > std::time::Instant::now() => {
                self.delayed_seq += 1;
                self.delayed.insert((t, self.delayed_seq), packet);
                Ok(())
            }
            _ => io.write_packet(&packet).await,
        }
    }

    /// When acknowledgements sent now are due (`delay_acks`), `None` for at once.
    fn ack_due(&self, _now: std::time::Instant) -> Option<std::time::Instant> {
        faults::ack_due(&self.shared, &self.device_id)
    }

    async fn handle_packet(&mut self, io: &mut TlsIo, packet: Packet) -> Result<(), ConnError> {
        match packet {
            Packet::PingReq => io.write_packet(&Packet::PingResp).await,
            Packet::Subscribe(sub) => {
                let mut codes = Vec::with_capacity(sub.filters.len());
                let mut new_c2d = false;
                for f in &sub.filters {
                    let kind = classify_filter(&f.path, &self.device_id);
                    let room =
                        self.filters.contains(&f.path) || self.filters.len() < MAX_SUBSCRIPTIONS;
                    match kind {
                        Some(kind) if room => {
                            self.filters.insert(f.path.clone());
                            match kind {
                                Filter::C2d => new_c2d = true,
                                Filter::TwinRes => self.twin_res = true,
                                Filter::Methods | Filter::Desired | Filter::Inputs => {}
                            }
                            codes.push(SubscribeReasonCode::Success(min_qos1(f.qos)));
                        }
                        _ => {
                            tracing::info!(device_id = %self.device_id, filter = %f.path, "subscription refused");
                            codes.push(SubscribeReasonCode::Failure);
                        }
                    }
                }
                self.sync_subs();
                io.write_packet(&Packet::SubAck(SubAck::new(sub.pkid, codes)))
                    .await?;
                if new_c2d {
                    self.deliver_pending_c2d(io).await?;
                }
                Ok(())
            }
            Packet::Unsubscribe(u) => {
                for t in &u.topics {
                    self.filters.remove(t);
                }
                self.twin_res = self
                    .filters
                    .iter()
                    .any(|f| classify_filter(f, &self.device_id) == Some(Filter::TwinRes));
                self.sync_subs();
                io.write_packet(&Packet::UnsubAck(UnsubAck::new(u.pkid)))
                    .await
            }
            Packet::PubAck(ack) => {
                self.inputs_inflight.remove(&ack.pkid);
                if let Some(id) = self.inflight.remove(&ack.pkid) {
                    device_hub::complete_c2d(&self.shared, &self.device_id, id);
                }
                Ok(())
            }
            Packet::Publish(p) => self.handle_publish(io, p).await,
            other => Err(ConnError::Protocol(format!("unexpected packet {other:?}"))),
        }
    }

    /// Publishes the current subscription flags to the shared state.
    fn sync_subs(&self) {
        let mut subs = Subs::default();
        for f in &self.filters {
            match classify_filter(f, &self.device_id) {
                Some(Filter::C2d) => subs.c2d = true,
                Some(Filter::Methods) => subs.methods = true,
                Some(Filter::Desired) => subs.desired = true,
                Some(Filter::Inputs) => subs.inputs = true,
                _ => {}
            }
        }
        let persistent = (!self.clean_session).then(|| self.filters.iter().cloned().collect());
        device_hub::set_subs(
            &self.shared,
            &self.device_id,
            self.conn_id,
            subs,
            persistent,
        );
    }

    async fn handle_publish(&mut self, io: &mut TlsIo, p: Publish) -> Result<(), ConnError> {
        if p.qos == QoS::ExactlyOnce {
            return Err(ConnError::Protocol("QoS 2 publish".into()));
        }
        tracing::debug!(device_id = %self.device_id, topic = %p.topic, len = p.payload.len(), "hub publish");
        let now = std::time::Instant::now();
        if let Some(bag) = telemetry_bag(&p.topic, &self.device_id) {
            if let Err(f) = faults::operation(&self.shared, &self.device_id, Operation::Telemetry) {
                // MQTT 3.1.1 PUBACKs carry no status: a refused message drops the connection
                // (protocol.md 4.8).
                let (status, code, _) = f.twin_error();
                return Err(ConnError::Protocol(format!(
                    "telemetry refused with {status} ({code}) during an injected fault"
                )));
            }
            let msg = self.telemetry(bag, p.payload.clone(), p.retain, None)?;
            let withheld = faults::request(
                &self.shared,
                &self.device_id,
                &msg.application_properties,
                Transport::Mqtt,
            );
            crate::edge::route_telemetry(&self.shared, msg);
            if withheld {
                return Ok(());
            }
            return self.ack_telemetry(io, &p).await;
        }
        let (path, query) = wire::split_topic_query(&p.topic);
        let query = wire::parse_query(query);
        let rid = wire::query_value(&query, "$rid").unwrap_or_default();
        let twin_get = path == "$iothub/twin/GET";
        if twin_get || path == "$iothub/twin/PATCH/properties/reported" {
            let due = self.ack_due(now);
            self.puback_at(io, &p, due).await?;
            let rid = wire::encode(&rid);
            let failure = faults::operation(&self.shared, &self.device_id, Operation::Twin);
            let (status, body) = if let Err(f) = failure {
                let (status, code, message) = f.twin_error();
                (
                    format!("{status}/?$rid={rid}"),
                    json!({"errorCode": code, "message": message}).to_string(),
                )
            } else if twin_get {
                let body = device_hub::twin(&self.shared, &self.device_id)
                    .map_err(|_| ConnError::Protocol("device deleted".into()))?;
                (format!("200/?$rid={rid}"), body.to_string())
            } else {
                match device_hub::patch_reported(&self.shared, &self.device_id, &p.payload) {
                    Ok(version) => (format!("204/?$rid={rid}&$version={version}"), String::new()),
                    Err(e) => (format!("{}/?$rid={rid}", e.status), e.body().to_string()),
                }
            };
            return self.twin_response(io, status, body, due).await;
        }
        if let Some(status) = path.strip_prefix("$iothub/methods/res/") {
            let due = self.ack_due(now);
            self.puback_at(io, &p, due).await?;
            self.method_response(status, &rid, &p.payload);
            return Ok(());
        }
        Err(ConnError::Protocol(format!(
            "publish to unsupported topic {}",
            p.topic
        )))
    }

    /// PUBACK of a QoS 1 publish, now or at `due`.
    async fn puback_at(
        &mut self,
        io: &mut TlsIo,
        p: &Publish,
        due: Option<std::time::Instant>,
    ) -> Result<(), ConnError> {
        if p.qos == QoS::AtLeastOnce {
            self.send_at(io, Packet::PubAck(PubAck::new(p.pkid)), due)
                .await?;
        }
        Ok(())
    }

    /// PUBACK of a telemetry message: now, later or never, as the device core decides
    /// (`drop_acks`, `delay_acks`, the service throttle).
    async fn ack_telemetry(&mut self, io: &mut TlsIo, p: &Publish) -> Result<(), ConnError> {
        if p.qos != QoS::AtLeastOnce {
            return Ok(());
        }
        match faults::telemetry_ack(&self.shared, &self.device_id) {
            Ack::Drop => {
                tracing::info!(device_id = %self.device_id, pkid = p.pkid, "telemetry PUBACK dropped (drop_acks)");
                Ok(())
            }
            Ack::Now => self.puback_at(io, p, None).await,
            Ack::At(due) => self.puback_at(io, p, Some(due)).await,
        }
    }

    async fn twin_response(
        &mut self,
        io: &mut TlsIo,
        status_and_query: String,
        body: String,
        due: Option<std::time::Instant>,
    ) -> Result<(), ConnError> {
        if !self.twin_res {
            tracing::debug!(device_id = %self.device_id, "twin response dropped: {TWIN_RES_FILTER} not subscribed");
            return Ok(());
        }
        let topic = format!("$iothub/twin/res/{status_and_query}");
        let packet = Packet::Publish(Publish::new(topic, QoS::AtMostOnce, body.into_bytes()));
        self.send_at(io, packet, due).await
    }

    /// Answers a method response topic's status (`{status}/`).
    fn method_response(&self, status: &str, rid: &str, payload: &[u8]) {
        let status = wire::decode(status.trim_end_matches('/'));
        let Ok(status) = status.parse::<i32>() else {
            tracing::warn!(device_id = %self.device_id, "method response with non-numeric status ignored");
            return;
        };
        device_hub::method_response(&self.shared, &self.device_id, rid, status, payload);
    }

    /// Builds a telemetry message from a topic's property bag and a body; errors (closing the
    /// connection) when the message exceeds 256 KB.
    fn telemetry(
        &self,
        bag: &str,
        body: Bytes,
        retain: bool,
        extra_app: Option<(&str, &str)>,
    ) -> Result<TelemetryMessage, ConnError> {
        let decoded = wire::decode_property_bag(bag);
        let mut application = decoded.application;
        if retain {
            application.insert("mqtt-retain".into(), "true".into());
        }
        if let Some((k, v)) = extra_app {
            application.insert(k.into(), v.into());
        }
        device_hub::telemetry(
            &self.shared,
            &self.device_id,
            self.auth.auth_type,
            decoded.system,
            application,
            body,
        )
        .map_err(|e| ConnError::Protocol(format!("{} ({})", e.message, e.code)))
    }

    fn send_will(&self, will: LastWill) {
        let Some(bag) = telemetry_bag(&will.topic, &self.device_id) else {
            return;
        };
        match self.telemetry(
            bag,
            will.message,
            will.retain,
            Some(("iothub-MessageType", "Will")),
        ) {
            Ok(msg) => {
                tracing::info!(device_id = %self.device_id, "sending will message as telemetry");
                device_hub::publish_telemetry(&self.shared, msg);
            }
            Err(e) => {
                tracing::info!(device_id = %self.device_id, error = %e, "will message dropped")
            }
        }
    }

    fn alloc_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid != 0
                && !self.inflight.contains_key(&self.next_pkid)
                && !self.inputs_inflight.contains(&self.next_pkid)
            {
                return self.next_pkid;
            }
        }
    }

    async fn write_c2d(
        &mut self,
        io: &mut TlsIo,
        id: u64,
        message: &C2dMessage,
    ) -> Result<(), ConnError> {
        if self.inflight.len() >= 1000 {
            return Ok(());
        }
        let pkid = self.alloc_pkid();
        self.inflight.insert(pkid, id);
        let topic = wire::c2d_topic(&self.device_id, message);
        let mut p = Publish::new(topic, QoS::AtLeastOnce, message.body.clone());
        p.pkid = pkid;
        tracing::debug!(device_id = %self.device_id, pkid, "delivering C2D message");
        io.write_packet(&Packet::Publish(p)).await
    }

    /// Delivers a message routed to input `input` of this module (QoS 1, protocol.md 8.4).
    async fn write_input(
        &mut self,
        io: &mut TlsIo,
        input: &str,
        message: &TelemetryMessage,
    ) -> Result<(), ConnError> {
        let (d, Some(m)) = crate::ids::split_identity(&self.device_id) else {
            return Ok(());
        };
        let topic = format!(
            "devices/{d}/modules/{m}/inputs/{}/{}",
            wire::encode(input),
            crate::edge::input_bag(message)
        );
        let pkid = self.alloc_pkid();
        self.inputs_inflight.insert(pkid);
        let mut p = Publish::new(topic, QoS::AtLeastOnce, message.body.clone());
        p.pkid = pkid;
        io.write_packet(&Packet::Publish(p)).await
    }

    /// Sends every pending C2D message not yet sent on this connection.
    async fn deliver_pending_c2d(&mut self, io: &mut TlsIo) -> Result<(), ConnError> {
        for (id, message) in device_hub::pending_c2d(&self.shared, &self.device_id, self.conn_id) {
            self.write_c2d(io, id, &message).await?;
        }
        Ok(())
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            classify_filter("devices/d1/messages/devicebound/#", "d1"),
            Some(Filter::C2d)
        );
        assert_eq!(
            classify_filter("devices/+/messages/devicebound/#", "d1"),
            Some(Filter::C2d)
        );
        assert_eq!(
            classify_filter("devices/d2/messages/devicebound/#", "d1"),
            None
        );
        assert_eq!(
            classify_filter("$iothub/methods/POST/#", "d1"),
            Some(Filter::Methods)
        );
        assert_eq!(
            classify_filter("$iothub/twin/res/#", "d1"),
            Some(Filter::TwinRes)
        );
        assert_eq!(
            classify_filter("$iothub/twin/PATCH/properties/desired/#", "d1"),
            Some(Filter::Desired)
        );
        assert_eq!(classify_filter("#", "d1"), None);
        assert_eq!(
            classify_filter("devices/e/modules/m/inputs/#", "e/m"),
            Some(Filter::Inputs)
        );
        assert_eq!(
            classify_filter("devices/e/modules/m/#", "e/m"),
            Some(Filter::Inputs)
        );
        assert_eq!(classify_filter("devices/e/modules/x/inputs/#", "e/m"), None);
        assert_eq!(
            classify_filter("devices/e/messages/devicebound/#", "e/m"),
            None
        );
        assert_eq!(classify_filter("devices/e/modules/m/inputs/#", "e"), None);
        assert_eq!(classify_filter("$iothub/methods/POST/reboot", "d1"), None);
    }

    #[test]
    fn telemetry_topics() {
        assert_eq!(telemetry_bag("devices/d1/messages/events/", "d1"), Some(""));
        assert_eq!(telemetry_bag("devices/d1/messages/events", "d1"), Some(""));
        assert_eq!(
            telemetry_bag("devices/d1/messages/events/%24.ct=x", "d1"),
            Some("%24.ct=x")
        );
        assert_eq!(telemetry_bag("devices/d2/messages/events/", "d1"), None);
        assert_eq!(
            telemetry_bag("devices/d1/modules/m/messages/events/", "d1"),
            None
        );
        assert_eq!(telemetry_bag("devices/d1/messages/eventsx", "d1"), None);
        assert_eq!(
            telemetry_bag("devices/e/modules/m/messages/events/%24.on=avg/", "e/m"),
            Some("%24.on=avg/")
        );
        assert_eq!(telemetry_bag("devices/e/messages/events/", "e/m"), None);
        assert_eq!(
            telemetry_bag("devices/e/modules/mx/messages/events/", "e/m"),
            None
        );
    }
}
