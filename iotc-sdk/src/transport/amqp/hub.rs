//! The IoT hub AMQP connection task (protocol.md §5): CBS authentication with renewal on the
//! live connection, telemetry, cloud-to-device messages, twin and direct methods.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::delivery::{DeliveryFut, DeliveryInfo};
use fe2o3_amqp::link::{RecvError, SendError};
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::{Fields, ReceiverSettleMode, SenderSettleMode};
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Body, Message as Amqp, MessageAnnotations, MessageId, Outcome,
    Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol, Value};
use fe2o3_amqp::{Delivery, Receiver, Sender};
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::cbs::{Cbs, CbsHandle};
use super::message::{
    annotation, app_property, body_bytes, cloud_message, correlation_id, data_body,
    message_id_text, simple_text, telemetry, value_as_u64, AmqpMessage, Outbound,
};
use super::shared::{Lease, SharedConnections};
use super::{condition_error, link_properties, new_uuid, open_connection, Sasl};
use crate::auth::{hub_device_resource, hub_module_resource, SasToken, TokenSource};
use crate::message::Settlement;
use crate::pnp::{Twin, WritablePropertyUpdate};
use crate::transport::session::engine::{Action, Ended, Engine, RenewBy, Settings};
use crate::transport::session::ledger::Entry;
use crate::transport::session::limits::check_size;
use crate::transport::session::{
    fail, forward, renew_at, Clock, EndReason, SessionEnd, SessionIo, FAR,
};
use crate::transport::{HubConfig, Inbound, Protocol, Request};
use crate::{Error, Result};

/// Requests handed to the link tasks and not yet answered, at most: the window of transfers in
/// flight on the links together (each link sends without waiting for the previous
/// disposition; the hub's link credit paces it further).
const WINDOW: usize = 64;

/// The links of one device.
struct Links {
    telemetry: Sender,
    c2d: Option<Receiver>,
    /// A module's inputs (IoT Edge): messages routed to it, on `…/modules/{m}/messages/events`.
    inputs: Option<Receiver>,
    twin_tx: Sender,
    twin_rx: Receiver,
    methods_tx: Sender,
    methods_rx: Receiver,
}

/// What renews the SAS token over CBS.
struct Renewal {
    /// The device's token source, which signs the new token.
    source: TokenSource,
    audience: String,
    ttl: Duration,
    expiry: u64,
}

/// A connected, authenticated hub session with every link attached, ready to
/// [`run`](HubSession::run).
pub(crate) struct HubSession {
    connection: Conn,
    cbs: Option<CbsHandle>,
    links: Links,
    renewal: Option<Renewal>,
    device_id: String,
    /// The twin read while connecting.
    twin: Option<Twin>,
    /// Desired-property notifications that arrived while connecting.
    early: Vec<AmqpMessage>,
}

/// The connection and session a device's links run on.
enum Conn {
    /// The device's own connection and session (the session drops first).
    Own {
        session: SessionHandle<()>,
        connection: ConnectionHandle<()>,
    },
    /// A connection and session shared with other devices (a gateway's); dropping the lease
    /// leaves them without ending them for the others.
    Shared { _lease: Lease },
}

/// Opens the connection: TLS (or WebSocket), AMQP, CBS put-token (SAS), the links, the
/// desired-property subscription and the twin read. A device with a SAS token and a shared
/// connection group (a gateway's) begins its session on a shared connection instead.
pub(crate) async fn connect(config: &HubConfig) -> Result<HubSession> {
    let resource = match &config.module_id {
        Some(module) => hub_module_resource(&config.hub_host, &config.device_id, module),
        None => hub_device_resource(&config.hub_host, &config.device_id),
    };
    let (connection, cbs, mut links, renewal) = match &config.shared_amqp {
        Some(shared) if !config.auth.is_x509() => connect_shared(config, shared, &resource).await?,
        _ => connect_own(config, &resource).await?,
    };
    let mut early = Vec::new();
    let twin = read_twin(&mut links, &mut early, config.connect_timeout).await?;
    info!(hub = %config.hub_host, device_id = %config.device_id, shared = matches!(connection, Conn::Shared { .. }), "connected to IoT hub over AMQP");
    Ok(HubSession {
        connection,
        cbs,
        links,
        renewal,
        device_id: config.device_id.clone(),
        twin: Some(twin),
        early,
    })
}

/// What connecting yields before the twin read.
type Parts = (Conn, Option<CbsHandle>, Links, Option<Renewal>);

/// The first SAS token for `resource`, and what renews it (none for a ready-made token).
async fn first_token(config: &HubConfig, resource: &str) -> Result<(SasToken, Option<Renewal>)> {
    let Some(issued) = config.auth.token(resource, config.sas_ttl).await? else {
        return Err(Error::Config("X.509 devices do not use CBS tokens".into()));
    };
    let renewal = issued.renewable.then(|| Renewal {
        source: config.auth.clone(),
        audience: resource.to_owned(),
        ttl: config.sas_ttl,
        expiry: issued.token.expiry_unix(),
    });
    Ok((issued.token, renewal))
}

/// The device's links on a connection of `shared`: put its token over the connection's CBS
/// links, then attach its links on one of the connection's sessions. Nothing here ends that
/// session: the links of a device that fails half-way are dropped (detached) alone.
async fn connect_shared(
    config: &HubConfig,
    shared: &SharedConnections,
    resource: &str,
) -> Result<Parts> {
    let (mut session, lease) = shared.session(config).await?;
    let work = async {
        let (token, renewal) = first_token(config, resource).await?;
        lease
            .cbs()
            .put_token(resource.to_owned(), token.as_secret().clone())
            .await
            .map_err(|_| Error::connection("the CBS links are closed"))??;
        let links = attach_links(&mut session, config).await?;
        Ok::<_, Error>((links, renewal))
    };
    let attached = tokio::time::timeout(config.connect_timeout, work).await;
    drop(session);
    let (links, renewal) = match attached {
        Ok(parts) => parts?,
        Err(_) => {
            return Err(Error::Timeout(
                config.connect_timeout,
                "the AMQP links to attach",
            ))
        }
    };
    let cbs = lease.cbs().clone();
    Ok((Conn::Shared { _lease: lease }, Some(cbs), links, renewal))
}

/// The device's own connection.
async fn connect_own(config: &HubConfig, resource: &str) -> Result<Parts> {
    let connector = match config.auth.identity() {
        Some(identity) => config.tls.connector_with_identity(identity)?,
        None => config.tls.connector()?,
    };
    debug!(host = %config.connect_host, port = config.port, device_id = %config.device_id, "connecting to IoT hub over AMQP");
    let stream = super::stream::connect(
        &config.connect_host,
        config.port,
        connector,
        config.protocol == Protocol::AmqpWs,
        config.proxy.as_ref(),
        config.connect_timeout,
    )
    .await?;
    let sasl = if config.auth.is_x509() {
        Sasl::None
    } else {
        Sasl::Anonymous
    };
    let mut connection = open_connection(
        stream,
        &config.hub_host,
        sasl,
        config.keep_alive,
        config.connect_timeout,
    )
    .await?;
    let (session, cbs, links, renewal) = super::set_up(
        &mut connection,
        config.connect_timeout,
        "the AMQP links to attach",
        |mut session| async move {
            let mut renewal = None;
            let cbs = if config.auth.is_x509() {
                None
            } else {
                let mut cbs = Cbs::attach(&mut session).await?;
                let (token, renew) = first_token(config, resource).await?;
                renewal = renew;
                cbs.put_token(resource, token.as_secret(), config.connect_timeout)
                    .await?;
                Some(cbs.spawn(config.connect_timeout))
            };
            let links = attach_links(&mut session, config).await?;
            Ok((session, cbs, links, renewal))
        },
    )
    .await?;
    Ok((
        Conn::Own {
            connection,
            session,
        },
        cbs,
        links,
        renewal,
    ))
}

/// Signs a new token and puts it over CBS; the new token's expiry when the hub accepted it.
async fn renew(
    source: TokenSource,
    audience: String,
    ttl: Duration,
    cbs: CbsHandle,
) -> Result<u64> {
    let Some(issued) = source.token(&audience, ttl).await? else {
        return Err(Error::Config("X.509 devices do not use CBS tokens".into()));
    };
    let token = issued.token;
    cbs.put_token(audience, token.as_secret().clone())
        .await
        .map_err(|_| Error::connection("the CBS links stopped"))??;
    Ok(token.expiry_unix())
}

/// Attaches telemetry, C2D (devices only), twin and method links (protocol.md §5.3).
async fn attach_links(session: &mut SessionHandle<()>, config: &HubConfig) -> Result<Links> {
    let base = match &config.module_id {
        Some(module) => format!("/devices/{}/modules/{module}", config.device_id),
        None => format!("/devices/{}", config.device_id),
    };
    let suffix = new_uuid();
    let mut common = vec![
        ("com.microsoft:client-version", super::CLIENT_VERSION),
        ("com.microsoft:api-version", super::HUB_API_VERSION),
    ];
    if let Some(model_id) = &config.model_id {
        common.push(("com.microsoft:model-id", model_id.as_str()));
    }
    let twin_channel = format!("twin:{suffix}");
    let methods_channel = format!("methods:{suffix}");
    let with_channel = |channel: &str| {
        let mut pairs = common.clone();
        pairs.push(("com.microsoft:channel-correlation-id", channel));
        link_properties(&pairs)
    };
    let id = &config.device_id;
    let telemetry = Sender::builder()
        .name(format!("telemetry-{id}-{suffix}"))
        .source(format!("telemetry-{suffix}"))
        .target(format!("{base}/messages/events"))
        .properties(link_properties(&common))
        .attach(session)
        .await
        .map_err(sender_attach_error)?;
    let name = |kind: &str| format!("{kind}-{id}-{suffix}");
    // Messages the application settles (C2D) or accepts once handed over (inputs).
    let (events, devicebound) = (
        format!("{base}/messages/events"),
        format!("{base}/messages/devicebound"),
    );
    let properties = link_properties(&common);
    let (inputs, c2d) = match config.module_id {
        Some(_) => {
            let local = format!("inputs-{suffix}");
            let inputs =
                receiver(session, name("inputs"), events, local, false, properties).await?;
            (Some(inputs), None)
        }
        None => {
            let local = format!("c2d-{suffix}");
            let c2d = receiver(session, name("c2d"), devicebound, local, false, properties).await?;
            (None, Some(c2d))
        }
    };
    let (twin, methods) = (
        format!("{base}/twin"),
        format!("{base}/methods/devicebound"),
    );
    let (twin_local, methods_local) = (format!("twin-{suffix}"), format!("methods-{suffix}"));
    let twin_properties = with_channel(&twin_channel);
    let methods_properties = with_channel(&methods_channel);
    let twin_tx = sender(
        session,
        name("twin-sender"),
        twin_local.clone(),
        twin.clone(),
        twin_properties.clone(),
    )
    .await?;
    let twin_rx = receiver(
        session,
        name("twin-receiver"),
        twin,
        twin_local,
        true,
        twin_properties,
    )
    .await?;
    let methods_rx = receiver(
        session,
        name("methods-receiver"),
        methods.clone(),
        methods_local.clone(),
        true,
        methods_properties.clone(),
    )
    .await?;
    let methods_tx = sender(
        session,
        name("methods-sender"),
        methods_local,
        methods,
        methods_properties,
    )
    .await?;
    Ok(Links {
        telemetry,
        c2d,
        inputs,
        twin_tx,
        twin_rx,
        methods_tx,
        methods_rx,
    })
}

/// A pre-settled sender link from `local` to the hub's `address` (twin and method answers).
async fn sender(
    session: &mut SessionHandle<()>,
    name: String,
    local: String,
    address: String,
    properties: Fields,
) -> Result<Sender> {
    Sender::builder()
        .name(name)
        .source(local)
        .target(address)
        .sender_settle_mode(SenderSettleMode::Settled)
        .properties(properties)
        .attach(session)
        .await
        .map_err(sender_attach_error)
}

/// A receiver link from the hub's `address` to `local`, settled on our first disposition;
/// deliveries are accepted on arrival when `auto_accept`, else by the caller.
async fn receiver(
    session: &mut SessionHandle<()>,
    name: String,
    address: String,
    local: String,
    auto_accept: bool,
    properties: Fields,
) -> Result<Receiver> {
    Receiver::builder()
        .name(name)
        .source(address)
        .target(local)
        .receiver_settle_mode(ReceiverSettleMode::First)
        .auto_accept(auto_accept)
        .properties(properties)
        .attach(session)
        .await
        .map_err(receiver_attach_error)
}

fn sender_attach_error(error: fe2o3_amqp::link::SenderAttachError) -> Error {
    use fe2o3_amqp::link::SenderAttachError as E;
    match error {
        E::RemoteClosedWithError(e) => condition_error(&e),
        other => Error::connection_caused("link attach refused", other),
    }
}

fn receiver_attach_error(error: fe2o3_amqp::link::ReceiverAttachError) -> Error {
    use fe2o3_amqp::link::ReceiverAttachError as E;
    match error {
        E::RemoteClosedWithError(e) => condition_error(&e),
        other => Error::connection_caused("link attach refused", other),
    }
}

/// A twin request: `operation` (and `resource`) annotations, a correlation id, a body.
fn twin_request(operation: &str, resource: Option<&str>, id: &str, body: Vec<u8>) -> AmqpMessage {
    let mut annotations = MessageAnnotations::builder().insert(
        OwnedKey::Symbol(Symbol::from("operation")),
        Value::String(operation.to_owned()),
    );
    if let Some(resource) = resource {
        annotations = annotations.insert(
            OwnedKey::Symbol(Symbol::from("resource")),
            Value::String(resource.to_owned()),
        );
    }
    let properties = Properties {
        correlation_id: Some(MessageId::String(id.to_owned())),
        ..Properties::default()
    };
    Amqp::builder()
        .properties(properties)
        .message_annotations(annotations.build())
        .body(data_body(body))
        .build()
}

/// The `status` annotation of a twin response (200 when absent).
fn twin_status(message: &AmqpMessage) -> u16 {
    annotation(message, "status")
        .and_then(value_as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200)
}

fn status_error(status: u16, body: &[u8]) -> Error {
    Error::for_status(status, String::from_utf8_lossy(body).into_owned(), None)
}

/// Subscribes to desired-property notifications and reads the twin; notifications that arrive
/// meanwhile are kept in `early`.
async fn read_twin(
    links: &mut Links,
    early: &mut Vec<AmqpMessage>,
    timeout: Duration,
) -> Result<Twin> {
    let subscribe_id = new_uuid();
    let get_id = new_uuid();
    let work = async {
        links
            .twin_tx
            .send(twin_request(
                "PUT",
                Some("/notifications/twin/properties/desired"),
                &subscribe_id,
                b" ".to_vec(),
            ))
            .await
            .map_err(send_error)?;
        links
            .twin_tx
            .send(twin_request("GET", None, &get_id, b" ".to_vec()))
            .await
            .map_err(send_error)?;
        let mut subscribed = false;
        let mut twin = None;
        while !(subscribed && twin.is_some()) {
            let message = links
                .twin_rx
                .recv::<Body<Value>>()
                .await
                .map_err(recv_error)?
                .into_message();
            let status = twin_status(&message);
            match correlation_id(&message).map(message_id_text) {
                Some(id) if id == subscribe_id => {
                    if status >= 300 {
                        return Err(status_error(status, &body_bytes(&message.body)));
                    }
                    subscribed = true;
                }
                Some(id) if id == get_id => {
                    let body = body_bytes(&message.body);
                    if status >= 300 {
                        return Err(status_error(status, &body));
                    }
                    twin = Some(Twin::from_json(&body)?);
                }
                Some(_) => debug!("twin answer for an unknown request while connecting"),
                None => early.push(message),
            }
        }
        twin.ok_or_else(|| Error::connection("no twin"))
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout(timeout, "the twin at connect")))
}

fn send_error(error: SendError) -> Error {
    use fe2o3_amqp::link::DetachError as D;
    match error {
        SendError::Detached(D::RemoteDetachedWithError(e) | D::RemoteClosedWithError(e)) => {
            condition_error(&e)
        }
        SendError::MessageSizeExceeded(e) => Error::TooLarge {
            size: usize::try_from(e.size).unwrap_or(usize::MAX),
            limit: usize::try_from(e.max_size).unwrap_or(usize::MAX),
        },
        other => Error::connection_caused("AMQP send", other),
    }
}

fn recv_error(error: RecvError) -> Error {
    match error {
        RecvError::LinkStateError(fe2o3_amqp::link::LinkStateError::RemoteDetachedWithError(e))
        | RecvError::LinkStateError(fe2o3_amqp::link::LinkStateError::RemoteClosedWithError(e)) => {
            condition_error(&e)
        }
        other => Error::connection_caused("AMQP receive", other),
    }
}

/// What a rejected delivery means to the sender.
fn outcome_result(outcome: std::result::Result<Outcome, SendError>) -> Result<()> {
    match outcome {
        Ok(Outcome::Accepted(_)) => Ok(()),
        Ok(Outcome::Rejected(rejected)) => Err(match rejected.error {
            Some(e) => match condition_error(&e) {
                Error::Connection { message: text, .. } => Error::Rejected {
                    status: 400,
                    message: text,
                },
                typed => typed,
            },
            None => Error::Rejected {
                status: 400,
                message: "rejected by the hub".into(),
            },
        }),
        Ok(other) => Err(Error::Rejected {
            status: 503,
            message: format!("the hub did not accept the message: {other:?}"),
        }),
        Err(e) => Err(send_error(e)),
    }
}

/// Which of a device's sender links a message goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Telemetry: settled by the hub's disposition.
    Telemetry,
    /// Twin requests (pre-settled; answered on the twin receiver).
    Twin,
    /// Command answers (pre-settled).
    Methods,
}

/// The device's sender links, run by one task.
struct Senders {
    telemetry: Sender,
    twin: Sender,
    methods: Sender,
}

/// A message for the writer task; `seq` names the request waiting for it.
struct Outgoing {
    seq: u64,
    link: Link,
    /// Boxed: an AMQP message is several hundred bytes, and a tokio channel allocates its first
    /// block of 32 slots up front (three channels per device).
    message: Box<Outbound>,
}

/// What the link tasks report to the session.
enum LinkEvent {
    /// The hub settled the delivery of request `seq` (for pre-settled links: it was written).
    Sent { seq: u64, result: Result<()> },
    /// A sender link broke: the session is over.
    Lost(Error),
}

/// A transfer written to a link and waiting for its disposition.
type Unsettled = (u64, DeliveryFut<std::result::Result<Outcome, SendError>>);

/// Runs the device's sender links in one task (a task per link would cost a gateway about 5 KB
/// per link and device). Every message goes out as soon as its link has credit, without waiting
/// for the previous one's disposition (transfers are batchable, so fe2o3-amqp may put several
/// in one write); telemetry dispositions are reported in send order, the order the hub settles
/// in; the pre-settled twin and method messages are reported once written.
fn spawn_writer(
    mut senders: Senders,
    mut rx: mpsc::Receiver<Outgoing>,
    events: mpsc::UnboundedSender<LinkEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut unsettled: VecDeque<Unsettled> = VecDeque::new();
        loop {
            tokio::select! {
                // Dispositions first: they free the window.
                biased;
                outcome = async {
                    match unsettled.front_mut() {
                        Some((_, delivery)) => delivery.await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some((seq, _)) = unsettled.pop_front() else {
                        continue;
                    };
                    let event = match outcome {
                        Err(e @ SendError::MessageSizeExceeded(_)) => {
                            LinkEvent::Sent { seq, result: Err(send_error(e)) }
                        }
                        Err(e) => {
                            let _ = events.send(LinkEvent::Lost(send_error(e)));
                            return;
                        }
                        outcome => LinkEvent::Sent { seq, result: outcome_result(outcome) },
                    };
                    if events.send(event).is_err() {
                        return;
                    }
                }
                out = rx.recv() => {
                    let Some(out) = out else { break };
                    let sender = match out.link {
                        Link::Telemetry => &mut senders.telemetry,
                        Link::Twin => &mut senders.twin,
                        Link::Methods => &mut senders.methods,
                    };
                    let sent = match *out.message {
                        Outbound::Data(message) => sender.send_batchable(message).await,
                        Outbound::Other(message) => sender.send_batchable(message).await,
                    };
                    match sent {
                        Ok(delivery) if out.link == Link::Telemetry => {
                            unsettled.push_back((out.seq, delivery));
                        }
                        // Pre-settled: resolved as soon as written.
                        Ok(delivery) => {
                            let event = LinkEvent::Sent { seq: out.seq, result: outcome_result(delivery.await) };
                            if events.send(event).is_err() {
                                return;
                            }
                        }
                        Err(e @ SendError::MessageSizeExceeded(_)) => {
                            let event = LinkEvent::Sent { seq: out.seq, result: Err(send_error(e)) };
                            if events.send(event).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = events.send(LinkEvent::Lost(send_error(e)));
                            return;
                        }
                    }
                }
            }
        }
        for sender in [senders.telemetry, senders.twin, senders.methods] {
            let _ = sender.close().await;
        }
    })
}

/// Waits for the next delivery on an optional receiver (forever when there is none).
async fn next_delivery(
    receiver: &mut Option<Receiver>,
) -> std::result::Result<Delivery<Body<Value>>, RecvError> {
    match receiver {
        Some(r) => r.recv::<Body<Value>>().await,
        None => std::future::pending().await,
    }
}

/// A message routed to one of the module's inputs: the input name is the `x-opt-input-name`
/// annotation, the sender the `iothub-connection-device-id`/`-module-id` annotations
/// (protocol.md 8.4). Accepted once handed to the application (or dropped for a full
/// event queue, as over MQTT).
async fn on_input(
    delivery: Delivery<Body<Value>>,
    inputs: &mut Option<Receiver>,
    inbound: &mpsc::Sender<Inbound>,
) {
    let message = delivery.message();
    let text = |name: &str| match annotation(message, name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Symbol(s)) => Some(s.0.clone()),
        _ => None,
    };
    let input = text("x-opt-input-name").unwrap_or_default();
    let mut cloud = cloud_message(message);
    // The sender, named as over MQTT (`$.cdid`, `$.cmid`).
    for (annotation, name) in [
        ("iothub-connection-device-id", "cdid"),
        ("iothub-connection-module-id", "cmid"),
    ] {
        if let Some(value) = text(annotation) {
            cloud.system_properties.push((name.to_owned(), value));
        }
    }
    forward(
        inbound,
        Inbound::InputMessage {
            input,
            message: Box::new(cloud),
        },
    );
    if let Some(receiver) = inputs {
        let _ = receiver.accept(&delivery).await;
    }
}

/// A request handed to a link, kept by the engine's ledger until it is done so it can go out
/// again on the next connection if this one breaks.
type Tracked = Entry<Request>;

/// The session engine of an AMQP session: it tracks requests; a close answers on a oneshot.
type AmqpEngine = Engine<Request, oneshot::Sender<Result<()>>>;

/// Book-keeping of the running session beside the engine.
struct State {
    engine: AmqpEngine,
    clock: Clock,
    /// Command request ids and the correlation id to answer with.
    methods: HashMap<String, MessageId>,
    /// Unsettled cloud-to-device deliveries by lock token.
    c2d: HashMap<String, DeliveryInfo>,
}

impl State {
    fn track(&mut self, request: Request) -> Tracked {
        self.engine.ledger.track(request)
    }

    /// Whether the window is full.
    fn busy(&self) -> bool {
        self.engine.ledger.len() >= WINDOW
    }

    /// Everything still to do, in the order it was asked for, that is worth doing again.
    fn unfinished(&mut self) -> Vec<Request> {
        self.engine
            .ledger
            .take_unfinished()
            .into_iter()
            .filter(|r| match r {
                Request::Telemetry { .. } | Request::CommandResponse { .. } => true,
                Request::GetTwin { reply } => !reply.is_closed(),
                Request::PatchReported { reply, .. } => !reply.is_closed(),
                Request::Settle { .. } | Request::Close { .. } | Request::Reconnect => false,
                // Never sent to AMQP sessions (no batch request).
                Request::TelemetryBatch { .. } => false,
            })
            .collect()
    }
}

/// The channel to the writer task of a running session, and the task.
struct Writers {
    outgoing: mpsc::Sender<Outgoing>,
    task: Option<JoinHandle<()>>,
}

impl HubSession {
    /// Runs the connection until it is closed or lost, feeding it the backlog and the handles'
    /// requests, forwarding service traffic to `inbound`, and renewing the SAS token over CBS
    /// at 80 % of its lifetime. What was not finished goes back to the front of the backlog.
    ///
    /// Everything that needs no waiting happens before the returned future starts, and the
    /// future captures the session's parts one by one: an `async fn` would keep the whole
    /// `HubSession` it was given (about 4.8 KB) beside the parts moved out of it for as long as
    /// it runs, on every device of a gateway.
    pub(crate) fn run(
        self,
        mut io: SessionIo<'_>,
    ) -> impl std::future::Future<Output = SessionEnd> + Send + '_ {
        let HubSession {
            connection,
            cbs,
            links,
            mut renewal,
            device_id,
            mut twin,
            early,
        } = self;
        let Links {
            telemetry,
            c2d,
            inputs,
            twin_tx,
            mut twin_rx,
            methods_tx,
            mut methods_rx,
        } = links;
        // A device has C2D, a module its inputs: one receive future waits for either.
        let module = inputs.is_some();
        let mut devicebound = c2d.or(inputs);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        // Room for the window of tracked requests and for untracked command answers (a
        // command refused for a full event queue).
        let (outgoing, outgoing_rx) = mpsc::channel(2 * WINDOW);
        let senders = Senders {
            telemetry,
            twin: twin_tx,
            methods: methods_tx,
        };
        let writers = Writers {
            outgoing,
            task: Some(spawn_writer(senders, outgoing_rx, events_tx)),
        };
        let clock = Clock::start();
        let mut ctx = Ctx {
            device_id,
            state: State {
                engine: Engine::new(Settings {
                    flush_timeout: io.flush_timeout,
                    ack_timeout: io.ack_timeout,
                    ack_name: "a telemetry disposition",
                    renew_at: renewal.as_ref().map(|r| clock.at(renew_at(r.expiry))),
                    renew_by: RenewBy::InPlace,
                }),
                clock,
                methods: HashMap::new(),
                c2d: HashMap::new(),
            },
            writers,
        };

        // Plug and Play: desired properties set while the device was away come first;
        // notifications that the twin already holds are dropped.
        let seen_version = twin.as_ref().map_or(0, Twin::desired_version);
        if let Some(twin) = twin.take() {
            if !WritablePropertyUpdate::pending_from_twin(&twin)
                .properties()
                .is_empty()
            {
                forward(io.inbound, Inbound::InitialTwin(Box::new(twin)));
            }
        }
        for message in early {
            ctx.on_desired(&message, Some(seen_version), io.inbound);
        }

        async move {
            let far = Instant::now() + FAR;
            // One timer for the token renewal, the drain deadline and the disposition deadline (the
            // engine's next deadline), created once and only moved earlier; when it fires it is
            // parked and set to the next deadline (see the MQTT session).
            let timer = tokio::time::sleep_until(far);
            tokio::pin!(timer);
            let mut pending_renewal: Option<JoinHandle<Result<u64>>> = None;
            let ended = loop {
                while !ctx.state.busy() && ctx.state.engine.accepts_backlog() {
                    let Some(request) = io.backlog.pop_front() else {
                        break;
                    };
                    ctx.on_request(request, &mut devicebound).await;
                }
                if let Some(store) = io.store.as_deref_mut() {
                    if store.is_dirty() && ctx.state.engine.may_clear_store(io.backlog.is_empty()) {
                        store.clear();
                    }
                }
                if ctx.state.engine.is_draining() {
                    let now = ctx.state.clock.now();
                    if let Some(Action::Disconnect) =
                        ctx.state.engine.step(now, io.backlog.is_empty())
                    {
                        break Ended::Disconnected;
                    }
                }
                let next = ctx
                    .state
                    .engine
                    .next_deadline()
                    .map(|at| ctx.state.clock.instant(at));
                if let Some(next) = next {
                    if next < timer.deadline() {
                        timer.as_mut().reset(next);
                    }
                }
                tokio::select! {
                    event = events.recv() => match event {
                        Some(LinkEvent::Sent { seq, result }) => {
                            if let Some(refused) = ctx.on_sent(seq, result) {
                                break Ended::Lost(refused);
                            }
                        }
                        Some(LinkEvent::Lost(e)) => break Ended::Lost(e),
                        None => break Ended::Lost(Error::connection("the AMQP links stopped")),
                    },
                    request = io.requests.recv(), if !ctx.state.busy() && ctx.state.engine.accepts_requests() => match request {
                        Some(Request::Close { reply }) => {
                            let now = ctx.state.clock.now();
                            ctx.state.engine.close(reply, now);
                        }
                        Some(request) => ctx.on_request(request, &mut devicebound).await,
                        None => {
                            let now = ctx.state.clock.now();
                            ctx.state.engine.handles_dropped(now);
                        }
                    },
                    delivery = twin_rx.recv::<Body<Value>>() => match delivery {
                        Ok(delivery) => ctx.on_twin_message(delivery.into_message(), io.inbound),
                        Err(e) => break Ended::Lost(recv_error(e)),
                    },
                    delivery = methods_rx.recv::<Body<Value>>() => match delivery {
                        Ok(delivery) => ctx.on_method(delivery.into_message(), io.inbound),
                        Err(e) => break Ended::Lost(recv_error(e)),
                    },
                    delivery = next_delivery(&mut devicebound) => match delivery {
                        Ok(delivery) if module => on_input(delivery, &mut devicebound, io.inbound).await,
                        Ok(delivery) => ctx.on_c2d(delivery, &mut devicebound, io.inbound).await,
                        Err(e) => break Ended::Lost(recv_error(e)),
                    },
                    answer = async { match &mut pending_renewal { Some(task) => task.await, None => std::future::pending().await } } => {
                        pending_renewal = None;
                        match answer {
                            Ok(Ok(expiry)) => {
                                info!(device_id = %ctx.device_id, "SAS token renewed on the live AMQP connection");
                                if let Some(r) = &mut renewal {
                                    r.expiry = expiry;
                                }
                                let next = ctx.state.clock.at(renew_at(expiry));
                                ctx.state.engine.renewed(Some(next));
                            }
                            Ok(Err(e)) => break Ended::Lost(e),
                            Err(_) => break Ended::Lost(Error::connection("the CBS renewal stopped")),
                        }
                    }
                    _ = &mut timer, if next.is_some() => {
                        let now = ctx.state.clock.now();
                        match ctx.state.engine.on_timer(now) {
                            Some(Action::Lost(e)) => {
                                warn!(device_id = %ctx.device_id, timeout = ?io.ack_timeout, "no disposition in time: reconnecting to send again");
                                break Ended::Lost(e);
                            }
                            Some(Action::RenewToken) => match (&renewal, &cbs) {
                                (Some(r), Some(cbs)) => {
                                    debug!(device_id = %ctx.device_id, "renewing the SAS token over CBS");
                                    pending_renewal = Some(tokio::spawn(renew(r.source.clone(), r.audience.clone(), r.ttl, cbs.clone())));
                                }
                                _ => ctx.state.engine.renewed(None),
                            },
                            _ => {}
                        }
                        // A passed drain deadline is acted on at the top of the loop.
                        timer.as_mut().reset(far);
                    }
                }
            };
            // Every link goes (its closing detach queued) before the session's `End`. A link still
            // registered when the hub's detach for it arrives after our `End` gets a reply detach
            // from fe2o3-amqp *after* the `End`; the hub then cannot place that frame and closes the
            // whole connection (`amqp:not-found`), on a gateway every device's. An aborted task
            // drops its sender only when the runtime next polls it, so wait for that.
            if let Some(task) = ctx.writers.task.take() {
                task.abort();
                let _ = task.await;
            }
            drop(cbs);
            let unfinished = ctx.state.unfinished();
            for request in unfinished.into_iter().rev() {
                io.backlog.push_front(request);
            }
            if matches!(ended, Ended::Disconnected) {
                let close = async {
                    if let Some(receiver) = devicebound.take() {
                        let _ = receiver.close().await;
                    }
                    let _ = twin_rx.close().await;
                    let _ = methods_rx.close().await;
                    if let Conn::Own {
                        mut connection,
                        mut session,
                    } = connection
                    {
                        let _ = session.end().await;
                        let _ = connection.close().await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
            } else {
                // The receivers, too, go before the session (see above); a tuple drops in order.
                drop((devicebound, twin_rx, methods_rx, connection));
            }
            let (reason, close) = ctx.state.engine.finish(ended);
            match &reason {
                EndReason::Lost(e) => {
                    info!(device_id = %ctx.device_id, error = %e.chain(), "IoT hub AMQP connection lost")
                }
                _ => info!(device_id = %ctx.device_id, "IoT hub AMQP connection closed"),
            }
            SessionEnd { reason, close }
        }
    }
}

/// The running session's state and its channels to the link tasks.
struct Ctx {
    device_id: String,
    state: State,
    writers: Writers,
}

impl Ctx {
    async fn on_request(&mut self, request: Request, c2d: &mut Option<Receiver>) {
        match request {
            Request::Telemetry { message, reply } => {
                let size = message.payload().len()
                    + message
                        .properties()
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>();
                if let Err(e) = check_size(size) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let amqp = Outbound::Data(telemetry(&message));
                let tracked = self.state.track(Request::Telemetry { message, reply });
                send(
                    &self.writers.outgoing,
                    Link::Telemetry,
                    tracked,
                    amqp,
                    &mut self.state,
                );
            }
            Request::GetTwin { reply } => {
                if reply.is_closed() {
                    return;
                }
                let id = new_uuid();
                let amqp = twin_request("GET", None, &id, b" ".to_vec());
                let tracked = self.state.track(Request::GetTwin { reply });
                let seq = tracked.seq;
                self.state.engine.ledger.await_answer(id, tracked);
                let _ = self.writers.outgoing.try_send(Outgoing {
                    seq,
                    link: Link::Twin,
                    message: Box::new(Outbound::Other(amqp)),
                });
            }
            Request::PatchReported { patch, reply } => {
                let body = match serde_json::to_vec(&patch) {
                    Ok(body) => body,
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                };
                let id = new_uuid();
                let amqp = twin_request("PATCH", Some("/properties/reported"), &id, body);
                let tracked = self.state.track(Request::PatchReported { patch, reply });
                let seq = tracked.seq;
                self.state.engine.ledger.await_answer(id, tracked);
                let _ = self.writers.outgoing.try_send(Outgoing {
                    seq,
                    link: Link::Twin,
                    message: Box::new(Outbound::Other(amqp)),
                });
            }
            Request::CommandResponse {
                request_id,
                status,
                payload,
                reply,
            } => {
                let id = self
                    .state
                    .methods
                    .remove(&request_id)
                    .unwrap_or_else(|| MessageId::String(request_id.clone()));
                let amqp = Outbound::Other(method_response(id, status, payload.clone()));
                let tracked = self.state.track(Request::CommandResponse {
                    request_id,
                    status,
                    payload,
                    reply,
                });
                send(
                    &self.writers.outgoing,
                    Link::Methods,
                    tracked,
                    amqp,
                    &mut self.state,
                );
            }
            Request::Settle {
                lock_token,
                settlement,
                reply,
            } => {
                let result = match (self.state.c2d.remove(&lock_token), c2d.as_mut()) {
                    (Some(info), Some(receiver)) => settle(receiver, info, settlement).await,
                    _ => Err(Error::Rejected {
                        status: 412,
                        message: "unknown lock token: the message was settled already or arrived on an earlier connection".into(),
                    }),
                };
                let _ = reply.send(result);
            }
            Request::TelemetryBatch { reply, .. } => {
                let _ = reply.send(Err(
                    crate::transport::Protocol::Amqp.unsupported("a batch request")
                ));
            }
            Request::Close { reply } => {
                // Only reached from the backlog (a close queued while disconnected).
                let now = self.state.clock.now();
                self.state.engine.close_now(reply, now);
            }
            Request::Reconnect => {
                let now = self.state.clock.now();
                self.state.engine.reconnect(now);
            }
        }
    }

    /// Answers the request whose delivery the hub settled. Telemetry the hub refuses for now
    /// (throttled, or over its message quota) is not answered: it stays the oldest request in
    /// flight and the session ends with that error, so that the supervisor backs off (for the
    /// `retry-after` the hub gave) and sends it again on the next connection, as over MQTT,
    /// where IoT hub drops the connection instead. Returns that error.
    fn on_sent(&mut self, seq: u64, result: Result<()>) -> Option<Error> {
        match self.state.engine.ledger.acknowledge(seq) {
            Some(Tracked {
                item: Request::Telemetry { reply, message },
                seq: entry_seq,
            }) => match result {
                Err(refused @ Error::Throttled { .. }) => {
                    let now = self.state.clock.now();
                    let entry = Tracked {
                        seq: entry_seq,
                        item: Request::Telemetry { reply, message },
                    };
                    self.state.engine.ledger.requeue_oldest(seq, now, entry);
                    warn!(device_id = %self.device_id, error = %refused, "telemetry refused for now: reconnecting to send it again after the back-off");
                    return Some(refused);
                }
                result => {
                    let _ = reply.send(result);
                }
            },
            Some(Tracked {
                item:
                    Request::CommandResponse {
                        reply: Some(reply), ..
                    },
                ..
            }) => {
                let _ = reply.send(result);
            }
            Some(_) => {}
            None => {
                // A twin request: its answer comes on the twin receiver; only failures matter.
                if let Err(e) = result {
                    if let Some(tracked) = self.state.engine.ledger.take_answer_by_seq(seq) {
                        fail(tracked.item, e);
                    }
                }
            }
        }
        None
    }

    fn on_twin_message(&mut self, message: AmqpMessage, inbound: &mpsc::Sender<Inbound>) {
        let Some(id) = correlation_id(&message).map(message_id_text) else {
            self.on_desired(&message, None, inbound);
            return;
        };
        let Some(tracked) = self.state.engine.ledger.answer(&id) else {
            debug!("twin answer for an unknown request");
            return;
        };
        let status = twin_status(&message);
        let body = body_bytes(&message.body);
        match tracked.item {
            Request::GetTwin { reply } => {
                let result = match status {
                    200..=299 => Twin::from_json(&body),
                    s => Err(status_error(s, &body)),
                };
                let _ = reply.send(result);
            }
            Request::PatchReported { reply, .. } => {
                let version = annotation(&message, "version").and_then(value_as_u64);
                let result = match (status, version) {
                    (200..=299, Some(v)) => Ok(v),
                    (200..=299, None) => Err(Error::Serialization(
                        "reported patch answer without a version".into(),
                    )),
                    (s, _) => Err(status_error(s, &body)),
                };
                let _ = reply.send(result);
            }
            _ => {}
        }
    }

    /// A desired-property notification; dropped when `seen` already holds its version.
    fn on_desired(
        &mut self,
        message: &AmqpMessage,
        seen: Option<u64>,
        inbound: &mpsc::Sender<Inbound>,
    ) {
        let body = match serde_json::from_slice::<Json>(&body_bytes(&message.body)) {
            Ok(body) => body,
            Err(e) => {
                warn!(error = %e, "desired-property patch is not JSON; ignored");
                return;
            }
        };
        let version = annotation(message, "version")
            .and_then(value_as_u64)
            .or_else(|| body.get("$version")?.as_u64());
        if let (Some(seen), Some(version)) = (seen, version) {
            if version <= seen {
                return;
            }
        }
        forward(inbound, Inbound::DesiredPatch { version, body });
    }

    fn on_method(&mut self, message: AmqpMessage, inbound: &mpsc::Sender<Inbound>) {
        let Some(id) = correlation_id(&message).cloned() else {
            warn!("method request without a correlation id; ignored");
            return;
        };
        let name = app_property(&message, "IoThub-methodname")
            .and_then(simple_text)
            .unwrap_or_default();
        let request_id = message_id_text(&id);
        let item = Inbound::Command {
            name,
            request_id: request_id.clone(),
            payload: body_bytes(&message.body),
        };
        match inbound.try_send(item) {
            Ok(()) => {
                self.state.methods.insert(request_id, id);
            }
            Err(mpsc::error::TrySendError::Full(Inbound::Command { name, .. })) => {
                warn!(command = %name, "event queue full: answering the command with 503");
                let body = br#"{"error":"the device's event queue is full"}"#.to_vec();
                let _ = self.writers.outgoing.try_send(Outgoing {
                    seq: 0,
                    link: Link::Methods,
                    message: Box::new(Outbound::Other(method_response(id, 503, body))),
                });
            }
            Err(_) => {}
        }
    }

    async fn on_c2d(
        &mut self,
        delivery: Delivery<Body<Value>>,
        c2d: &mut Option<Receiver>,
        inbound: &mpsc::Sender<Inbound>,
    ) {
        let info = DeliveryInfo::from(&delivery);
        let lock_token: String = info
            .delivery_tag()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut message = cloud_message(delivery.message());
        let Some(receiver) = c2d.as_mut() else {
            return;
        };
        if message.property("method-name").is_some() {
            // An IoT Central queued command: it becomes a command, which has no settlement.
            let _ = receiver.accept(info).await;
            forward(inbound, Inbound::CloudMessage(Box::new(message)));
            return;
        }
        message.lock_token = Some(lock_token.clone());
        match inbound.try_send(Inbound::CloudMessage(Box::new(message))) {
            Ok(()) => {
                self.state.c2d.insert(lock_token, info);
            }
            Err(_) => {
                warn!("event queue full: abandoning a cloud-to-device message");
                let _ = receiver.release(info).await;
            }
        }
    }
}

/// Hands `message` for `link` to the writer task and records `tracked` as waiting for its
/// disposition. A full channel cannot happen while the window holds. A closed one means the
/// writer stopped because a link broke: the request stays tracked and goes out again on the
/// next connection, as what was in flight does (the writer's report, or its closed events
/// channel, ends the session).
fn send(
    channel: &mpsc::Sender<Outgoing>,
    link: Link,
    tracked: Tracked,
    message: Outbound,
    state: &mut State,
) {
    let seq = tracked.seq;
    let now = state.clock.now();
    state.engine.written(seq, now, tracked);
    let outgoing = Outgoing {
        seq,
        link,
        message: Box::new(message),
    };
    if channel.try_send(outgoing).is_err() {
        debug!(
            seq,
            "the AMQP writer has stopped; the request waits for the next connection"
        );
    }
}

fn method_response(id: MessageId, status: u16, payload: Vec<u8>) -> AmqpMessage {
    let properties = Properties {
        correlation_id: Some(id),
        ..Properties::default()
    };
    Amqp::builder()
        .properties(properties)
        .application_properties(
            ApplicationProperties::builder()
                .insert("IoThub-status", SimpleValue::Int(i32::from(status)))
                .build(),
        )
        .body(data_body(payload))
        .build()
}

async fn settle(receiver: &mut Receiver, info: DeliveryInfo, settlement: Settlement) -> Result<()> {
    let result = match settlement {
        Settlement::Complete => receiver.accept(info).await,
        Settlement::Abandon => receiver.release(info).await,
        Settlement::Reject => receiver.reject(info, None).await,
    };
    result.map_err(|e| Error::connection_caused("disposition not sent", e))
}
