//! The connection supervisor: one task per device that owns the connection across its whole
//! life. It runs a hub session, and when the session ends it reconnects (with the retry
//! policy's backoff), renews the SAS token, re-provisions when the hub refuses the device, keeps
//! requests made while disconnected in the offline queue, and publishes every state change.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::durable::Store;
use super::rotation::{expiring, Rotation};
use super::state::{ConnectionState, StatePublisher};
use crate::provisioning::{BoundCache, ProvisioningClient};
use crate::retry::RetryPolicy;
use crate::transport::hub::Session;
use crate::transport::session::admission::{admit, Admitted, WhenFull};
use crate::transport::session::reconnect::{Next, Reconnect};
use crate::transport::session::{fail, Clock, EndReason, OfflineStore, SessionIo};
use crate::transport::{HubConfig, Inbound, Request};
use crate::{Error, Result};

/// What to do when the offline queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Stop taking requests: senders wait (up to their operation timeout) for room.
    #[default]
    Wait,
    /// Drop the oldest queued telemetry; its sender gets [`Error::QueueFull`].
    DropOldest,
    /// Refuse the new request with [`Error::QueueFull`].
    Error,
}

/// How requests wait while the device is disconnected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineQueue {
    /// How many requests may wait. Default 1000.
    pub capacity: usize,
    /// What happens when it is full. Default [`Overflow::Wait`].
    pub overflow: Overflow,
    /// A file that mirrors the queued telemetry, so that a process restart does not lose it:
    /// the next [`connect`](crate::DeviceBuilder::connect) with the same file sends what the
    /// last run could not. Default `None` (in memory only).
    pub durable: Option<std::path::PathBuf>,
}

impl Default for OfflineQueue {
    fn default() -> Self {
        OfflineQueue {
            capacity: 1000,
            overflow: Overflow::Wait,
            durable: None,
        }
    }
}

/// How the device finds its hub again.
pub(crate) enum Route {
    /// A fixed hub (connection string).
    Direct,
    /// Through DPS, which may assign another hub; the cache (if any) learns each new hub.
    Dps {
        /// The registration to make again.
        client: Box<ProvisioningClient>,
        /// Where the device remembers its assignment.
        cache: Option<BoundCache>,
    },
}

pub(crate) struct Supervisor {
    pub(crate) hub: HubConfig,
    /// `hub`, shared with the device handle after every change of hub.
    pub(crate) current: super::CurrentHub,
    pub(crate) route: Route,
    pub(crate) policy: Arc<dyn RetryPolicy>,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    pub(crate) state: Arc<StatePublisher>,
    pub(crate) backlog: VecDeque<Request>,
    pub(crate) queue: OfflineQueue,
    pub(crate) store: Option<Store>,
    pub(crate) flush_timeout: Duration,
    /// Credentials updated by the application, for the next connection.
    pub(crate) rotation: Arc<Rotation>,
    /// The certificate (SHA-256 thumbprint) whose expiry was reported last.
    pub(crate) expiry_reported: Option<String>,
    /// The generation of the credentials the device connects with (0: the builder's).
    pub(crate) generation: u64,
}

impl Supervisor {
    pub(crate) async fn run(mut self, mut session: Session) {
        loop {
            if !self.state.current().is_connected() {
                self.state.set(ConnectionState::Connected);
            }
            self.rotation.connected_with(self.generation);
            self.report_expiry();
            let renew_at = session.renew_at();
            let end = session
                .run(SessionIo {
                    requests: &mut self.requests,
                    backlog: &mut self.backlog,
                    inbound: &self.inbound,
                    renew_at,
                    flush_timeout: self.flush_timeout,
                    ack_timeout: (self.flush_timeout / 2).max(Duration::from_secs(1)),
                    store: self.store.as_mut().map(|s| s as &mut dyn OfflineStore),
                })
                .await;
            if let Some(store) = &mut self.store {
                store.save(&self.backlog);
            }
            if let Some(reply) = end.close {
                self.finish_close(reply);
                return;
            }
            let error = match end.reason {
                EndReason::Closed | EndReason::Dropped => {
                    self.fail_backlog();
                    self.state.set(ConnectionState::Closed { reason: None });
                    return;
                }
                EndReason::Renew => {
                    self.state.set(ConnectionState::Renewing);
                    // Boxed here and below: the task lives as long as the device, and an
                    // `async fn` keeps its largest await point inline. Connecting (TLS,
                    // CONNECT, provisioning) is that point, but it is rare.
                    match Box::pin(self.connect(false)).await {
                        Ok(next) => {
                            session = next;
                            continue;
                        }
                        Err(e) => e,
                    }
                }
                EndReason::Lost(e) => {
                    self.state
                        .set(ConnectionState::Disconnected { reason: e.chain() });
                    e
                }
            };
            match Box::pin(self.reconnect(error)).await {
                Some(next) => session = next,
                None => return,
            }
        }
    }

    /// Retries until connected (`Some`), or until the policy gives up or the application
    /// closes (`None`; the state is then `Closed`).
    async fn reconnect(&mut self, mut error: Error) -> Option<Session> {
        let clock = Clock::start();
        let mut decisions = Reconnect::new(matches!(self.route, Route::Dps { .. }));
        loop {
            let (attempt, delay, reprovision) =
                match decisions.after(&error, clock.now(), &*self.policy) {
                    Next::Retry {
                        attempt,
                        delay,
                        reprovision,
                    } => (attempt, delay, reprovision),
                    Next::GiveUp => {
                        self.give_up(error);
                        return None;
                    }
                };
            self.state
                .set(ConnectionState::Reconnecting { attempt, delay });
            if !self.wait(delay).await {
                return None;
            }
            match self.connect(reprovision).await {
                Ok(session) => return Some(session),
                Err(e) => {
                    tracing::info!(attempt, error = %e.chain(), "reconnection failed");
                    error = e;
                }
            }
        }
    }

    async fn connect(&mut self, reprovision: bool) -> Result<Session> {
        // New credentials: a DPS device registers again with them, so that the hub learns them
        // (the registration id stays the same).
        let reprovision = self.take_credentials() || reprovision;
        if reprovision {
            if let Route::Dps { client, cache } = &self.route {
                tracing::info!(hub = %self.hub.hub_host, "registering with DPS again");
                let registration = client.register().await?;
                self.hub.hub_host.clone_from(&registration.assigned_hub);
                self.hub.connect_host.clone_from(&registration.assigned_hub);
                self.hub.port = registration.hub_port;
                if !registration.device_id.is_empty() {
                    self.hub.device_id.clone_from(&registration.device_id);
                }
                if let Some(cache) = cache {
                    cache.remember(&registration, &self.hub.device_id);
                }
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    super::HubSnapshot(self.hub.clone());
            }
        }
        Session::connect(&self.hub).await
    }

    /// Switches to the credentials the application updated, if any; true when the device
    /// should register with DPS again (it came through DPS).
    fn take_credentials(&mut self) -> bool {
        let Some((credentials, auth, generation)) = self.rotation.take() else {
            return false;
        };
        tracing::info!(device_id = %self.hub.device_id, "connecting with updated credentials");
        self.hub.auth = auth;
        self.generation = generation;
        match &mut self.route {
            Route::Dps { client, .. } => {
                client.set_credentials(credentials);
                true
            }
            Route::Direct => false,
        }
    }

    /// Reports a device certificate that expires within the warning period (or has expired),
    /// once per certificate: a warning in the log and [`Inbound::CredentialExpiring`].
    fn report_expiry(&mut self) {
        let Some(identity) = self.hub.auth.identity() else {
            return;
        };
        let now = time::OffsetDateTime::now_utc();
        let Some((subject, not_after)) = expiring(identity, now, self.rotation.expiry_warning)
        else {
            return;
        };
        let thumbprint = identity.thumbprint_sha256();
        if self.expiry_reported.as_ref() == Some(&thumbprint) {
            return;
        }
        if not_after <= now {
            tracing::warn!(%subject, %not_after, "the device certificate has expired: rotate it (Device::update_credentials)");
        } else {
            tracing::warn!(%subject, %not_after, "the device certificate expires soon: rotate it (Device::update_credentials)");
        }
        self.expiry_reported = Some(thumbprint);
        crate::transport::session::forward(
            &self.inbound,
            Inbound::CredentialExpiring { subject, not_after },
        );
    }

    /// Waits `delay`, queueing requests meanwhile. False when the application closed (or
    /// dropped every handle) during the wait.
    async fn wait(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            let room =
                self.backlog.len() < self.queue.capacity || self.queue.overflow != Overflow::Wait;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                request = self.requests.recv(), if room => match request {
                    None => {
                        self.fail_backlog();
                        self.state.set(ConnectionState::Closed { reason: None });
                        return false;
                    }
                    Some(Request::Close { reply }) => {
                        self.finish_close(reply);
                        return false;
                    }
                    // The next connection uses the new credentials anyway.
                    Some(Request::Reconnect) => {}
                    Some(request) => {
                        self.enqueue(request);
                        if let Some(store) = &mut self.store {
                            store.save(&self.backlog);
                        }
                    }
                },
            }
        }
    }

    fn enqueue(&mut self, request: Request) {
        let when_full = match self.queue.overflow {
            Overflow::Error => WhenFull::Refuse,
            Overflow::DropOldest | Overflow::Wait => WhenFull::DropOldest,
        };
        let is_telemetry = |r: &Request| matches!(r, Request::Telemetry { .. });
        match admit(
            &mut self.backlog,
            request,
            self.queue.capacity,
            when_full,
            is_telemetry,
        ) {
            Admitted::Queued => {}
            Admitted::Evicted(dropped) => fail(dropped, Error::QueueFull),
            Admitted::Refused(request) => fail(request, Error::QueueFull),
        }
    }

    /// Closes for good on the application's request: whatever is still queued is reported.
    fn finish_close(&mut self, reply: oneshot::Sender<Result<()>>) {
        let unsent = self.fail_backlog();
        self.state.set(ConnectionState::Closed { reason: None });
        let _ = reply.send(if unsent == 0 {
            Ok(())
        } else {
            Err(Error::Unsent { messages: unsent })
        });
    }

    fn give_up(&mut self, error: Error) {
        let reason = format!("gave up reconnecting: {}", error.chain());
        self.fail_backlog();
        self.state.set(ConnectionState::Closed {
            reason: Some(reason),
        });
        let _ = self.inbound.try_send(Inbound::Disconnected(error));
    }

    /// Fails every queued request (and those still in the channel); returns how many
    /// telemetry messages were never sent.
    /// A durable queue keeps the telemetry for the next run.
    fn fail_backlog(&mut self) -> usize {
        self.requests.close();
        let mut unsent = 0;
        while let Ok(request) = self.requests.try_recv() {
            if !matches!(request, Request::Close { .. }) {
                self.backlog.push_back(request);
            }
        }
        if let Some(store) = &mut self.store {
            store.save(&self.backlog);
        }
        for request in self.backlog.drain(..) {
            if matches!(request, Request::Telemetry { .. }) {
                unsent += 1;
            }
            fail(request, Error::Closed);
        }
        unsent
    }
}
