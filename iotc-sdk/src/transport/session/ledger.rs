//! The in-flight ledger: every request a session handed to its transport, kept until it is
//! done, so that it can go out again on the next connection if this one breaks.
//!
//! A request passes through up to three places, each in the order the transport works:
//! handed over and not yet written ([`Ledger::hand_over`], [`Ledger::written`]); written and
//! waiting for the peer's acknowledgement by a key the transport picks (an MQTT packet id, an
//! AMQP delivery number: [`Ledger::await_ack`], [`Ledger::acknowledge`]); waiting for an answer
//! by request id (twin requests: [`Ledger::await_answer`], [`Ledger::answer`]).
//!
//! Acknowledgements arrive in send order, so the acknowledged request is nearly always the
//! front one, and the front one is the oldest: no map, no hashing, no scan per turn.

use std::collections::{BTreeMap, VecDeque};

use super::time::Timestamp;

/// A request with its place in the order requests were taken.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// Increases with every request the ledger tracks.
    pub(crate) seq: u64,
    /// The request.
    pub(crate) item: T,
}

/// A written request waiting for its acknowledgement.
#[derive(Debug)]
struct Unacked<T> {
    key: u64,
    /// When the acknowledgement is overdue.
    due: Timestamp,
    entry: Entry<T>,
}

/// The requests a session is working on. See the module documentation.
#[derive(Debug)]
pub(crate) struct Ledger<T> {
    /// Handed to the transport and not yet written, in order. `None` for writes that need
    /// nothing kept (answers are kept in `answers`).
    queued: VecDeque<Option<Entry<T>>>,
    /// Written and waiting for an acknowledgement, in send order.
    unacked: VecDeque<Unacked<T>>,
    /// Waiting for an answer, by request id.
    answers: BTreeMap<String, Entry<T>>,
    next_seq: u64,
}

impl<T> Default for Ledger<T> {
    fn default() -> Self {
        Ledger {
            queued: VecDeque::new(),
            unacked: VecDeque::new(),
            answers: BTreeMap::new(),
            next_seq: 0,
        }
    }
}

impl<T> Ledger<T> {
    /// Gives `item` its place in the order of requests.
    pub(crate) fn track(&mut self, item: T) -> Entry<T> {
        self.next_seq += 1;
        Entry {
            seq: self.next_seq,
            item,
        }
    }

    /// The transport took a write; `entry` is what to keep until it is written.
    pub(crate) fn hand_over(&mut self, entry: Option<Entry<T>>) {
        self.queued.push_back(entry);
    }

    /// The transport wrote its oldest queued write: what was kept for it, if anything.
    pub(crate) fn written(&mut self) -> Option<Entry<T>> {
        self.queued.pop_front().flatten()
    }

    /// `entry` was written and waits for the acknowledgement named `key`, overdue at `due`.
    /// Requests are written in order and wait equally long, so the front one is due first.
    pub(crate) fn await_ack(&mut self, key: u64, due: Timestamp, entry: Entry<T>) {
        self.unacked.push_back(Unacked { key, due, entry });
    }

    /// Takes the request that acknowledgement `key` acknowledges. A transport reuses a key only
    /// after its acknowledgement, so at most one waiting request has it.
    pub(crate) fn acknowledge(&mut self, key: u64) -> Option<Entry<T>> {
        // The oldest, nearly always (acknowledgements come in send order).
        if self.unacked.front().is_some_and(|u| u.key == key) {
            return self.unacked.pop_front().map(|u| u.entry);
        }
        let i = self.unacked.iter().position(|u| u.key == key)?;
        self.unacked.remove(i).map(|u| u.entry)
    }

    /// Puts back, as the oldest waiting request, one that [`acknowledge`](Self::acknowledge)
    /// took but that must go out again (the hub refused it for now): when the session ends, it
    /// is the first to go out on the next connection.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))] // AMQP's throttled deliveries
    pub(crate) fn requeue_oldest(&mut self, key: u64, due: Timestamp, entry: Entry<T>) {
        self.unacked.push_front(Unacked { key, due, entry });
    }

    /// When the acknowledgement of the oldest request waiting for one is overdue.
    pub(crate) fn first_ack_due(&self) -> Option<Timestamp> {
        self.unacked.front().map(|u| u.due)
    }

    /// `entry` waits for the answer to request `id`.
    pub(crate) fn await_answer(&mut self, id: String, entry: Entry<T>) {
        self.answers.insert(id, entry);
    }

    /// Takes the request that the answer to `id` answers.
    pub(crate) fn answer(&mut self, id: &str) -> Option<Entry<T>> {
        self.answers.remove(id)
    }

    /// Takes the request waiting for an answer that was tracked as `seq` (its write failed).
    /// Scans the requests waiting for answers: for failures only.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) fn take_answer_by_seq(&mut self, seq: u64) -> Option<Entry<T>> {
        let id = self
            .answers
            .iter()
            .find(|(_, e)| e.seq == seq)
            .map(|(id, _)| id.clone())?;
        self.answers.remove(&id)
    }

    /// How many requests the ledger holds or the transport has queued.
    #[cfg_attr(not(feature = "amqp"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.queued.len() + self.unacked.len() + self.answers.len()
    }

    /// Whether anything is in flight: queued, unacknowledged or unanswered.
    pub(crate) fn in_flight(&self) -> bool {
        !self.queued.is_empty() || !self.unacked.is_empty() || !self.answers.is_empty()
    }

    /// Whether some telemetry may still be unconfirmed: something is queued or unacknowledged.
    /// The durable offline queue may be cleared only when none is.
    pub(crate) fn unconfirmed(&self) -> bool {
        !self.queued.is_empty() || !self.unacked.is_empty()
    }

    /// Everything still to do, in the order it was asked for; the ledger is left empty.
    pub(crate) fn take_unfinished(&mut self) -> Vec<T> {
        let mut all: Vec<Entry<T>> = self.queued.drain(..).flatten().collect();
        all.extend(self.unacked.drain(..).map(|u| u.entry));
        all.extend(core::mem::take(&mut self.answers).into_values());
        all.sort_by_key(|e| e.seq);
        all.into_iter().map(|e| e.item).collect()
    }
}
