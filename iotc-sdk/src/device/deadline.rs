//! Operation timeouts without a timer per call.
//!
//! Every request a [`Device`](super::Device) makes waits at most its operation timeout. A
//! `tokio::time::timeout` per call registers a timer in the runtime's wheel and removes it
//! again, which is the largest single cost of sending one telemetry message after TLS (about
//! 770 instructions, `docs/benchmarks.md`). Here one sweeper task per device holds the only
//! timer, set to the earliest deadline any waiting call has announced; when it fires, every
//! waiting call wakes and compares its own deadline with the clock. A call that has not
//! expired announces its deadline again, so the sweeper is set to the next one.
//!
//! A call announces its deadline only when it is earlier than the one the sweeper is set to,
//! which, with one operation timeout per device, happens for the first call after each firing:
//! the steady cost per call is a clock read, one atomic load and a waiter on a [`Notify`].
//! Calls that finish leave the sweeper set to a deadline nobody waits for; it then fires once,
//! wakes the calls still waiting, and is set to the earliest of theirs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{Error, Result};

/// No deadline announced.
const NONE: u64 = u64::MAX;

/// The timeouts of one device's calls. Dropping it stops the sweeper task.
#[derive(Debug)]
pub(crate) struct Deadlines {
    shared: Arc<Shared>,
    timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    /// Notified when the sweeper's deadline passes: each waiting call checks its own.
    expired: Notify,
    /// The deadline the sweeper is set to, in nanoseconds after `epoch`; [`NONE`] for none.
    /// Only lowered by the calls; set back to [`NONE`] by the sweeper when it fires.
    target: AtomicU64,
    /// How many times the sweeper fired: a call polls `expired` again only when this moved.
    firings: AtomicU64,
    /// Wakes the sweeper: `target` moved earlier, or `closed` was set.
    kick: Notify,
    closed: AtomicBool,
    epoch: Instant,
}

impl Shared {
    fn ticks(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(NONE - 1)
    }

    fn instant(&self, ticks: u64) -> Instant {
        self.epoch + Duration::from_nanos(ticks)
    }
}

impl Deadlines {
    /// Starts the sweeper task of a device whose calls wait at most `timeout`.
    pub(crate) fn start(timeout: Duration) -> Deadlines {
        let shared = Arc::new(Shared {
            expired: Notify::new(),
            target: AtomicU64::new(NONE),
            firings: AtomicU64::new(0),
            kick: Notify::new(),
            closed: AtomicBool::new(false),
            epoch: Instant::now(),
        });
        tokio::spawn(sweep(shared.clone()));
        Deadlines { shared, timeout }
    }

    /// The operation timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `work` for at most the operation timeout; [`Error::Timeout`] naming `what` when it
    /// takes longer (`work` is dropped then).
    ///
    /// `work` is pinned by the caller so that it is not moved again here: a call's future is a
    /// few hundred bytes, and this is the telemetry hot path.
    pub(crate) async fn within<T, F: Future<Output = Result<T>>>(
        &self,
        what: &'static str,
        mut work: Pin<&mut F>,
    ) -> Result<T> {
        let shared = &*self.shared;
        let deadline = Instant::now() + self.timeout;
        let at = shared.ticks(deadline);
        let mut expired = std::pin::pin!(shared.expired.notified());
        // The sweeper's firings seen when `expired` was polled last; `None` before the first poll.
        let mut seen: Option<u64> = None;
        // The waker `expired` holds.
        let mut registered: Option<Waker> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = work.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            // `expired` is polled (a lock in `Notify`) only to register, again after the sweeper
            // fired, and when this future is polled with another waker than the one it holds.
            if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                registered = Some(cx.waker().clone());
                seen = None;
            }
            while seen != Some(shared.firings.load(Ordering::Acquire)) {
                seen = Some(shared.firings.load(Ordering::Acquire));
                if expired.as_mut().poll(cx).is_ready() {
                    if Instant::now() >= deadline {
                        return Poll::Ready(Err(Error::Timeout(self.timeout, what)));
                    }
                    expired.set(shared.expired.notified());
                    seen = None;
                    continue;
                }
                // Registered before announcing: a firing between the two still wakes this call.
                if at < shared.target.load(Ordering::Acquire) {
                    shared.target.fetch_min(at, Ordering::AcqRel);
                    shared.kick.notify_one();
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for Deadlines {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.kick.notify_one();
    }
}

/// The sweeper: sleeps until the announced deadline, then wakes every waiting call.
async fn sweep(shared: Arc<Shared>) {
    loop {
        let mut kicked = std::pin::pin!(shared.kick.notified());
        kicked.as_mut().enable();
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let at = shared.target.load(Ordering::Acquire);
        if at == NONE {
            kicked.await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep_until(shared.instant(at)) => {
                // Calls that announced a deadline are waiting on `expired`, so they wake and
                // announce theirs again; calls that come later see `NONE` and announce theirs.
                shared.target.store(NONE, Ordering::Release);
                shared.firings.fetch_add(1, Ordering::AcqRel);
                shared.expired.notify_waiters();
            }
            () = &mut kicked => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_call_that_finishes_in_time_returns_its_result() {
        let deadlines = Deadlines::start(TIMEOUT);
        let result = deadlines
            .within(
                "work",
                std::pin::pin!(async {
                    tokio::time::sleep(TIMEOUT / 2).await;
                    Ok(7)
                }),
            )
            .await;
        assert_eq!(result.ok(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_finishes_times_out_at_its_deadline() {
        let deadlines = Deadlines::start(TIMEOUT);
        let start = Instant::now();
        let result = deadlines
            .within(
                "the answer",
                std::pin::pin!(std::future::pending::<Result<()>>()),
            )
            .await;
        assert!(
            matches!(result, Err(Error::Timeout(t, "the answer")) if t == TIMEOUT),
            "{result:?}"
        );
        let waited = start.elapsed();
        assert!(
            waited >= TIMEOUT && waited <= TIMEOUT + Duration::from_millis(5),
            "{waited:?}"
        );
    }

    /// Calls started one second apart time out one second apart, each at its own deadline,
    /// although only the first one announced its deadline when it started; calls that finish
    /// in time are not disturbed by the firings.
    #[tokio::test(start_paused = true)]
    async fn each_call_times_out_at_its_own_deadline() {
        let deadlines = Arc::new(Deadlines::start(TIMEOUT));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..5u64 {
            let waiting = deadlines.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(i)).await;
                let begun = Instant::now();
                let result = waiting
                    .within(
                        "pending",
                        std::pin::pin!(std::future::pending::<Result<()>>()),
                    )
                    .await;
                (begun, Instant::now(), result)
            }));
            // A call that finishes, between the waiting ones.
            let quick = deadlines.clone();
            tasks.push(tokio::spawn(async move {
                let result = quick
                    .within(
                        "quick",
                        std::pin::pin!(async {
                            tokio::time::sleep(TIMEOUT - Duration::from_millis(1)).await;
                            Ok(())
                        }),
                    )
                    .await;
                (start, start, result)
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let (begun, ended, result) = task.await.expect("the task runs");
            if i % 2 == 1 {
                assert!(result.is_ok(), "call {i}: {result:?}");
                continue;
            }
            assert!(
                matches!(result, Err(Error::Timeout(..))),
                "call {i}: {result:?}"
            );
            let waited = ended - begun;
            assert!(
                waited >= TIMEOUT && waited <= TIMEOUT + Duration::from_millis(5),
                "call {i} waited {waited:?}"
            );
        }
    }

    /// A deadline earlier than the one the sweeper is set to moves the sweeper earlier.
    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_sweeper_earlier() {
        let deadlines = Deadlines::start(TIMEOUT);
        // The sweeper is set far away, as after a call with a long deadline.
        deadlines.shared.target.store(NONE - 1, Ordering::Release);
        deadlines.shared.kick.notify_one();
        tokio::task::yield_now().await;
        let start = Instant::now();
        let result = deadlines
            .within(
                "pending",
                std::pin::pin!(std::future::pending::<Result<()>>()),
            )
            .await;
        assert!(matches!(result, Err(Error::Timeout(..))), "{result:?}");
        assert!(start.elapsed() <= TIMEOUT + Duration::from_millis(5));
    }

    /// A call first polled with another waker (as a combinator may do) still wakes at its
    /// deadline: the waiter is registered again with the waker of the latest poll.
    #[tokio::test(start_paused = true)]
    async fn a_call_polled_with_a_new_waker_still_times_out() {
        let deadlines = Deadlines::start(TIMEOUT);
        let mut pending = std::pin::pin!(std::future::pending::<Result<()>>());
        let mut call = std::pin::pin!(deadlines.within("pending", pending.as_mut()));
        let mut elsewhere = std::task::Context::from_waker(Waker::noop());
        assert!(call.as_mut().poll(&mut elsewhere).is_pending());
        let start = Instant::now();
        let result = call.await;
        assert!(matches!(result, Err(Error::Timeout(..))), "{result:?}");
        assert!(start.elapsed() <= TIMEOUT + Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_deadlines_stops_the_sweeper() {
        let deadlines = Deadlines::start(TIMEOUT);
        let weak = Arc::downgrade(&deadlines.shared);
        drop(deadlines);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(weak.upgrade().is_none(), "the sweeper task ended");
    }
}
