//! What to do after a session ended with an error: wait and connect again, go back to DPS
//! first, or give up (protocol.md §7.5, §9.2).

use core::time::Duration;

use super::time::Timestamp;
use crate::retry::RetryPolicy;
use crate::Error;

/// How long "unauthorized" answers are tolerated while reconnecting before giving up. A hub
/// may refuse a device for a moment (IoT Central moved it to another hub, or IoT hub's
/// `InvokeAuthError` fault); a device whose key was revoked gives up after this, having retried
/// only at the policy's pace.
pub(crate) const AUTH_GRACE: Duration = Duration::from_secs(30);

/// The next reconnection attempt, or none.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait `delay`, then make attempt `attempt`; `reprovision`: register with DPS first.
    Retry {
        /// 1 for the first attempt after the loss.
        attempt: u32,
        /// How long to wait first.
        delay: Duration,
        /// Whether to ask DPS for the device's hub again before connecting.
        reprovision: bool,
    },
    /// Stop: the policy gave up, or the hub kept refusing the credentials.
    GiveUp,
}

/// The reconnection decisions after one loss, attempt after attempt.
#[derive(Debug)]
pub(crate) struct Reconnect {
    attempt: u32,
    /// When the hub first refused the credentials in this series of attempts.
    refused_since: Option<Timestamp>,
    /// Whether the device came through DPS (and can be provisioned again).
    can_reprovision: bool,
}

impl Reconnect {
    /// A series of attempts for a device that came through DPS (`can_reprovision`) or not.
    pub(crate) fn new(can_reprovision: bool) -> Self {
        Reconnect {
            attempt: 0,
            refused_since: None,
            can_reprovision,
        }
    }

    /// What to do after `error` (the loss, or the last attempt's failure) at `now`.
    ///
    /// A retryable error waits the policy's delay (which honours a `retry-after` the service
    /// asked for). The first refusal of the credentials sends a DPS device back to DPS to find
    /// its hub again; later refusals are retried at the policy's pace (as if the error were a
    /// connection error) until [`AUTH_GRACE`] has passed since the first one. Any other error
    /// is the policy's to judge; the default policy gives up on it.
    pub(crate) fn after(
        &mut self,
        error: &Error,
        now: Timestamp,
        policy: &dyn RetryPolicy,
    ) -> Next {
        self.attempt = self.attempt.saturating_add(1);
        let attempt = self.attempt;
        let mut reprovision = false;
        let delay = if error.is_unauthorized() {
            let since = match self.refused_since {
                Some(since) => since,
                None => {
                    reprovision = self.can_reprovision;
                    self.refused_since = Some(now);
                    now
                }
            };
            if now.saturating_since(since) < AUTH_GRACE {
                policy.next_delay(attempt, &Error::connection(error.to_string()))
            } else {
                None
            }
        } else {
            policy.next_delay(attempt, error)
        };
        match delay {
            Some(delay) => Next::Retry {
                attempt,
                delay,
                reprovision,
            },
            None => Next::GiveUp,
        }
    }
}

/// Whether a failed request ends the session (a new connection after the backoff may succeed:
/// network, timeouts, refused credentials, throttling, 5xx) rather than failing only the
/// request.
#[cfg_attr(not(feature = "https"), allow(dead_code))]
pub(crate) fn ends_session(error: &Error) -> bool {
    match error {
        Error::Connection { .. } | Error::Timeout(..) | Error::Unauthorized(_) => true,
        Error::Throttled { .. } => true,
        Error::Rejected { status, .. } => *status >= 500,
        _ => false,
    }
}

/// Whether a refused or failed connection to the hub means the device should ask DPS for its
/// hub again (protocol.md "Resilience"): the hub refused the credentials (unauthorized,
/// expired), does not know the device (not found, disabled), or could not be reached. Not on
/// throttling or a 5xx: those are the hub's passing troubles, waited out without DPS.
pub(crate) fn calls_for_dps(error: &Error) -> bool {
    matches!(
        error,
        Error::Unauthorized(_) | Error::NotFound(_) | Error::Connection { .. } | Error::Timeout(..)
    )
}
