//! What the load generator measures about its own process: CPU time (user + system, all
//! threads) and resident memory, plus percentiles.

use std::time::Duration;

/// CPU time this process has used so far, user + system, all threads
/// (`CLOCK_PROCESS_CPUTIME_ID`: the same accounting as `getrusage(RUSAGE_SELF)`, in ns; through
/// libc, so that it also works under valgrind). Zero if the clock cannot be read.
pub fn cpu_time() -> Duration {
    cpu_time::ProcessTime::try_now()
        .map(|t| t.as_duration())
        .unwrap_or_default()
}

/// User and system CPU seconds of this process from `/proc/self/stat` (10 ms ticks), for the
/// user/system split; `(0.0, 0.0)` when it cannot be read.
pub fn user_sys_secs() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the `(comm)`: state is field 3; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (tick(11), tick(12))
}

/// Resident set size of this process in bytes (`VmRSS` of `/proc/self/status`), 0 if unknown.
pub fn rss_bytes() -> u64 {
    status_kb("VmRSS:") * 1024
}

/// Peak resident set size (`VmHWM`) in bytes.
pub fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// Number of threads of this process.
pub fn threads() -> u64 {
    status_kb("Threads:")
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `p`-quantile (0..=1) of `samples` (sorted in place), nearest rank; zero when empty.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A snapshot of CPU, wall clock and memory, to subtract from a later one.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    /// Wall clock.
    pub at: std::time::Instant,
    /// Process CPU time.
    pub cpu: Duration,
    /// Resident memory in bytes.
    pub rss: u64,
    /// User / system split (10 ms resolution).
    pub user_sys: (f64, f64),
}

impl Snapshot {
    /// Now.
    pub fn take() -> Self {
        Snapshot {
            at: std::time::Instant::now(),
            cpu: cpu_time(),
            rss: rss_bytes(),
            user_sys: user_sys_secs(),
        }
    }

    /// `(wall seconds, cpu seconds, rss delta bytes, user s, sys s)` from `self` to `later`.
    pub fn delta(&self, later: &Snapshot) -> Delta {
        Delta {
            wall_s: later.at.duration_since(self.at).as_secs_f64(),
            cpu_s: later.cpu.saturating_sub(self.cpu).as_secs_f64(),
            rss_delta: later.rss as i64 - self.rss as i64,
            user_s: later.user_sys.0 - self.user_sys.0,
            sys_s: later.user_sys.1 - self.user_sys.1,
        }
    }
}

/// The difference between two [`Snapshot`]s.
#[derive(Clone, Copy, Debug)]
pub struct Delta {
    /// Wall seconds.
    pub wall_s: f64,
    /// CPU seconds (user + system, all threads).
    pub cpu_s: f64,
    /// Change of resident memory in bytes.
    pub rss_delta: i64,
    /// User CPU seconds (10 ms resolution).
    pub user_s: f64,
    /// System CPU seconds (10 ms resolution).
    pub sys_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&mut v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&mut v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&mut [], 0.5), Duration::ZERO);
    }

    #[test]
    fn reads_own_process() {
        assert!(rss_bytes() > 0);
        assert!(threads() >= 1);
        let a = cpu_time();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time() > a);
    }
}
