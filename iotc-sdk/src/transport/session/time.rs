//! Time as a value: the session core never reads a clock; the caller passes the time in.

use core::ops::Add;
use core::time::Duration;

/// A point in time, as the time elapsed since an epoch the caller picks (the start of the
/// session, the boot of a microcontroller). Only differences between timestamps of one epoch
/// mean anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Timestamp(Duration);

impl Timestamp {
    /// The point `elapsed` after the epoch.
    pub(crate) const fn after_epoch(elapsed: Duration) -> Timestamp {
        Timestamp(elapsed)
    }

    /// How long after the epoch this point is.
    pub(crate) const fn since_epoch(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this point is (zero when it is not after it).
    pub(crate) fn saturating_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates instead of overflowing: a deadline too far away to represent is never reached.
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs))
    }
}
