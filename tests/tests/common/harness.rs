//! What every SDK-against-emulator test binary shares: bounded waits and an emulator per test.
//! Included with `#[path]` by the `mqtt`, `amqp` and `transports` test binaries.

// Each including binary uses its own subset.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::{Device, Event};

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

/// The device's next event, within the bounded wait.
pub async fn next_event(device: &Device) -> Event {
    within("next event", device.next_event())
        .await
        .expect("an event")
}

/// Polls `check` every 20 ms until it returns `Some`.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    within(what, async {
        loop {
            if let Some(value) = check() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}
