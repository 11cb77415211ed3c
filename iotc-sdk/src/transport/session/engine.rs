//! The sans-IO session engine: the decisions every transport's hub session makes the same
//! way, with no socket, no timer and no clock of its own.
//!
//! A transport adapter owns the connection. It tells the [`Engine`] what happened (a request
//! from the device handles, a write, an acknowledgement, the time on a timer tick, the end of
//! the connection) and does what the engine answers with an [`Action`]: start the clean
//! disconnect, renew the token on the live connection, or end the session. Between events it
//! sleeps until [`Engine::next_deadline`].
//!
//! The engine decides:
//!
//! - **admission**: whether new requests and the offline backlog are taken
//!   ([`Engine::accepts_requests`], [`Engine::accepts_backlog`]);
//! - **drains**: a close waits up to the flush timeout for what is in flight and for the
//!   backlog; a renewal by reconnection waits for what is in flight only; dropped handles end at
//!   once ([`Engine::close`], [`Engine::handles_dropped`], [`Engine::step`]);
//! - **deadlines**: an acknowledgement that does not arrive within the ack timeout ends the
//!   session as lost, so that the message goes out again on a new connection; the token is
//!   renewed at 80 % of its life ([`Engine::on_timer`]);
//! - **end reasons**: how the session ended, whatever the transport ([`Engine::finish`]).
//!   A connection lost while closing ends as [`EndReason::Closed`] for every transport: the
//!   application asked to close, and what was not delivered is counted in the close's answer;
//! - **the offline store**: when the durable queue may be cleared ([`Engine::may_clear_store`]).

use core::time::Duration;

use super::ledger::{Entry, Ledger};
use super::time::Timestamp;
use super::EndReason;
use crate::Error;

/// How the transport renews its SAS token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RenewBy {
    /// Drain, disconnect and connect again with a fresh token (MQTT, protocol.md §9.3).
    Reconnect,
    /// Put a fresh token on the live connection (AMQP's CBS).
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    InPlace,
}

/// The engine's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// How long a close or a renewal waits for what is in flight.
    pub(crate) flush_timeout: Duration,
    /// How long the hub may take to acknowledge telemetry before the connection is deemed
    /// broken.
    pub(crate) ack_timeout: Duration,
    /// What the acknowledgement is called in the timeout error (`"a PUBACK"`).
    pub(crate) ack_name: &'static str,
    /// When to renew the token, if the session signs its own.
    pub(crate) renew_at: Option<Timestamp>,
    /// How the token is renewed.
    pub(crate) renew_by: RenewBy,
}

/// Why the session is winding down; `C` is the close request's answer channel.
#[derive(Debug)]
pub(crate) enum Drain<C> {
    /// The application asked to close.
    Close(C),
    /// The token is due: reconnect with a fresh one.
    Renew,
    /// Every handle was dropped.
    Dropped,
}

/// What the adapter must do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Start the clean disconnect (everything is flushed, or the drain deadline passed).
    /// The adapter then reports [`Ended::Disconnected`] to [`Engine::finish`].
    Disconnect,
    /// Put a fresh token on the live connection, then call [`Engine::renewed`].
    RenewToken,
    /// The session is over: end the connection and report [`Ended::Lost`] with this error.
    Lost(Error),
}

/// How the connection ended, as the adapter saw it.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The disconnect the engine asked for ([`Action::Disconnect`]), or the peer closed.
    Disconnected,
    /// The connection broke.
    Lost(Error),
}

/// The state of one hub session. `T` is what the ledger tracks, `C` a close's answer channel.
#[derive(Debug)]
pub(crate) struct Engine<T, C> {
    /// The requests in flight.
    pub(crate) ledger: Ledger<T>,
    settings: Settings,
    drain: Option<(Drain<C>, Timestamp)>,
    /// The disconnect was asked for; nothing more is decided.
    disconnecting: bool,
    /// A renewal on the live connection is under way.
    renewing: bool,
}

impl<T, C> Engine<T, C> {
    /// A session that starts now with `settings`.
    pub(crate) fn new(settings: Settings) -> Self {
        Engine {
            ledger: Ledger::default(),
            settings,
            drain: None,
            disconnecting: false,
            renewing: false,
        }
    }

    /// New requests from the handles are taken only while the session is open.
    pub(crate) fn accepts_requests(&self) -> bool {
        self.drain.is_none()
    }

    /// The backlog is fed while open, and while flushing for a close (a renewal sends what is
    /// in flight and leaves the backlog to the next connection).
    pub(crate) fn accepts_backlog(&self) -> bool {
        matches!(self.drain, None | Some((Drain::Close(_), _)))
    }

    /// Whether the session is winding down.
    pub(crate) fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// The application asked to close at `now`: flush for up to the flush timeout. A close
    /// while already draining replaces a renewal's drain; a second close is answered by the
    /// first one's outcome.
    pub(crate) fn close(&mut self, reply: C, now: Timestamp) {
        self.start_drain(Drain::Close(reply), now + self.settings.flush_timeout);
    }

    /// A close taken from the offline backlog (asked for while disconnected): the backlog
    /// before it has been taken, so it closes as soon as what is in flight is done.
    pub(crate) fn close_now(&mut self, reply: C, now: Timestamp) {
        self.start_drain(Drain::Close(reply), now);
    }

    /// The application asked for a clean reconnection at `now` (new credentials): as a token
    /// renewal by reconnection, what is in flight is acknowledged first (for up to the flush
    /// timeout) and the backlog waits for the next connection.
    pub(crate) fn reconnect(&mut self, now: Timestamp) {
        self.start_drain(Drain::Renew, now + self.settings.flush_timeout);
    }

    /// Every handle is gone: end at once, keeping what is in flight for the offline store.
    pub(crate) fn handles_dropped(&mut self, now: Timestamp) {
        self.start_drain(Drain::Dropped, now);
    }

    fn start_drain(&mut self, drain: Drain<C>, deadline: Timestamp) {
        match (&self.drain, &drain) {
            (None, _) | (Some((Drain::Renew, _)), Drain::Close(_) | Drain::Dropped) => {
                self.drain = Some((drain, deadline));
            }
            _ => {}
        }
    }

    /// The decision of a turn of the adapter's loop while draining: [`Action::Disconnect`] once
    /// everything is flushed (nothing in flight, and no backlog left when the backlog is being
    /// fed) or the drain deadline passed. `backlog_empty` says whether the offline backlog is
    /// empty. Once asked, the disconnect is not asked again.
    pub(crate) fn step(&mut self, now: Timestamp, backlog_empty: bool) -> Option<Action> {
        let (_, deadline) = self.drain.as_ref()?;
        if self.disconnecting {
            return None;
        }
        let flushed = !self.ledger.in_flight() && (backlog_empty || !self.accepts_backlog());
        if flushed || now >= *deadline {
            self.disconnecting = true;
            return Some(Action::Disconnect);
        }
        None
    }

    /// The transport wrote `entry` at `now`; it waits for the acknowledgement named `key`
    /// (an MQTT packet id, an AMQP delivery number) for up to the ack timeout.
    pub(crate) fn written(&mut self, key: u64, now: Timestamp, entry: Entry<T>) {
        let due = now + self.settings.ack_timeout;
        self.ledger.await_ack(key, due, entry);
    }

    /// When the adapter must next call [`on_timer`](Self::on_timer) (or [`step`](Self::step),
    /// for the drain deadline): the earliest of the acknowledgement deadline, the renewal and
    /// the drain deadline. Called on every turn of an adapter's loop: a few comparisons.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        let mut next = self.ack_deadline();
        if self.drain.is_none() {
            // Open: only the renewal can come first.
            if let (Some(renew), false) = (self.settings.renew_at, self.renewing) {
                next = Some(next.map_or(renew, |n| n.min(renew)));
            }
        } else if let (Some((_, deadline)), false) = (&self.drain, self.disconnecting) {
            next = Some(next.map_or(*deadline, |n| n.min(*deadline)));
        }
        next
    }

    /// When the oldest unacknowledged write times out.
    pub(crate) fn ack_deadline(&self) -> Option<Timestamp> {
        self.ledger.first_ack_due()
    }

    /// When the token is due, unless the session is winding down or renewing already.
    fn renew_deadline(&self) -> Option<Timestamp> {
        self.settings
            .renew_at
            .filter(|_| self.drain.is_none() && !self.renewing)
    }

    /// A timer tick at `now`: an acknowledgement overdue ends the session as lost (the message
    /// goes out again on a new connection); a token due starts its renewal (a drain, or
    /// [`Action::RenewToken`]). A passed drain deadline is acted on by [`step`](Self::step).
    pub(crate) fn on_timer(&mut self, now: Timestamp) -> Option<Action> {
        if self.ack_deadline().is_some_and(|deadline| now >= deadline) {
            let Settings {
                ack_timeout,
                ack_name,
                ..
            } = self.settings;
            return Some(Action::Lost(Error::Timeout(ack_timeout, ack_name)));
        }
        if self
            .renew_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            match self.settings.renew_by {
                RenewBy::Reconnect => {
                    self.start_drain(Drain::Renew, now + self.settings.flush_timeout);
                }
                RenewBy::InPlace => {
                    self.renewing = true;
                    return Some(Action::RenewToken);
                }
            }
        }
        None
    }

    /// The token was renewed on the live connection; the next renewal is due at `next`.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) fn renewed(&mut self, next: Option<Timestamp>) {
        self.renewing = false;
        self.settings.renew_at = next;
    }

    /// Whether the durable offline queue may be cleared: everything it held was delivered
    /// (no backlog, nothing queued or unacknowledged).
    pub(crate) fn may_clear_store(&self, backlog_empty: bool) -> bool {
        backlog_empty && !self.ledger.unconfirmed()
    }

    /// How the session ended, from how the connection ended and why it was winding down, and
    /// the close request's answer channel if there was one. Every transport ends this way:
    ///
    /// | connection | winding down for | end |
    /// | --- | --- | --- |
    /// | disconnected | a close | `Closed` (answer the close) |
    /// | disconnected | a renewal | `Renew` |
    /// | disconnected | dropped handles | `Dropped` |
    /// | disconnected | nothing (the peer closed) | `Lost` |
    /// | lost | a close | `Closed` (answer the close) |
    /// | lost | a renewal | `Lost` |
    /// | lost | dropped handles | `Dropped` |
    /// | lost | nothing | `Lost` |
    pub(crate) fn finish(&mut self, ended: Ended) -> (EndReason, Option<C>) {
        match (ended, self.drain.take()) {
            (_, Some((Drain::Close(reply), _))) => (EndReason::Closed, Some(reply)),
            (_, Some((Drain::Dropped, _))) => (EndReason::Dropped, None),
            (Ended::Disconnected, Some((Drain::Renew, _))) => (EndReason::Renew, None),
            (Ended::Disconnected, None) => (
                EndReason::Lost(Error::connection("the hub closed the connection")),
                None,
            ),
            (Ended::Lost(error), _) => (EndReason::Lost(error), None),
        }
    }
}
