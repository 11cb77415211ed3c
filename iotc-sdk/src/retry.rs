//! When to try again: the retry policy for reconnecting after a connection is lost.
//!
//! Errors are sorted first: [`Error::is_retryable`] says whether trying again can help
//! (network errors, timeouts, throttling, 429/5xx). Fatal errors (unauthorized, not found,
//! configuration) stop the retries at once, so a device with a revoked key does not storm the
//! service.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// Decides how long to wait before each reconnection attempt.
///
/// Implement it to plug in another policy; [`ExponentialBackoff`] is the default and
/// [`NoRetry`] gives up at once.
pub trait RetryPolicy: fmt::Debug + Send + Sync {
    /// The delay before attempt `attempt` (1 for the first retry) after `error`, or `None` to
    /// give up.
    fn next_delay(&self, attempt: u32, error: &Error) -> Option<Duration>;
}

/// Exponential backoff with jitter: `base × 2^(attempt−1)`, capped at `max_delay`, spread by
/// ± `jitter` (a fraction), and never shorter than a `retry-after` the service asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialBackoff {
    /// The first delay. Default 1 s.
    pub base: Duration,
    /// The longest delay. Default 60 s.
    pub max_delay: Duration,
    /// How many attempts before giving up; `None` (the default) retries for ever.
    pub max_attempts: Option<u32>,
    /// Random spread as a fraction of the delay, 0.0 to 1.0. Default 0.2 (±20 %), so a fleet
    /// that lost its connection at once does not reconnect at once.
    pub jitter: f64,
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        ExponentialBackoff {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: None,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy for ExponentialBackoff {
    fn next_delay(&self, attempt: u32, error: &Error) -> Option<Duration> {
        if !error.is_retryable() || self.max_attempts.is_some_and(|max| attempt > max) {
            return None;
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let delay = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * fastrand::f64() - 1.0);
        let delay = delay.mul_f64(factor.max(0.0));
        Some(match error {
            Error::Throttled { retry_after } => delay.max(*retry_after),
            _ => delay,
        })
    }
}

/// Never retries: a lost connection closes the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoRetry;

impl RetryPolicy for NoRetry {
    fn next_delay(&self, _attempt: u32, _error: &Error) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Error {
        Error::connection("reset")
    }

    #[test]
    fn doubles_up_to_the_cap_within_the_jitter() {
        let policy = ExponentialBackoff::default();
        for (attempt, nominal) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (6, 32.0),
            (7, 60.0),
            (40, 60.0),
        ] {
            for _ in 0..50 {
                let d = policy
                    .next_delay(attempt, &network())
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9,
                    "attempt {attempt}: {d}"
                );
            }
        }
        let exact = ExponentialBackoff {
            jitter: 0.0,
            ..ExponentialBackoff::default()
        };
        assert_eq!(
            exact.next_delay(3, &network()),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn fatal_errors_and_exhausted_attempts_stop() {
        let policy = ExponentialBackoff {
            max_attempts: Some(2),
            ..ExponentialBackoff::default()
        };
        assert!(policy
            .next_delay(1, &Error::Unauthorized("no".into()))
            .is_none());
        assert!(policy
            .next_delay(1, &Error::NotFound("no".into()))
            .is_none());
        assert!(policy.next_delay(1, &Error::Config("no".into())).is_none());
        assert!(policy.next_delay(2, &network()).is_some());
        assert!(policy.next_delay(3, &network()).is_none());
        assert!(NoRetry.next_delay(1, &network()).is_none());
    }

    #[test]
    fn honours_retry_after() {
        let policy = ExponentialBackoff::default();
        let throttled = Error::Throttled {
            retry_after: Duration::from_secs(30),
        };
        assert!(policy.next_delay(1, &throttled).unwrap() >= Duration::from_secs(30));
    }
}
