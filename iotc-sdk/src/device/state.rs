//! The connection's state, observable by the application.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

/// Where a device's connection stands.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected and subscribed: operations go straight out.
    Connected,
    /// The connection was lost; a reconnection follows unless the policy gives up.
    Disconnected {
        /// Why it was lost.
        reason: String,
    },
    /// Waiting `delay` before reconnection attempt `attempt` (1 for the first). Telemetry
    /// waits in the offline queue meanwhile.
    Reconnecting {
        /// The attempt number.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// Renewing the SAS token, or switching to updated credentials
    /// ([`Device::update_credentials_now`](crate::Device::update_credentials_now)): a clean
    /// disconnect and reconnect with a new token or credential.
    Renewing,
    /// Closed for good: by [`Device::close`](crate::Device::close), because every handle was
    /// dropped, or because reconnection gave up (`reason` says why).
    Closed {
        /// Why, when it was not a close by the application.
        reason: Option<String>,
    },
}

impl ConnectionState {
    /// Whether operations can go out now.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }

    /// Whether the connection is closed for good.
    pub fn is_closed(&self) -> bool {
        matches!(self, ConnectionState::Closed { .. })
    }
}

/// Publishes state transitions: the current state (a `watch`) and every transition in order
/// (a `broadcast`, so that no transition is lost to coalescing).
///
/// The `broadcast` channel (a few kilobytes with its 64 slots) is created by the first
/// [`subscribe`](Self::subscribe): most devices of a large fleet never ask for it.
#[derive(Debug)]
pub(crate) struct StatePublisher {
    current: watch::Sender<ConnectionState>,
    changes: OnceLock<broadcast::Sender<ConnectionState>>,
}

impl StatePublisher {
    pub(crate) fn new(initial: ConnectionState) -> Self {
        StatePublisher {
            current: watch::channel(initial).0,
            changes: OnceLock::new(),
        }
    }

    /// Records a transition, and logs it.
    pub(crate) fn set(&self, state: ConnectionState) {
        match &state {
            ConnectionState::Connected => tracing::info!("connection state: connected"),
            ConnectionState::Disconnected { reason } => {
                tracing::warn!(%reason, "connection state: disconnected")
            }
            ConnectionState::Reconnecting { attempt, delay } => {
                tracing::info!(attempt, ?delay, "connection state: reconnecting")
            }
            ConnectionState::Renewing => {
                tracing::info!("connection state: renewing (SAS token or updated credentials)")
            }
            ConnectionState::Closed { reason } => {
                tracing::info!(?reason, "connection state: closed")
            }
        }
        if let Some(changes) = self.changes.get() {
            let _ = changes.send(state.clone());
        }
        self.current.send_replace(state);
    }

    pub(crate) fn current(&self) -> ConnectionState {
        self.current.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> StateChanges {
        StateChanges {
            receiver: self
                .changes
                .get_or_init(|| broadcast::channel(64).0)
                .subscribe(),
        }
    }
}

/// Every connection-state transition from the moment it was created, in order, from
/// [`Device::state_changes`](crate::Device::state_changes).
#[derive(Debug)]
pub struct StateChanges {
    receiver: broadcast::Receiver<ConnectionState>,
}

impl StateChanges {
    /// Waits for the next transition; `None` once the connection task is gone. A reader more
    /// than 64 transitions behind skips the oldest ones.
    pub async fn next(&mut self) -> Option<ConnectionState> {
        loop {
            match self.receiver.recv().await {
                Ok(state) => return Some(state),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
