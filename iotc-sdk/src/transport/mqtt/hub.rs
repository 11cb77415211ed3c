//! The IoT hub MQTT connection task (protocol.md §4).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::topics;
use crate::auth::{hub_device_resource, hub_module_resource, SasToken};
use crate::pnp::{Twin, WritablePropertyUpdate};
use crate::transport::session::{fail, forward, EndReason, SessionEnd, SessionIo};
use crate::transport::{HubAuth, HubConfig, Inbound, Request};
use crate::{Error, Result};

/// A connected, subscribed hub session, ready to [`run`](HubSession::run).
///
/// Boxed: the session is moved into the supervisor's future and from there into `run`'s, and
/// every such future of an idle device holds it for the device's whole life. A pointer is
/// moved instead of the connection (about a kilobyte, most of it rumqttc's state).
pub(crate) struct HubSession(Box<Connection>);

/// What a [`HubSession`] holds.
struct Connection {
    client: AsyncClient,
    eventloop: EventLoop,
    device_id: String,
    /// `devices/{id}[/modules/{module}]/messages/events/`, built once.
    telemetry_prefix: String,
    /// Messages that arrived while connecting, handled first by `run`.
    early: Vec<Publish>,
    /// Whether `telemetry_prefix` has no MQTT wildcard. The rest of a telemetry topic is
    /// percent-encoded, so then no telemetry topic has one and none is checked again.
    telemetry_prefix_checked: bool,
    /// The twin read while connecting.
    twin: Option<Twin>,
    /// When the SAS token this connection presented expires (unix seconds), if the SDK signed
    /// it and can therefore renew it.
    token_expiry: Option<u64>,
}

/// Opens the connection: TLS, CONNECT with the SAS token or certificate, and the subscriptions
/// for C2D, methods, twin responses and desired-property patches.
pub(crate) async fn connect(config: &HubConfig) -> Result<HubSession> {
    let username = topics::hub_username(
        &config.hub_host,
        &config.device_id,
        config.module_id.as_deref(),
        config.model_id.as_deref(),
    );
    let resource = match &config.module_id {
        Some(module) => hub_module_resource(&config.hub_host, &config.device_id, module),
        None => hub_device_resource(&config.hub_host, &config.device_id),
    };
    let mut token_expiry = None;
    let (password, identity) = match &config.auth {
        HubAuth::Key(key) => {
            let token = SasToken::with_ttl(&resource, key, config.sas_ttl, None);
            token_expiry = Some(token.expiry_unix());
            (Some(token.as_secret().clone()), None)
        }
        HubAuth::Token(token) => (Some(token.as_secret().clone()), None),
        #[cfg(feature = "edge")]
        HubAuth::Workload(workload) => {
            let token = workload.token(&resource, config.sas_ttl).await?;
            token_expiry = Some(token.expiry_unix());
            (Some(token.as_secret().clone()), None)
        }
        HubAuth::X509(identity) => (None, Some(identity)),
    };
    let transport = super::MqttTransport::new(config.protocol, &config.tls, identity)?;
    let client_id = match &config.module_id {
        Some(module) => format!("{}/{module}", config.device_id),
        None => config.device_id.clone(),
    };
    let telemetry_prefix = topics::telemetry_prefix(&config.device_id, config.module_id.as_deref());
    debug!(host = %config.connect_host, port = config.port, device_id = %config.device_id, "connecting to IoT hub over MQTT");
    let (client, mut eventloop) = super::open(super::ConnectParams {
        host: config.connect_host.clone(),
        port: config.port,
        client_id,
        username,
        password,
        transport,
        keep_alive: config.keep_alive,
        clean_session: false,
        timeout: config.connect_timeout,
    })
    .await?;
    let mut filters = vec![
        super::filter(topics::METHODS_FILTER, QoS::AtMostOnce),
        super::filter(topics::TWIN_RESPONSE_FILTER, QoS::AtMostOnce),
        super::filter(topics::DESIRED_FILTER, QoS::AtMostOnce),
    ];
    match &config.module_id {
        None => filters.push(super::filter(
            topics::c2d_filter(&config.device_id),
            QoS::AtLeastOnce,
        )),
        // Modules have no C2D; they receive on their inputs (IoT Edge).
        Some(module) => filters.push(super::filter(
            topics::inputs_filter(&config.device_id, module),
            QoS::AtLeastOnce,
        )),
    }
    let mut early =
        super::subscribe(&client, &mut eventloop, filters, config.connect_timeout).await?;
    let twin = read_twin(&client, &mut eventloop, &mut early, config.connect_timeout).await?;
    info!(hub = %config.hub_host, device_id = %config.device_id, "connected to IoT hub");
    Ok(HubSession(Box::new(Connection {
        client,
        eventloop,
        device_id: config.device_id.clone(),
        telemetry_prefix_checked: rumqttc::valid_topic(&telemetry_prefix),
        telemetry_prefix,
        early,
        twin: Some(twin),
        token_expiry,
    })))
}

/// The `$rid` of the twin read at connect; requests of the session count from 1.
const CONNECT_TWIN_RID: &str = "0";

/// Reads the twin as part of connecting (the Plug and Play reconnection flow: subscribe, then
/// read the twin, then apply only newer patches). Other publishes are kept in `early`.
async fn read_twin(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    early: &mut Vec<Publish>,
    timeout: Duration,
) -> Result<Twin> {
    client
        .publish(
            topics::twin_get_topic(CONNECT_TWIN_RID),
            QoS::AtMostOnce,
            false,
            Vec::new(),
        )
        .await
        .map_err(|e| Error::Connection(e.to_string()))?;
    let read = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    match topics::parse_twin_response(&publish.topic) {
                        Some(r) if r.request_id == CONNECT_TWIN_RID => {
                            return match r.status {
                                200 => Twin::from_json(&publish.payload),
                                429 => Err(Error::Throttled {
                                    retry_after: Duration::from_secs(1),
                                }),
                                status => Err(Error::Rejected {
                                    status,
                                    message: String::from_utf8_lossy(&publish.payload).into_owned(),
                                }),
                            };
                        }
                        _ => early.push(publish),
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(super::connection_error(e)),
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(Error::Timeout(timeout, "the twin at connect")))
}

/// At most this many connection events are handled in a row before the requests waiting in
/// the channel are taken (the session's `select!` polls the connection first).
const FAIR_TURNS: u32 = 32;

/// A request handed to rumqttc, kept until it is done so it can go out again on the next
/// connection if this one breaks.
struct Tracked {
    seq: u64,
    request: Request,
}

/// QoS 1 telemetry written to the connection and waiting for its PUBACK.
struct Unacked {
    pkid: u16,
    sent: Instant,
    tracked: Tracked,
}

/// Why the session is winding down.
enum Drain {
    Close(oneshot::Sender<Result<()>>),
    Renew,
    Dropped,
}

/// Book-keeping of the running session.
#[derive(Default)]
struct State {
    /// Publishes handed to rumqttc, in order, until rumqttc writes them. `None` for publishes
    /// that need nothing kept (twin requests live in `twin`).
    unsent: VecDeque<Option<Tracked>>,
    /// QoS 1 telemetry waiting for its PUBACK, in send order. The hub acknowledges in that
    /// order, so the PUBACK's publish is nearly always the front one, and the front one is the
    /// oldest: no map, no hashing, no separate record of send times.
    unacked: VecDeque<Unacked>,
    /// Twin requests by `$rid`.
    twin: HashMap<String, Tracked>,
    /// Requests handed to rumqttc that it has not yet written.
    queued: usize,
    next_rid: u64,
    next_seq: u64,
    drain: Option<(Drain, Instant)>,
    disconnecting: bool,
}

impl State {
    fn rid(&mut self) -> String {
        self.next_rid += 1;
        self.next_rid.to_string()
    }

    fn track(&mut self, request: Request) -> Tracked {
        self.next_seq += 1;
        Tracked {
            seq: self.next_seq,
            request,
        }
    }

    /// When the oldest unacknowledged publish was sent.
    fn oldest_unacked(&self) -> Option<Instant> {
        self.unacked.front().map(|u| u.sent)
    }

    /// Takes the publish that PUBACK `pkid` acknowledges. rumqttc reuses a packet id only
    /// after its PUBACK, so at most one waiting publish has it.
    fn acknowledge(&mut self, pkid: u16) -> Option<Tracked> {
        let i = self.unacked.iter().position(|u| u.pkid == pkid)?;
        self.unacked.remove(i).map(|u| u.tracked)
    }

    fn in_flight(&self) -> bool {
        !self.unsent.is_empty() || !self.unacked.is_empty() || !self.twin.is_empty()
    }

    /// New requests from the handles are taken only while the session is open.
    fn accepts_requests(&self) -> bool {
        self.drain.is_none()
    }

    /// The backlog is fed while open, and while flushing for a close.
    fn accepts_backlog(&self) -> bool {
        matches!(self.drain, None | Some((Drain::Close(_), _)))
    }

    /// Everything still to do, in the order it was asked for.
    fn unfinished(&mut self) -> Vec<Request> {
        let mut all: Vec<Tracked> = self.unsent.drain(..).flatten().collect();
        all.extend(self.unacked.drain(..).map(|u| u.tracked));
        all.extend(self.twin.drain().map(|(_, t)| t));
        all.sort_by_key(|t| t.seq);
        all.into_iter()
            .map(|t| t.request)
            // Replies nobody waits for any more are dropped, except telemetry (delivery is
            // at least once, whether or not the sender still waits).
            .filter(|r| match r {
                Request::Telemetry { .. } => true,
                Request::GetTwin { reply } => !reply.is_closed(),
                Request::PatchReported { reply, .. } => !reply.is_closed(),
                Request::CommandResponse { .. } => true,
                Request::Close { .. } => false,
                // Never sent to MQTT sessions (no batch request, no settlement).
                Request::TelemetryBatch { .. } | Request::Settle { .. } => false,
            })
            .collect()
    }
}

impl HubSession {
    /// When to renew the SAS token (see [`renew_at`](crate::transport::session::renew_at)).
    pub(crate) fn renew_at(&self) -> Option<Instant> {
        self.0.token_expiry.map(crate::transport::session::renew_at)
    }

    /// Runs the connection until it is closed, renewed or lost, feeding it the backlog and the
    /// handles' requests and forwarding service traffic to `inbound`. What was not finished
    /// goes back to the front of the backlog.
    pub(crate) async fn run(self, io: SessionIo<'_>) -> SessionEnd {
        self.0.run(io).await
    }
}

impl Connection {
    async fn run(mut self: Box<Self>, mut io: SessionIo<'_>) -> SessionEnd {
        let mut state = State::default();
        // Plug and Play: desired properties set while the device was away come first; patches
        // that arrived while connecting and that the twin already holds are dropped.
        let seen_version = self.twin.as_ref().map_or(0, Twin::desired_version);
        if let Some(twin) = self.twin.take() {
            if !WritablePropertyUpdate::pending_from_twin(&twin)
                .properties()
                .is_empty()
            {
                forward(io.inbound, Inbound::InitialTwin(twin));
            }
        }
        for publish in std::mem::take(&mut self.early) {
            if let Some(version) = topics::parse_desired_patch(&publish.topic) {
                let version = version.or_else(|| {
                    serde_json::from_slice::<Value>(&publish.payload)
                        .ok()?
                        .get("$version")?
                        .as_u64()
                });
                if version.is_some_and(|v| v <= seen_version) {
                    continue;
                }
            }
            self.on_publish(publish, &mut state, io.inbound);
        }

        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        // One timer for the token renewal, the drain deadline and the PUBACK deadline, created
        // once: a pending timer costs a poll on every pass, and a reset costs a lock. It is only
        // moved earlier here; when it fires it is parked and set to the next deadline. The
        // PUBACK deadline only ever moves later (the oldest unacknowledged publish only gets
        // younger), so a stale deadline fires early, never late.
        let timer = tokio::time::sleep_until(far);
        tokio::pin!(timer);
        // Connection events handled in a row without looking at the requests.
        let mut event_turns = 0;
        let reason = loop {
            while state.queued < super::REQUEST_CAPACITY && state.accepts_backlog() {
                let Some(request) = io.backlog.pop_front() else {
                    break;
                };
                self.on_request(request, &mut state);
            }
            if let Some(store) = io.store.as_deref_mut() {
                if store.is_dirty()
                    && io.backlog.is_empty()
                    && state.unacked.is_empty()
                    && state.unsent.is_empty()
                {
                    store.clear();
                }
            }
            let mut drain_deadline = None;
            if let Some((_, deadline)) = &state.drain {
                let flushed =
                    !state.in_flight() && (io.backlog.is_empty() || !state.accepts_backlog());
                if !state.disconnecting && (flushed || Instant::now() >= *deadline) {
                    state.disconnecting = true;
                    let _ = self.client.try_disconnect();
                    state.queued += 1;
                }
                if !state.disconnecting {
                    drain_deadline = Some(*deadline);
                }
            }
            let ack_deadline = state.oldest_unacked().map(|t| t + io.ack_timeout);
            let renew_deadline = io.renew_at.filter(|_| state.drain.is_none());
            let next = [ack_deadline, renew_deadline, drain_deadline]
                .into_iter()
                .flatten()
                .min();
            if let Some(next) = next {
                if next < timer.deadline() {
                    timer.as_mut().reset(next);
                }
            }
            let mut timer_fired = false;
            tokio::select! {
                // In this order, and no further once one is ready: the connection's events
                // first, the timer last, so that a busy connection polls nothing else. What
                // this order could starve is served below: the requests every `FAIR_TURNS`
                // events in a row, and a timer that fired whatever branch won.
                biased;
                event = self.eventloop.poll() => {
                    event_turns += 1;
                    match event {
                        Ok(event) => {
                            if let Some(reason) = self.on_event(event, &mut state, io.inbound) {
                                break reason;
                            }
                        }
                        Err(e) => break EndReason::Lost(super::connection_error(e)),
                    }
                },
                request = io.requests.recv(), if state.queued < super::REQUEST_CAPACITY && state.accepts_requests() => {
                    event_turns = 0;
                    self.on_handle_request(request, &mut state, io.flush_timeout);
                    self.take_queued(io.requests, &mut state, io.flush_timeout);
                }
                _ = &mut timer, if next.is_some() => timer_fired = true,
            }
            if event_turns >= FAIR_TURNS {
                event_turns = 0;
                self.take_queued(io.requests, &mut state, io.flush_timeout);
            }
            if timer_fired || timer.is_elapsed() {
                let now = Instant::now();
                if ack_deadline.is_some_and(|deadline| now >= deadline) {
                    warn!(device_id = %self.device_id, timeout = ?io.ack_timeout, "no PUBACK in time: reconnecting to send again");
                    break EndReason::Lost(Error::Timeout(io.ack_timeout, "a PUBACK"));
                }
                if renew_deadline.is_some_and(|deadline| now >= deadline) {
                    debug!(device_id = %self.device_id, "SAS token due for renewal: draining");
                    state.drain = Some((Drain::Renew, now + io.flush_timeout));
                }
                // A passed drain deadline is acted on at the top of the loop; a deadline that
                // moved later is set again there.
                timer.as_mut().reset(far);
            }
        };
        let unfinished = state.unfinished();
        for request in unfinished.into_iter().rev() {
            io.backlog.push_front(request);
        }
        let (reason, close) = match (reason, state.drain.take()) {
            (EndReason::Closed, Some((Drain::Close(reply), _))) => (EndReason::Closed, Some(reply)),
            (EndReason::Closed, Some((Drain::Renew, _))) => (EndReason::Renew, None),
            (EndReason::Closed, Some((Drain::Dropped, _))) => (EndReason::Dropped, None),
            (EndReason::Closed, None) => (
                EndReason::Lost(Error::Connection("disconnected".into())),
                None,
            ),
            (reason, Some((Drain::Close(reply), _))) => (reason, Some(reply)),
            (reason, _) => (reason, None),
        };
        match &reason {
            EndReason::Lost(e) => {
                info!(device_id = %self.device_id, error = %e, "IoT hub connection lost")
            }
            EndReason::Renew => {
                debug!(device_id = %self.device_id, "disconnected to renew the SAS token")
            }
            EndReason::Closed | EndReason::Dropped => {
                info!(device_id = %self.device_id, "IoT hub connection closed")
            }
        }
        SessionEnd { reason, close }
    }

    /// Handles one rumqttc event; returns why the session ends, when it does.
    fn on_event(
        &mut self,
        event: Event,
        state: &mut State,
        inbound: &mpsc::Sender<Inbound>,
    ) -> Option<EndReason> {
        match event {
            Event::Incoming(Packet::Publish(publish)) => self.on_publish(publish, state, inbound),
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Tracked {
                    request: Request::Telemetry { reply, .. },
                    ..
                }) = state.acknowledge(ack.pkid)
                {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::Incoming(Packet::Disconnect) => {
                return Some(EndReason::Lost(Error::Connection(
                    "the hub sent DISCONNECT".into(),
                )));
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                state.queued = state.queued.saturating_sub(1);
                if let Some(Some(tracked)) = state.unsent.pop_front() {
                    match tracked.request {
                        Request::Telemetry { .. } if pkid != 0 => {
                            state.unacked.push_back(Unacked {
                                pkid,
                                sent: Instant::now(),
                                tracked,
                            });
                        }
                        Request::Telemetry { reply, .. } => {
                            let _ = reply.send(Ok(()));
                        }
                        Request::CommandResponse {
                            reply: Some(reply), ..
                        } => {
                            let _ = reply.send(Ok(()));
                        }
                        _ => {}
                    }
                }
            }
            Event::Outgoing(Outgoing::Subscribe(_) | Outgoing::Unsubscribe(_)) => {
                state.queued = state.queued.saturating_sub(1);
            }
            Event::Outgoing(Outgoing::Disconnect) => return Some(EndReason::Closed),
            _ => {}
        }
        None
    }

    /// Takes the requests waiting in the channel, as many as rumqttc's queue has room for, so
    /// that rumqttc's poll (and its TLS read attempt) is set up once per batch rather than once
    /// per request.
    fn take_queued(
        &mut self,
        requests: &mut mpsc::Receiver<Request>,
        state: &mut State,
        flush_timeout: Duration,
    ) {
        while state.queued < super::REQUEST_CAPACITY && state.accepts_requests() {
            match requests.try_recv() {
                Ok(request) => self.on_handle_request(Some(request), state, flush_timeout),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.on_handle_request(None, state, flush_timeout);
                }
            }
        }
    }

    /// A request from the handles; `None` when every handle is gone.
    fn on_handle_request(
        &mut self,
        request: Option<Request>,
        state: &mut State,
        flush_timeout: Duration,
    ) {
        match request {
            Some(Request::Close { reply }) => {
                state.drain = Some((Drain::Close(reply), Instant::now() + flush_timeout));
            }
            Some(request) => self.on_request(request, state),
            None => state.drain = Some((Drain::Dropped, Instant::now())),
        }
    }

    fn on_request(&mut self, request: Request, state: &mut State) {
        match request {
            Request::Telemetry { message, reply } => {
                let mut topic = topics::telemetry_topic(&self.telemetry_prefix, &message);
                if !self.telemetry_prefix_checked {
                    topic = match super::checked_topic(topic) {
                        Ok(topic) => topic,
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return;
                        }
                    };
                }
                let size = topic.len() + message.payload().len();
                if size > super::MAX_MESSAGE_SIZE {
                    let limit = super::MAX_MESSAGE_SIZE;
                    let _ = reply.send(Err(Error::TooLarge { size, limit }));
                    return;
                }
                let payload = message.payload_bytes().clone();
                let qos = if message.is_at_most_once() {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                let tracked = state.track(Request::Telemetry { message, reply });
                self.publish(state, topic, qos, payload, Some(tracked));
            }
            Request::GetTwin { reply } => {
                if reply.is_closed() {
                    return;
                }
                let rid = state.rid();
                let tracked = state.track(Request::GetTwin { reply });
                state.twin.insert(rid.clone(), tracked);
                self.publish(
                    state,
                    topics::twin_get_topic(&rid),
                    QoS::AtMostOnce,
                    Bytes::new(),
                    None,
                );
            }
            Request::PatchReported { patch, reply } => {
                let body = match serde_json::to_vec(&patch) {
                    Ok(body) => body,
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                };
                let rid = state.rid();
                let tracked = state.track(Request::PatchReported { patch, reply });
                state.twin.insert(rid.clone(), tracked);
                self.publish(
                    state,
                    topics::twin_patch_reported_topic(&rid),
                    QoS::AtMostOnce,
                    body.into(),
                    None,
                );
            }
            Request::CommandResponse {
                request_id,
                status,
                payload,
                reply,
            } => {
                let topic = match super::checked_topic(topics::method_response_topic(
                    status,
                    &request_id,
                )) {
                    Ok(topic) => topic,
                    Err(e) => {
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(e));
                        }
                        return;
                    }
                };
                let body = Bytes::from(payload.clone());
                let tracked = state.track(Request::CommandResponse {
                    request_id,
                    status,
                    payload,
                    reply,
                });
                self.publish(state, topic, QoS::AtMostOnce, body, Some(tracked));
            }
            Request::TelemetryBatch { reply, .. } => {
                let _ = reply.send(Err(
                    crate::transport::Protocol::Mqtt.unsupported("a batch request")
                ));
            }
            Request::Settle { reply, .. } => {
                let _ = reply.send(Err(crate::transport::Protocol::Mqtt
                    .unsupported("settling a cloud-to-device message")));
            }
            Request::Close { reply } => {
                // Only reached from the backlog (a close queued while disconnected).
                state.drain = Some((Drain::Close(reply), Instant::now()));
            }
        }
    }

    fn publish(
        &mut self,
        state: &mut State,
        topic: String,
        qos: QoS,
        payload: Bytes,
        tracked: Option<Tracked>,
    ) {
        match super::try_publish_bytes(&self.client, topic, qos, payload) {
            Ok(()) => {
                state.queued += 1;
                state.unsent.push_back(tracked);
            }
            Err(e) => {
                // Cannot happen while `queued` stays under the channel capacity; report it anyway.
                warn!(error = %e, "could not queue an MQTT publish");
                if let Some(tracked) = tracked {
                    fail(tracked.request, e);
                }
            }
        }
    }

    fn on_publish(&mut self, publish: Publish, state: &mut State, inbound: &mpsc::Sender<Inbound>) {
        let topic = publish.topic.as_str();
        if let Some(response) = topics::parse_twin_response(topic) {
            let Some(tracked) = state.twin.remove(&response.request_id) else {
                debug!(rid = %response.request_id, "twin response for an unknown request");
                return;
            };
            let failed = |status: u16| match status {
                429 => Error::Throttled {
                    retry_after: Duration::from_secs(1),
                },
                status => Error::Rejected {
                    status,
                    message: String::from_utf8_lossy(&publish.payload).into_owned(),
                },
            };
            match tracked.request {
                Request::GetTwin { reply } => {
                    let result = match response.status {
                        200 => Twin::from_json(&publish.payload),
                        s => Err(failed(s)),
                    };
                    let _ = reply.send(result);
                }
                Request::PatchReported { reply, .. } => {
                    let result = match (response.status, response.version) {
                        (200..=299, Some(v)) => Ok(v),
                        (200..=299, None) => Err(Error::Serialization(
                            "reported patch answer without $version".into(),
                        )),
                        (s, _) => Err(failed(s)),
                    };
                    let _ = reply.send(result);
                }
                _ => {}
            }
        } else if let Some(version) = topics::parse_desired_patch(topic) {
            match serde_json::from_slice::<Value>(&publish.payload) {
                Ok(body) => forward(inbound, Inbound::DesiredPatch { version, body }),
                Err(e) => warn!(error = %e, "desired-property patch is not JSON; ignored"),
            }
        } else if let Some(method) = topics::parse_method_request(topic) {
            let item = Inbound::Command {
                name: method.name,
                request_id: method.request_id,
                payload: publish.payload.to_vec(),
            };
            if let Err(mpsc::error::TrySendError::Full(Inbound::Command {
                request_id, name, ..
            })) = inbound.try_send(item)
            {
                warn!(command = %name, "event queue full: answering the command with 503");
                let body = Bytes::from_static(br#"{"error":"the device's event queue is full"}"#);
                if let Ok(topic) =
                    super::checked_topic(topics::method_response_topic(503, &request_id))
                {
                    self.publish(state, topic, QoS::AtMostOnce, body, None);
                }
            }
        } else if let Some((input, message)) = topics::parse_input(topic, &publish.payload) {
            forward(inbound, Inbound::InputMessage { input, message });
        } else if let Some(message) = topics::parse_c2d(topic, &publish.payload) {
            forward(inbound, Inbound::CloudMessage(message));
        } else {
            warn!(%topic, "publish on an unexpected topic; ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `on_event` does when rumqttc writes telemetry with packet id `pkid`.
    fn send(state: &mut State, pkid: u16) -> u64 {
        let request = Request::Telemetry {
            message: Box::new(crate::Message::new(Vec::new())),
            reply: oneshot::channel().0,
        };
        let tracked = state.track(request);
        let seq = tracked.seq;
        state.unacked.push_back(Unacked {
            pkid,
            sent: Instant::now(),
            tracked,
        });
        seq
    }

    /// PUBACKs in order, out of order, and for packet ids that rumqttc reused: each takes its
    /// own publish, the oldest waiting one stays at the front, and nothing is left behind.
    #[test]
    fn a_puback_takes_its_own_publish() {
        let mut state = State::default();
        for _round in 0..3 {
            let seqs: Vec<u64> = (1..=10).map(|pkid| send(&mut state, pkid)).collect();
            for (pkid, seq) in (1..=10).zip(&seqs) {
                assert_eq!(state.acknowledge(pkid).map(|t| t.seq), Some(*seq));
            }
            assert!(state.unacked.is_empty());
        }
        let first = send(&mut state, 1);
        let oldest = state.oldest_unacked();
        let later: Vec<u64> = (2..=5).map(|pkid| send(&mut state, pkid)).collect();
        for (pkid, seq) in (2..=5).rev().zip(later.iter().rev()) {
            assert_eq!(state.acknowledge(pkid).map(|t| t.seq), Some(*seq));
            assert_eq!(
                state.oldest_unacked(),
                oldest,
                "the oldest is still waiting"
            );
        }
        assert!(
            state.acknowledge(7).is_none(),
            "an unknown packet id takes nothing"
        );
        assert_eq!(state.acknowledge(1).map(|t| t.seq), Some(first));
        assert_eq!(state.oldest_unacked(), None);
    }
}
