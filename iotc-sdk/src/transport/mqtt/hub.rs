//! The IoT hub MQTT connection task (protocol.md §4).

use std::collections::{HashMap, VecDeque};

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish, QoS};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::topics;
use crate::auth::{hub_device_resource, hub_module_resource, SasToken};
use crate::pnp::Twin;
use crate::transport::{HubAuth, HubConfig, Inbound, Request};
use crate::{Error, Result};

/// A connected, subscribed hub session, ready to [`run`](HubSession::run).
pub(crate) struct HubSession {
    client: AsyncClient,
    eventloop: EventLoop,
    device_id: String,
    module_id: Option<String>,
    /// Messages that arrived before the SUBACK, handled first by `run`.
    early: Vec<Publish>,
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
    let (password, tls) = match &config.auth {
        HubAuth::Key(key) => (
            Some(
                SasToken::with_ttl(&resource, key, config.sas_ttl, None)
                    .as_secret()
                    .clone(),
            ),
            config.tls.connector()?,
        ),
        HubAuth::Token(token) => (Some(token.as_secret().clone()), config.tls.connector()?),
        HubAuth::X509(identity) => (None, config.tls.connector_with_identity(identity)?),
    };
    let client_id = match &config.module_id {
        Some(module) => format!("{}/{module}", config.device_id),
        None => config.device_id.clone(),
    };
    debug!(host = %config.connect_host, port = config.port, device_id = %config.device_id, "connecting to IoT hub over MQTT");
    let (client, mut eventloop) = super::open(super::ConnectParams {
        host: config.connect_host.clone(),
        port: config.port,
        client_id,
        username,
        password,
        tls,
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
    if config.module_id.is_none() {
        filters.push(super::filter(
            topics::c2d_filter(&config.device_id),
            QoS::AtLeastOnce,
        ));
    }
    let early = super::subscribe(&client, &mut eventloop, filters, config.connect_timeout).await?;
    info!(hub = %config.hub_host, device_id = %config.device_id, "connected to IoT hub");
    Ok(HubSession {
        client,
        eventloop,
        device_id: config.device_id.clone(),
        module_id: config.module_id.clone(),
        early,
    })
}

/// What a twin request is waiting for.
enum TwinWaiter {
    Get(oneshot::Sender<Result<Twin>>),
    Patch(oneshot::Sender<Result<u64>>),
}

impl TwinWaiter {
    fn fail(self, error: Error) {
        match self {
            TwinWaiter::Get(tx) => drop(tx.send(Err(error))),
            TwinWaiter::Patch(tx) => drop(tx.send(Err(error))),
        }
    }

    fn is_abandoned(&self) -> bool {
        match self {
            TwinWaiter::Get(tx) => tx.is_closed(),
            TwinWaiter::Patch(tx) => tx.is_closed(),
        }
    }
}

/// Book-keeping of the running session.
#[derive(Default)]
struct State {
    /// Replies for publishes handed to rumqttc, in order, until rumqttc assigns their packet id.
    unsent: VecDeque<Option<oneshot::Sender<Result<()>>>>,
    /// QoS 1 telemetry waiting for its PUBACK, by packet id.
    unacked: HashMap<u16, oneshot::Sender<Result<()>>>,
    /// Twin requests by `$rid`.
    twin: HashMap<String, TwinWaiter>,
    /// Requests handed to rumqttc that it has not yet written.
    queued: usize,
    next_rid: u64,
    close: Option<oneshot::Sender<Result<()>>>,
}

impl State {
    fn rid(&mut self) -> String {
        self.next_rid += 1;
        self.next_rid.to_string()
    }

    fn fail_all(&mut self, reason: &str) {
        let err = || Error::Connection(reason.to_owned());
        for tx in self.unsent.drain(..).flatten() {
            let _ = tx.send(Err(err()));
        }
        for (_, tx) in self.unacked.drain() {
            let _ = tx.send(Err(err()));
        }
        for (_, waiter) in self.twin.drain() {
            waiter.fail(err());
        }
    }
}

impl HubSession {
    /// Runs the connection until it is closed or breaks, serving `requests` and forwarding
    /// service traffic to `inbound`.
    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        inbound: mpsc::Sender<Inbound>,
    ) {
        let mut state = State::default();
        for publish in std::mem::take(&mut self.early) {
            self.on_publish(publish, &mut state, &inbound);
        }
        let reason = loop {
            tokio::select! {
                event = self.eventloop.poll() => match event {
                    Ok(event) => {
                        if let Some(done) = self.on_event(event, &mut state, &inbound) {
                            break done;
                        }
                    }
                    Err(e) => break super::connection_error(e).to_string(),
                },
                request = requests.recv(), if state.queued < super::REQUEST_CAPACITY && state.close.is_none() => match request {
                    Some(request) => self.on_request(request, &mut state),
                    None => {
                        // Every handle is gone: disconnect politely.
                        let _ = self.client.try_disconnect();
                        state.queued += 1;
                        state.close = None;
                        // Drive the eventloop until the DISCONNECT is written.
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                            while let Ok(event) = self.eventloop.poll().await {
                                if matches!(event, Event::Outgoing(Outgoing::Disconnect)) { break; }
                            }
                        }).await;
                        break "all device handles dropped".to_owned();
                    }
                },
            }
        };
        info!(device_id = %self.device_id, %reason, "IoT hub connection ended");
        state.fail_all(&reason);
        if let Some(close) = state.close.take() {
            let _ = close.send(Ok(()));
        } else {
            let _ = inbound.try_send(Inbound::Disconnected(reason));
        }
    }

    /// Handles one rumqttc event; returns the end reason when the session is over.
    fn on_event(
        &mut self,
        event: Event,
        state: &mut State,
        inbound: &mpsc::Sender<Inbound>,
    ) -> Option<String> {
        match event {
            Event::Incoming(Packet::Publish(publish)) => self.on_publish(publish, state, inbound),
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(tx) = state.unacked.remove(&ack.pkid) {
                    let _ = tx.send(Ok(()));
                }
            }
            Event::Incoming(Packet::Disconnect) => return Some("the hub sent DISCONNECT".into()),
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                state.queued = state.queued.saturating_sub(1);
                if let Some(Some(tx)) = state.unsent.pop_front() {
                    if pkid == 0 {
                        let _ = tx.send(Ok(()));
                    } else {
                        state.unacked.insert(pkid, tx);
                    }
                }
            }
            Event::Outgoing(Outgoing::Subscribe(_) | Outgoing::Unsubscribe(_)) => {
                state.queued = state.queued.saturating_sub(1);
            }
            Event::Outgoing(Outgoing::Disconnect) => {
                return Some("closed by the device".into());
            }
            _ => {}
        }
        None
    }

    fn on_request(&mut self, request: Request, state: &mut State) {
        match request {
            Request::Telemetry { message, reply } => {
                let topic =
                    topics::telemetry_topic(&self.device_id, self.module_id.as_deref(), &message);
                let size = topic.len() + message.payload().len();
                if size > super::MAX_MESSAGE_SIZE {
                    let limit = super::MAX_MESSAGE_SIZE;
                    let _ = reply.send(Err(Error::TooLarge { size, limit }));
                    return;
                }
                let payload = message.payload().to_vec();
                self.publish(state, topic, QoS::AtLeastOnce, payload, Some(reply));
            }
            Request::GetTwin { reply } => {
                let rid = state.rid();
                state.twin.retain(|_, w| !w.is_abandoned());
                state.twin.insert(rid.clone(), TwinWaiter::Get(reply));
                self.publish(
                    state,
                    topics::twin_get_topic(&rid),
                    QoS::AtMostOnce,
                    Vec::new(),
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
                state.twin.retain(|_, w| !w.is_abandoned());
                state.twin.insert(rid.clone(), TwinWaiter::Patch(reply));
                self.publish(
                    state,
                    topics::twin_patch_reported_topic(&rid),
                    QoS::AtMostOnce,
                    body,
                    None,
                );
            }
            Request::CommandResponse {
                request_id,
                status,
                payload,
                reply,
            } => {
                let topic = topics::method_response_topic(status, &request_id);
                self.publish(state, topic, QoS::AtMostOnce, payload, reply);
            }
            Request::Close { reply } => {
                state.close = Some(reply);
                match self.client.try_disconnect() {
                    Ok(()) => state.queued += 1,
                    Err(e) => {
                        if let Some(tx) = state.close.take() {
                            let _ = tx.send(Err(Error::Connection(e.to_string())));
                        }
                    }
                }
            }
        }
    }

    fn publish(
        &mut self,
        state: &mut State,
        topic: String,
        qos: QoS,
        payload: Vec<u8>,
        reply: Option<oneshot::Sender<Result<()>>>,
    ) {
        match self.client.try_publish(topic, qos, false, payload) {
            Ok(()) => {
                state.queued += 1;
                state.unsent.push_back(reply);
            }
            Err(e) => {
                // Cannot happen while `queued` stays under the channel capacity; report it anyway.
                warn!(error = %e, "could not queue an MQTT publish");
                if let Some(tx) = reply {
                    let _ = tx.send(Err(Error::Connection(e.to_string())));
                }
            }
        }
    }

    fn on_publish(&mut self, publish: Publish, state: &mut State, inbound: &mpsc::Sender<Inbound>) {
        let topic = publish.topic.as_str();
        if let Some(response) = topics::parse_twin_response(topic) {
            let Some(waiter) = state.twin.remove(&response.request_id) else {
                debug!(rid = %response.request_id, "twin response for an unknown request");
                return;
            };
            let failed = |status: u16| Error::Rejected {
                status,
                message: String::from_utf8_lossy(&publish.payload).into_owned(),
            };
            match waiter {
                TwinWaiter::Get(tx) => {
                    let result = match response.status {
                        200 => Twin::from_json(&publish.payload),
                        429 => Err(Error::Throttled {
                            retry_after: std::time::Duration::from_secs(1),
                        }),
                        s => Err(failed(s)),
                    };
                    let _ = tx.send(result);
                }
                TwinWaiter::Patch(tx) => {
                    let result = match (response.status, response.version) {
                        (200..=299, Some(v)) => Ok(v),
                        (200..=299, None) => Err(Error::Serialization(
                            "reported patch answer without $version".into(),
                        )),
                        (429, _) => Err(Error::Throttled {
                            retry_after: std::time::Duration::from_secs(1),
                        }),
                        (s, _) => Err(failed(s)),
                    };
                    let _ = tx.send(result);
                }
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
                let body = br#"{"error":"the device's event queue is full"}"#.to_vec();
                self.publish(
                    state,
                    topics::method_response_topic(503, &request_id),
                    QoS::AtMostOnce,
                    body,
                    None,
                );
            }
        } else if let Some(message) = topics::parse_c2d(topic, &publish.payload) {
            forward(inbound, Inbound::CloudMessage(message));
        } else {
            warn!(%topic, "publish on an unexpected topic; ignored");
        }
    }
}

fn forward(inbound: &mpsc::Sender<Inbound>, item: Inbound) {
    match inbound.try_send(item) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(item)) => {
            let kind = match item {
                Inbound::DesiredPatch { .. } => "desired-property patch",
                Inbound::CloudMessage(_) => "cloud-to-device message",
                _ => "event",
            };
            warn!(
                kind,
                "event queue full: dropping an inbound event (read events with Device::next_event)"
            );
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
