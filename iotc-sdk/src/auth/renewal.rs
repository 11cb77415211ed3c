//! When to renew a SAS token: the one renew-at-80 % rule (protocol.md §9.3). Every transport
//! takes its renewal time from here: MQTT reconnects, AMQP puts a new token over CBS, HTTPS
//! signs a new one for its next request.

use core::time::Duration;

/// A token is renewed once this many fifths of its remaining lifetime have passed (80 %).
const RENEW_FIFTHS: u32 = 4;

/// How long to wait before renewing a token that is still valid for `remaining`: 80 % of it.
pub(crate) fn renew_after(remaining: Duration) -> Duration {
    remaining * RENEW_FIFTHS / 5
}

/// How long to wait before renewing a token that expires at `expiry_unix` (unix seconds) when
/// the wall clock reads `now_unix` (unix time): 80 % of what is left, zero for an expired one.
pub(crate) fn renew_after_expiry(now_unix: Duration, expiry_unix: u64) -> Duration {
    renew_after(Duration::from_secs(expiry_unix).saturating_sub(now_unix))
}

/// Whether a token with lifetime `ttl` that expires at `expiry_unix` is due for renewal at
/// `now_unix`: when less than the last 20 % of `ttl` is left, the same point as
/// [`renew_after`] sets for a fresh token.
#[cfg_attr(not(feature = "https"), allow(dead_code))]
pub(crate) fn is_due(now_unix: Duration, expiry_unix: u64, ttl: Duration) -> bool {
    let left = Duration::from_secs(expiry_unix).saturating_sub(now_unix);
    left <= ttl.saturating_sub(renew_after(ttl))
}

/// The wall clock as unix time.
pub(crate) fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
