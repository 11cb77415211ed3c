//! The IoT hub MQTT connection task (protocol.md §4).

use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::topics;
use crate::auth::{hub_device_resource, hub_module_resource};
use crate::pnp::{Twin, WritablePropertyUpdate};
use crate::transport::session::engine::{Action, Ended, Engine, RenewBy, Settings};
use crate::transport::session::ledger::Entry;
use crate::transport::session::limits::check_size;
use crate::transport::session::time::Timestamp;
use crate::transport::session::{fail, forward, Clock, EndReason, SessionEnd, SessionIo, FAR};
use crate::transport::{HubConfig, Inbound, Request};
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
    let issued = config.auth.token(&resource, config.sas_ttl).await?;
    let token_expiry = issued
        .as_ref()
        .filter(|issued| issued.renewable)
        .map(|issued| issued.token.expiry_unix());
    let password = issued.map(|issued| issued.token.as_secret().clone());
    let transport =
        super::MqttTransport::new(config.protocol, &config.tls, config.auth.identity())?;
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
        proxy: config.proxy.clone(),
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
        .map_err(|e| Error::connection_caused("the MQTT request queue", e))?;
    let read = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    match topics::parse_twin_response(&publish.topic) {
                        Some(r) if r.request_id == CONNECT_TWIN_RID => {
                            return match r.status {
                                200 => Twin::from_json(&publish.payload),
                                status => Err(Error::for_status(
                                    status,
                                    String::from_utf8_lossy(&publish.payload).into_owned(),
                                    None,
                                )),
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

/// A request handed to rumqttc, kept by the session engine's ledger until it is done so it
/// can go out again on the next connection if this one breaks.
type Tracked = Entry<Request>;

/// The session engine of an MQTT session: it tracks requests; a close answers on a oneshot.
type MqttEngine = Engine<Request, oneshot::Sender<Result<()>>>;

/// What the MQTT session keeps beside the engine.
struct State {
    engine: MqttEngine,
    clock: Clock,
    /// Requests handed to rumqttc that it has not yet written.
    queued: usize,
    next_rid: u64,
}

impl State {
    fn rid(&mut self) -> String {
        self.next_rid += 1;
        self.next_rid.to_string()
    }

    fn track(&mut self, request: Request) -> Tracked {
        self.engine.ledger.track(request)
    }
}

/// Everything still to do, in the order it was asked for, that is worth doing again.
fn unfinished(engine: &mut MqttEngine) -> Vec<Request> {
    engine
        .ledger
        .take_unfinished()
        .into_iter()
        // Replies nobody waits for any more are dropped, except telemetry (delivery is at
        // least once, whether or not the sender still waits).
        .filter(|r| match r {
            Request::Telemetry { .. } => true,
            Request::GetTwin { reply } => !reply.is_closed(),
            Request::PatchReported { reply, .. } => !reply.is_closed(),
            Request::CommandResponse { .. } => true,
            Request::Close { .. } | Request::Reconnect => false,
            // Never sent to MQTT sessions (no batch request, no settlement).
            Request::TelemetryBatch { .. } | Request::Settle { .. } => false,
        })
        .collect()
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
        let clock = Clock::start();
        let mut state = State {
            engine: Engine::new(Settings {
                flush_timeout: io.flush_timeout,
                ack_timeout: io.ack_timeout,
                ack_name: "a PUBACK",
                renew_at: io.renew_at.map(|at| clock.at(at)),
                renew_by: RenewBy::Reconnect,
            }),
            clock,
            queued: 0,
            next_rid: 0,
        };
        // Plug and Play: desired properties set while the device was away come first; patches
        // that arrived while connecting and that the twin already holds are dropped.
        let seen_version = self.twin.as_ref().map_or(0, Twin::desired_version);
        if let Some(twin) = self.twin.take() {
            if !WritablePropertyUpdate::pending_from_twin(&twin)
                .properties()
                .is_empty()
            {
                forward(io.inbound, Inbound::InitialTwin(Box::new(twin)));
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

        let far = Instant::now() + FAR;
        // One timer for the token renewal, the drain deadline and the PUBACK deadline (the
        // engine's next deadline), created once: a pending timer costs a poll on every pass,
        // and a reset costs a lock. It is only moved earlier here; when it fires it is parked
        // and set to the next deadline. The PUBACK deadline only ever moves later (the oldest
        // unacknowledged publish only gets younger), so a stale deadline fires early, never
        // late.
        let timer = tokio::time::sleep_until(far);
        tokio::pin!(timer);
        // The deadline the timer is set to, in the engine's time (`None`: parked), so that a
        // turn compares two values rather than converting the engine's deadline to an instant
        // and reading the timer's.
        let mut armed: Option<Timestamp> = None;
        // Connection events handled in a row without looking at the requests.
        let mut event_turns = 0;
        let ended = loop {
            while state.queued < super::REQUEST_CAPACITY && state.engine.accepts_backlog() {
                let Some(request) = io.backlog.pop_front() else {
                    break;
                };
                self.on_request(request, &mut state);
            }
            if let Some(store) = io.store.as_deref_mut() {
                if store.is_dirty() && state.engine.may_clear_store(io.backlog.is_empty()) {
                    store.clear();
                }
            }
            if state.engine.is_draining() {
                let now = state.clock.now();
                if let Some(Action::Disconnect) = state.engine.step(now, io.backlog.is_empty()) {
                    let _ = self.client.try_disconnect();
                    state.queued += 1;
                }
            }
            let next = state.engine.next_deadline();
            if let Some(next) = next {
                if armed.is_none_or(|armed| next < armed) {
                    timer.as_mut().reset(state.clock.instant(next));
                    armed = Some(next);
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
                            if let Some(ended) = self.on_event(event, &mut state, io.inbound) {
                                break ended;
                            }
                            if let Some(ended) = self.on_buffered_events(&mut state, io.inbound, &mut event_turns) {
                                break ended;
                            }
                        }
                        Err(e) => break Ended::Lost(super::connection_error(e)),
                    }
                },
                request = io.requests.recv(), if state.queued < super::REQUEST_CAPACITY && state.engine.accepts_requests() => {
                    event_turns = 0;
                    self.on_handle_request(request, &mut state);
                    self.take_queued(io.requests, &mut state);
                }
                _ = &mut timer, if next.is_some() => timer_fired = true,
            }
            if event_turns >= FAIR_TURNS {
                event_turns = 0;
                self.take_queued(io.requests, &mut state);
            }
            if timer_fired || timer.is_elapsed() {
                let draining = state.engine.is_draining();
                match state.engine.on_timer(state.clock.now()) {
                    Some(Action::Lost(e)) => {
                        warn!(device_id = %self.device_id, timeout = ?io.ack_timeout, "no PUBACK in time: reconnecting to send again");
                        break Ended::Lost(e);
                    }
                    _ if !draining && state.engine.is_draining() => {
                        debug!(device_id = %self.device_id, "SAS token due for renewal: draining");
                    }
                    _ => {}
                }
                // A passed drain deadline is acted on at the top of the loop; a deadline that
                // moved later is set again there.
                timer.as_mut().reset(far);
                armed = None;
            }
        };
        let unfinished = unfinished(&mut state.engine);
        for request in unfinished.into_iter().rev() {
            io.backlog.push_front(request);
        }
        let (reason, close) = state.engine.finish(ended);
        match &reason {
            EndReason::Lost(e) => {
                info!(device_id = %self.device_id, error = %e.chain(), "IoT hub connection lost")
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

    /// Handles one rumqttc event; returns how the connection ended, when it did.
    fn on_event(
        &mut self,
        event: Event,
        state: &mut State,
        inbound: &mpsc::Sender<Inbound>,
    ) -> Option<Ended> {
        match event {
            Event::Incoming(Packet::Publish(publish)) => self.on_publish(publish, state, inbound),
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Tracked {
                    item: Request::Telemetry { reply, .. },
                    ..
                }) = state.engine.ledger.acknowledge(u64::from(ack.pkid))
                {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::Incoming(Packet::Disconnect) => {
                return Some(Ended::Lost(Error::connection("the hub sent DISCONNECT")));
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                state.queued = state.queued.saturating_sub(1);
                if let Some(tracked) = state.engine.ledger.written() {
                    match tracked.item {
                        Request::Telemetry { .. } if pkid != 0 => {
                            let now = state.clock.now();
                            state.engine.written(u64::from(pkid), now, tracked);
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
            Event::Outgoing(Outgoing::Disconnect) => return Some(Ended::Disconnected),
            _ => {}
        }
        None
    }

    /// Handles the events rumqttc has already read (one socket read yields every PUBACK that
    /// arrived), up to `FAIR_TURNS` events in a row counted in `event_turns`: the next
    /// `EventLoop::poll` would return exactly these first, one per call, without any I/O, so
    /// taking them here saves a turn of the session loop each. Returns how the connection
    /// ended, when it did.
    fn on_buffered_events(
        &mut self,
        state: &mut State,
        inbound: &mpsc::Sender<Inbound>,
        event_turns: &mut u32,
    ) -> Option<Ended> {
        while *event_turns < FAIR_TURNS {
            let event = self.eventloop.state.events.pop_front()?;
            *event_turns += 1;
            if let Some(ended) = self.on_event(event, state, inbound) {
                return Some(ended);
            }
        }
        None
    }

    /// Takes the requests waiting in the channel, as many as rumqttc's queue has room for, so
    /// that rumqttc's poll (and its TLS read attempt) is set up once per batch rather than once
    /// per request.
    fn take_queued(&mut self, requests: &mut mpsc::Receiver<Request>, state: &mut State) {
        while state.queued < super::REQUEST_CAPACITY && state.engine.accepts_requests() {
            match requests.try_recv() {
                Ok(request) => self.on_handle_request(Some(request), state),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.on_handle_request(None, state);
                }
            }
        }
    }

    /// A request from the handles; `None` when every handle is gone.
    fn on_handle_request(&mut self, request: Option<Request>, state: &mut State) {
        match request {
            Some(Request::Close { reply }) => state.engine.close(reply, state.clock.now()),
            Some(request) => self.on_request(request, state),
            None => state.engine.handles_dropped(state.clock.now()),
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
                if let Err(e) = check_size(topic.len() + message.payload().len()) {
                    let _ = reply.send(Err(e));
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
                state.engine.ledger.await_answer(rid.clone(), tracked);
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
                state.engine.ledger.await_answer(rid.clone(), tracked);
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
                state.engine.close_now(reply, state.clock.now());
            }
            Request::Reconnect => state.engine.reconnect(state.clock.now()),
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
                state.engine.ledger.hand_over(tracked);
            }
            Err(e) => {
                // Cannot happen while `queued` stays under the channel capacity; report it anyway.
                warn!(error = %e, "could not queue an MQTT publish");
                if let Some(tracked) = tracked {
                    fail(tracked.item, e);
                }
            }
        }
    }

    fn on_publish(&mut self, publish: Publish, state: &mut State, inbound: &mpsc::Sender<Inbound>) {
        let topic = publish.topic.as_str();
        if let Some(response) = topics::parse_twin_response(topic) {
            let Some(tracked) = state.engine.ledger.answer(&response.request_id) else {
                debug!(rid = %response.request_id, "twin response for an unknown request");
                return;
            };
            let failed = |status: u16| {
                Error::for_status(
                    status,
                    String::from_utf8_lossy(&publish.payload).into_owned(),
                    None,
                )
            };
            match tracked.item {
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
            let message = Box::new(message);
            forward(inbound, Inbound::InputMessage { input, message });
        } else if let Some(message) = topics::parse_c2d(topic, &publish.payload) {
            forward(inbound, Inbound::CloudMessage(Box::new(message)));
        } else {
            warn!(%topic, "publish on an unexpected topic; ignored");
        }
    }
}
