//! What to do after a session ended with an error: wait and connect again, go back to DPS
//! first, or give up (protocol.md §7.5, §9.2, and "Resilience": go back to DPS when the hub
//! refuses the device as unauthorized, expired, unknown or disabled, or stays unreachable past
//! the retry budget; never on throttling or a 5xx).

use core::time::Duration;

use super::time::Timestamp;
use crate::retry::RetryPolicy;
use crate::Error;

/// How long "unauthorized" answers are tolerated while reconnecting before giving up. A hub
/// may refuse a device for a moment (IoT Central moved it to another hub, or IoT hub's
/// `InvokeAuthError` fault); a device whose key was revoked gives up after this, having retried
/// only at the policy's pace.
pub(crate) const AUTH_GRACE: Duration = Duration::from_secs(30);

/// How long a hub may stay unreachable (connection errors and timeouts, one after the other)
/// before a device that came through DPS asks DPS for its hub again, even when the retry policy
/// would go on for ever: IoT Central may have moved the device to another hub. It asks again
/// after each further such period.
pub(crate) const UNREACHABLE_BUDGET: Duration = Duration::from_secs(120);

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
    /// Since when the hub has been unreachable (or since the last DPS attempt for that).
    unreachable_since: Option<Timestamp>,
    /// Whether DPS was asked once after the policy gave up on an unreachable hub.
    asked_after_budget: bool,
    /// Whether the device came through DPS (and can be provisioned again).
    can_reprovision: bool,
}

impl Reconnect {
    /// A series of attempts for a device that came through DPS (`can_reprovision`) or not.
    pub(crate) fn new(can_reprovision: bool) -> Self {
        Reconnect {
            attempt: 0,
            refused_since: None,
            unreachable_since: None,
            asked_after_budget: false,
            can_reprovision,
        }
    }

    /// What to do after `error` (the loss, or the last attempt's failure) at `now`.
    ///
    /// A retryable error waits the policy's delay (which honours a `retry-after` the service
    /// asked for). The first refusal of the credentials sends a DPS device back to DPS to find
    /// its hub again; later refusals are retried at the policy's pace (as if the error were a
    /// connection error) until [`AUTH_GRACE`] has passed since the first one. Any other error
    /// is the policy's to judge; the default policy gives up on it. For a DPS device, "not
    /// found" (the hub no longer knows the device, or it is disabled) counts as a refusal.
    ///
    /// An unreachable hub (connection errors, timeouts) is retried at the policy's pace; a DPS
    /// device asks DPS again once it has been unreachable for [`UNREACHABLE_BUDGET`], and once
    /// more when the policy gives up (one last attempt at the policy's first delay). Throttling
    /// and 5xx answers are waited out and never send the device back to DPS.
    pub(crate) fn after(
        &mut self,
        error: &Error,
        now: Timestamp,
        policy: &dyn RetryPolicy,
    ) -> Next {
        self.attempt = self.attempt.saturating_add(1);
        let attempt = self.attempt;
        let mut reprovision = false;
        let refused = error.is_unauthorized()
            || (self.can_reprovision && matches!(error, Error::NotFound(_)));
        if !matches!(error, Error::Connection { .. } | Error::Timeout(..)) {
            self.unreachable_since = None;
        }
        let delay = if refused {
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
        } else if matches!(error, Error::Connection { .. } | Error::Timeout(..)) {
            let since = *self.unreachable_since.get_or_insert(now);
            match policy.next_delay(attempt, error) {
                Some(delay) => {
                    if self.can_reprovision && now.saturating_since(since) >= UNREACHABLE_BUDGET {
                        reprovision = true;
                        self.unreachable_since = Some(now);
                    }
                    Some(delay)
                }
                None if self.can_reprovision && !self.asked_after_budget => {
                    self.asked_after_budget = true;
                    reprovision = true;
                    policy.next_delay(1, error)
                }
                None => None,
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
        // The proxy went away or now refuses: a new connection goes through it again.
        Error::Proxy { .. } => true,
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
