//! Offline-queue admission: what happens to a request that must wait for a connection.

use std::collections::VecDeque;

/// What a full offline queue does with one more request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Make room by dropping the oldest telemetry (and refuse the new request if there is none).
    DropOldest,
    /// Refuse the new request.
    Refuse,
}

/// The outcome of [`admit`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admitted<T> {
    /// Queued; nothing dropped.
    Queued,
    /// Queued, and this older request was dropped to make room: fail it (queue full).
    Evicted(T),
    /// Not queued: fail it (queue full).
    Refused(T),
}

/// Queues `item` at the back of `backlog`, which holds at most `capacity` requests.
/// `droppable` tells the requests that may be dropped for room (telemetry).
pub(crate) fn admit<T>(
    backlog: &mut VecDeque<T>,
    item: T,
    capacity: usize,
    when_full: WhenFull,
    droppable: impl Fn(&T) -> bool,
) -> Admitted<T> {
    if backlog.len() < capacity {
        backlog.push_back(item);
        return Admitted::Queued;
    }
    if when_full == WhenFull::Refuse {
        return Admitted::Refused(item);
    }
    let oldest = backlog.iter().position(droppable);
    match oldest.and_then(|i| backlog.remove(i)) {
        Some(dropped) => {
            backlog.push_back(item);
            Admitted::Evicted(dropped)
        }
        None => Admitted::Refused(item),
    }
}
