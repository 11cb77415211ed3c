//! What every SDK-against-emulator test binary shares: a bounded wait and an emulator per test.
//! Included with `#[path]` by the `mqtt` and `transports` test binaries.

use std::future::Future;
use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};

/// Every await that could hang goes through this: a hang fails the test after 20 s.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// An emulator on free loopback ports that assigns devices at once (no DPS polling delay).
pub async fn emulator() -> Emulator {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let config = EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        ..EmulatorConfig::default()
    };
    within("emulator start", Emulator::start(config))
        .await
        .expect("emulator starts")
}
