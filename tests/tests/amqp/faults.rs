//! Service-side faults over AMQP give the same typed errors as over MQTT.

use std::time::Duration;

use iotc_emulator::RefuseCode;
use iotc_sdk::retry::NoRetry;
use iotc_sdk::transport::Protocol;
use iotc_sdk::Error;

use iotc_tests::*;

const P: Protocol = Protocol::Amqp;

#[tokio::test]
async fn a_throttled_registration_reports_throttled_with_retry_after() {
    let emulator = emulator().await;
    emulator.throttle(Duration::from_secs(30), Duration::from_secs(1));
    let result = within(
        "connect",
        builder(&emulator, P, "amqp-throttled-01").connect(),
    )
    .await;
    match result {
        Err(Error::Throttled { retry_after }) => assert_eq!(retry_after, Duration::from_secs(1)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(
        emulator.dps_attempts("amqp-throttled-01"),
        1,
        "retries reuse the DPS connection"
    );
}

#[tokio::test]
async fn an_unauthorized_hub_connect_is_reported_after_one_attempt() {
    let emulator = emulator().await;
    emulator.refuse_connections(
        Some("amqp-refused-01"),
        RefuseCode::NotAuthorized,
        Duration::from_secs(60),
    );
    let result = within(
        "connect",
        builder(&emulator, P, "amqp-refused-01")
            .retry_policy(NoRetry)
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
    assert_eq!(emulator.connection_attempts("amqp-refused-01"), 1);
}

#[tokio::test]
async fn throttled_telemetry_is_accepted_when_the_throttle_ends() {
    let emulator = emulator().await;
    let device = connect(&emulator, P, "amqp-throttled-02").await;
    let mut received = emulator.telemetry();
    emulator.throttle(Duration::from_millis(1500), Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    within("send", device.send_telemetry(&serde_json::json!({"n": 1})))
        .await
        .unwrap();
    // The message is enqueued at once; its disposition waits for the end of the throttle.
    within("receive", received.recv()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "disposition after {:?}",
        started.elapsed()
    );
}
