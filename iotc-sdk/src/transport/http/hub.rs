//! The IoT hub device API over HTTPS (protocol.md §6): telemetry and batches, cloud-to-device
//! messages by polling, settlement by lock token. There is no twin and there are no direct
//! methods over HTTPS (§6.5): those requests fail at once with [`Error::Unsupported`].
//!
//! A "session" is a client with its credentials: connecting polls for cloud-to-device messages
//! once, which proves the credentials; requests then run concurrently (up to
//! [`MAX_IN_FLIGHT`]). A request that fails for a reason a new attempt may cure (network,
//! throttling, 5xx, refused credentials) goes back to the backlog and ends the session, so the
//! supervisor retries with its backoff, exactly as after a lost MQTT connection.

use std::sync::Arc;
use std::time::Duration;

use azure_core::http::Method;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{segment, wire, HttpsClient, Timeouts};
use crate::auth::{hub_device_resource, RequestToken, TokenSource};
use crate::message::{CloudMessage, Message, Settlement};
use crate::transport::session::engine::{Action, Ended, Engine, RenewBy, Settings};
use crate::transport::session::limits::check_size;
use crate::transport::session::reconnect::ends_session;
use crate::transport::session::{fail, forward, Clock, EndReason, SessionEnd, SessionIo, FAR};
use crate::transport::{HubConfig, Inbound, Protocol, Request};
use crate::{Error, Result};

/// Requests sent at the same time.
const MAX_IN_FLIGHT: usize = 16;

/// Messages taken in one poll before the next interval (the hub keeps at most 50 per device).
const MAX_PER_POLL: usize = 50;

/// A client for the device API of one hub, as one device.
pub(crate) struct HubClient {
    http: HttpsClient,
    device_id: String,
}

impl HubClient {
    /// A client for the hub of `config` on `port`, authenticating as the device.
    pub(crate) fn new(config: &HubConfig, port: u16) -> Result<Self> {
        let (auth, identity) = match &config.auth {
            TokenSource::Key(key) => (
                RequestToken::signed(
                    key.clone(),
                    hub_device_resource(&config.hub_host, &config.device_id),
                    None,
                    config.sas_ttl,
                ),
                None,
            ),
            TokenSource::Token(token) => (RequestToken::Given(token.clone()), None),
            TokenSource::X509(identity) => (RequestToken::None, Some(identity)),
            TokenSource::External(_) => {
                return Err(Error::Config(
                    "IoT Edge modules connect over MQTT or AMQP, not HTTPS".into(),
                ))
            }
        };
        let http = HttpsClient::new(
            &config.connect_host,
            port,
            &config.tls,
            identity,
            auth,
            Timeouts {
                connect: config.connect_timeout,
                request: config.operation_timeout,
            },
            config.proxy.as_ref(),
        )?;
        Ok(HubClient {
            http,
            device_id: config.device_id.clone(),
        })
    }

    /// `/devices/{id}{rest}?api-version=…{query}`.
    pub(crate) fn path(&self, rest: &str, query: &str) -> String {
        format!(
            "/devices/{}{rest}?api-version={}{query}",
            segment(&self.device_id),
            wire::HUB_API_VERSION
        )
    }

    /// The underlying HTTPS client.
    pub(crate) fn http(&self) -> &HttpsClient {
        &self.http
    }

    /// The device id.
    pub(crate) fn device_id(&self) -> &str {
        &self.device_id
    }

    async fn send_message(&self, message: &Message) -> Result<()> {
        check_size(wire::message_size(message))?;
        let headers = wire::telemetry_headers(&self.device_id, message)?;
        let response = self
            .http
            .send(
                Method::Post,
                &self.path("/messages/events", ""),
                headers,
                Some(message.payload().to_vec()),
            )
            .await?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(response.error()),
        }
    }

    async fn send_batch(&self, messages: &[Message]) -> Result<()> {
        let body = wire::batch_body(messages)?;
        check_size(body.len())?;
        let headers = vec![
            (
                "iothub-to".to_owned(),
                format!("/devices/{}/messages/events", self.device_id),
            ),
            (
                "content-type".to_owned(),
                wire::BATCH_CONTENT_TYPE.to_owned(),
            ),
        ];
        let response = self
            .http
            .send(
                Method::Post,
                &self.path("/messages/events", ""),
                headers,
                Some(body),
            )
            .await?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(response.error()),
        }
    }

    /// Takes the next cloud-to-device message, if any (`204` = none).
    async fn receive(&self) -> Result<Option<CloudMessage>> {
        let headers = vec![(
            "iothub-to".to_owned(),
            format!("/devices/{}/messages/deviceBound", self.device_id),
        )];
        let response = self
            .http
            .send(
                Method::Get,
                &self.path("/messages/deviceBound", ""),
                headers,
                None,
            )
            .await?;
        match response.status {
            204 => Ok(None),
            200 => {
                let headers = response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()));
                let message = wire::parse_c2d(headers, &response.body);
                if message.lock_token.is_none() {
                    return Err(Error::Serialization(
                        "cloud-to-device message without an ETag (lock token)".into(),
                    ));
                }
                Ok(Some(message))
            }
            _ => Err(response.error()),
        }
    }

    /// Takes every waiting cloud-to-device message (up to [`MAX_PER_POLL`]).
    async fn receive_all(&self) -> Result<Vec<CloudMessage>> {
        let mut messages = Vec::new();
        while messages.len() < MAX_PER_POLL {
            match self.receive().await? {
                Some(message) => messages.push(message),
                None => break,
            }
        }
        Ok(messages)
    }

    /// Completes, abandons or rejects the message locked with `lock_token` (protocol.md §6.3).
    async fn settle(&self, lock_token: &str, settlement: Settlement) -> Result<()> {
        let token = segment(lock_token);
        let (method, path) = match settlement {
            Settlement::Complete => (
                Method::Delete,
                self.path(&format!("/messages/deviceBound/{token}"), ""),
            ),
            Settlement::Reject => (
                Method::Delete,
                self.path(&format!("/messages/deviceBound/{token}"), "&reject"),
            ),
            Settlement::Abandon => (
                Method::Post,
                self.path(&format!("/messages/deviceBound/{token}/abandon"), ""),
            ),
        };
        let headers = vec![("if-match".to_owned(), format!("\"{lock_token}\""))];
        let response = self.http.send(method, &path, headers, None).await?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(response.error()),
        }
    }
}

/// A ready HTTPS "session": a client whose credentials the hub accepted.
pub(crate) struct HubSession {
    client: Arc<HubClient>,
    /// Messages taken while connecting, handed out first by `run`.
    early: Vec<CloudMessage>,
    poll_interval: Duration,
}

/// Builds the client and polls once for cloud-to-device messages, which checks the
/// credentials (401 → [`Error::Unauthorized`]) and the hub's reachability.
pub(crate) async fn connect(config: &HubConfig) -> Result<HubSession> {
    if config.module_id.is_some() {
        return Err(Protocol::Https.unsupported("a module identity"));
    }
    let client = Arc::new(HubClient::new(config, config.port)?);
    debug!(host = %config.connect_host, port = config.port, device_id = %config.device_id, "connecting to IoT hub over HTTPS");
    let early = tokio::time::timeout(config.connect_timeout, client.receive_all())
        .await
        .unwrap_or(Err(Error::Timeout(
            config.connect_timeout,
            "the first poll",
        )))?;
    info!(hub = %config.hub_host, device_id = %config.device_id, "connected to IoT hub over HTTPS");
    Ok(HubSession {
        client,
        early,
        poll_interval: config.c2d_poll_interval,
    })
}

/// What a finished task reports to the session.
enum Done {
    /// Answered (or nothing to answer).
    Finished,
    /// Failed for a reason a later attempt may cure: the session ends; the request, if it
    /// may be sent again, goes back to the backlog.
    Lost(Option<Box<Request>>, Error),
    /// A poll's messages.
    Polled(Result<Vec<CloudMessage>>),
}

/// Carries out one request and answers it, or hands it back for another attempt.
async fn perform(client: Arc<HubClient>, request: Request) -> Done {
    let result = match &request {
        Request::Telemetry { message, .. } => client.send_message(message).await,
        Request::TelemetryBatch { messages, .. } => client.send_batch(messages).await,
        Request::Settle {
            lock_token,
            settlement,
            ..
        } => client.settle(lock_token, *settlement).await,
        _ => Ok(()),
    };
    match result {
        Err(e) if ends_session(&e) => {
            let again = match &request {
                Request::Telemetry { message, .. } => !message.is_at_most_once(),
                _ => true,
            };
            if again {
                Done::Lost(Some(Box::new(request)), e)
            } else {
                let text = e.to_string();
                fail(request, e);
                Done::Lost(None, Error::connection(text))
            }
        }
        Err(e) => {
            fail(request, e);
            Done::Finished
        }
        Ok(()) => {
            match request {
                Request::Telemetry { reply, .. }
                | Request::TelemetryBatch { reply, .. }
                | Request::Settle { reply, .. } => {
                    let _ = reply.send(Ok(()));
                }
                _ => {}
            }
            Done::Finished
        }
    }
}

/// The session engine of an HTTPS session. Requests live in their tasks; the ledger counts
/// the tasks (a write with nothing to keep per task) so that drains wait for them.
type HttpEngine = Engine<(), tokio::sync::oneshot::Sender<Result<()>>>;

/// The tasks of a session, counted by its engine.
struct Tasks {
    set: JoinSet<Done>,
    engine: HttpEngine,
}

impl Tasks {
    fn spawn(&mut self, task: impl std::future::Future<Output = Done> + Send + 'static) {
        self.set.spawn(task);
        self.engine.ledger.hand_over(None);
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

impl HubSession {
    /// Runs until closed or until a request or poll fails in a way that needs a new attempt;
    /// unfinished requests go back to the front of the backlog.
    pub(crate) async fn run(mut self, io: SessionIo<'_>) -> SessionEnd {
        let SessionIo {
            requests,
            backlog,
            inbound,
            flush_timeout,
            ack_timeout,
            mut store,
            ..
        } = io;
        let clock = Clock::start();
        let mut tasks = Tasks {
            set: JoinSet::new(),
            engine: Engine::new(Settings {
                flush_timeout,
                ack_timeout,
                ack_name: "an HTTPS answer",
                renew_at: None,
                renew_by: RenewBy::Reconnect,
            }),
        };
        let mut retry: Vec<Request> = Vec::new();
        let mut lost: Option<Error> = None;
        let mut polling = false;
        let mut next_poll = Instant::now() + self.poll_interval;
        let early = std::mem::take(&mut self.early);
        self.deliver(early, inbound, &mut tasks);
        let far = Instant::now() + FAR;

        loop {
            let accepting = lost.is_none() && tasks.engine.accepts_requests();
            // While open, and while flushing for a close.
            let feeding = lost.is_none() && tasks.engine.accepts_backlog();
            while tasks.len() < MAX_IN_FLIGHT && feeding {
                let Some(request) = backlog.pop_front() else {
                    break;
                };
                self.start(request, &mut tasks, &clock);
            }
            if let Some(store) = store.as_deref_mut() {
                if store.is_dirty()
                    && tasks.engine.may_clear_store(backlog.is_empty())
                    && retry.is_empty()
                {
                    store.clear();
                }
            }
            if lost.is_some() && tasks.is_empty() {
                break;
            }
            if tasks.engine.is_draining() {
                if let Some(Action::Disconnect) = tasks.engine.step(clock.now(), backlog.is_empty())
                {
                    break;
                }
            }
            let deadline = tasks
                .engine
                .next_deadline()
                .map_or(far, |at| clock.instant(at));
            let work_left = !tasks.is_empty();
            tokio::select! {
                Some(done) = tasks.set.join_next(), if work_left => {
                    tasks.engine.ledger.written();
                    let done = match done {
                        Ok(done) => done,
                        Err(e) => Done::Lost(None, Error::connection_caused("HTTPS task failed", e)),
                    };
                    match done {
                        Done::Finished => {}
                        Done::Lost(request, error) => {
                            if let Some(request) = request {
                                retry.push(*request);
                            }
                            if lost.is_none() {
                                warn!(device_id = %self.client.device_id, error = %error.chain(), "HTTPS request failed; reconnecting");
                                lost = Some(error);
                            }
                        }
                        Done::Polled(result) => {
                            polling = false;
                            next_poll = Instant::now() + self.poll_interval;
                            match result {
                                Ok(messages) => self.deliver(messages, inbound, &mut tasks),
                                Err(e) if ends_session(&e) => {
                                    if lost.is_none() {
                                        lost = Some(e);
                                    }
                                }
                                Err(e) => warn!(error = %e, "polling for cloud-to-device messages failed"),
                            }
                        }
                    }
                }
                request = requests.recv(), if accepting && tasks.len() < MAX_IN_FLIGHT => match request {
                    Some(request) => self.start(request, &mut tasks, &clock),
                    None => tasks.engine.handles_dropped(clock.now()),
                },
                _ = tokio::time::sleep_until(next_poll), if accepting && !polling => {
                    polling = true;
                    let client = self.client.clone();
                    tasks.spawn(async move { Done::Polled(client.receive_all().await) });
                }
                _ = tokio::time::sleep_until(deadline), if tasks.engine.is_draining() => {}
            }
        }
        tasks.set.abort_all();
        for request in retry.into_iter().rev() {
            backlog.push_front(request);
        }
        let ended = match lost {
            Some(error) => Ended::Lost(error),
            None => Ended::Disconnected,
        };
        let (reason, close) = tasks.engine.finish(ended);
        match &reason {
            EndReason::Lost(e) => {
                info!(device_id = %self.client.device_id, error = %e.chain(), "IoT hub HTTPS session lost")
            }
            _ => info!(device_id = %self.client.device_id, "IoT hub HTTPS session closed"),
        }
        SessionEnd { reason, close }
    }

    /// Starts `request`; a close starts the engine's drain.
    fn start(&self, request: Request, tasks: &mut Tasks, clock: &Clock) {
        match request {
            Request::Close { reply } => tasks.engine.close(reply, clock.now()),
            Request::Reconnect => tasks.engine.reconnect(clock.now()),
            Request::GetTwin { .. } | Request::PatchReported { .. } => {
                fail(request, Protocol::Https.unsupported("the device twin"));
            }
            Request::CommandResponse { .. } => {
                fail(request, Protocol::Https.unsupported("direct methods"));
            }
            request => {
                tasks.spawn(perform(self.client.clone(), request));
            }
        }
    }

    /// Hands polled messages to the application. IoT Central's queued commands (messages with
    /// `method-name`) are completed at once, as MQTT's acknowledgement does: the application
    /// answers them as commands, not as messages.
    fn deliver(
        &self,
        messages: Vec<CloudMessage>,
        inbound: &mpsc::Sender<Inbound>,
        tasks: &mut Tasks,
    ) {
        for message in messages {
            if message.property("method-name").is_some() {
                if let Some(token) = message.lock_token.clone() {
                    let client = self.client.clone();
                    tasks.spawn(async move {
                        if let Err(e) = client.settle(&token, Settlement::Complete).await {
                            warn!(error = %e, "could not complete a queued command's message");
                        }
                        Done::Finished
                    });
                }
            }
            forward(inbound, Inbound::CloudMessage(Box::new(message)));
        }
    }
}
