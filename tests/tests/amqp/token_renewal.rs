//! SAS tokens over AMQP are renewed with a CBS put-token on the live connection: no reconnect,
//! and traffic keeps flowing past the first token's expiry. A token nobody renews is cut.

use std::time::Duration;

use iotc_sdk::auth::ConnectionString;
use iotc_sdk::auth::{hub_device_resource, SasKey, SasToken};
use iotc_sdk::device::{ConnectionState, StateChanges};
use iotc_sdk::transport::Protocol;
use iotc_sdk::Device;
use serde_json::json;

use iotc_tests::*;

/// Every state change seen so far, without waiting for more.
async fn drain(changes: &mut StateChanges) -> Vec<ConnectionState> {
    let mut seen = Vec::new();
    while let Ok(Some(state)) =
        tokio::time::timeout(Duration::from_millis(50), changes.next()).await
    {
        seen.push(state);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_renewed_on_the_live_connection() {
    let emulator = emulator().await;
    let ttl = Duration::from_secs(4);
    let device = within(
        "connect",
        builder(&emulator, Protocol::Amqp, "amqp-renew-01")
            .sas_token_ttl(ttl)
            .connect(),
    )
    .await
    .unwrap();
    let mut changes = device.state_changes();
    let mut received = emulator.telemetry();

    // Three token lifetimes: without renewal the hub closes the links at the first expiry.
    let mut sent = 0;
    let start = tokio::time::Instant::now();
    while start.elapsed() < ttl * 3 {
        within("send", device.send_telemetry(&json!({"n": sent})))
            .await
            .unwrap();
        let got = within("receive", received.recv()).await.unwrap();
        assert_eq!(got.body_json().unwrap(), json!({"n": sent}));
        sent += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(sent >= 20, "only {sent} messages in {:?}", ttl * 3);
    assert_eq!(device.connection_state(), ConnectionState::Connected);
    assert_eq!(
        drain(&mut changes).await,
        Vec::<ConnectionState>::new(),
        "the connection state must never leave Connected"
    );
    assert_eq!(
        emulator.connection_attempts("amqp-renew-01"),
        1,
        "one connection for the whole test"
    );
    // The twin and the other links survived the renewals too.
    within("twin", device.get_twin()).await.unwrap();
    within("close", device.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_nobody_renews_is_cut_at_expiry() {
    let emulator = emulator().await;
    // Registered through DPS first; then a ready-made token the SDK cannot renew.
    within(
        "close",
        connect(&emulator, Protocol::Amqp, "amqp-renew-02")
            .await
            .close(),
    )
    .await
    .unwrap();
    let key = SasKey::new(&emulator.derive_device_key("amqp-renew-02")).unwrap();
    let resource = hub_device_resource(emulator.hub_hostname(), "amqp-renew-02");
    let token = SasToken::with_ttl(&resource, &key, Duration::from_secs(3), None);
    let cs: ConnectionString = format!(
        "HostName={}:{};DeviceId=amqp-renew-02;SharedAccessSignature={}",
        emulator.hub_hostname(),
        emulator.amqp_port(),
        token.as_secret().expose()
    )
    .parse()
    .unwrap();
    let device = within(
        "connect",
        Device::builder()
            .protocol(Protocol::Amqp)
            .connection_string(cs)
            .tls(tls(&emulator))
            .connect_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .unwrap();
    let mut changes = device.state_changes();
    let left = within("the hub cuts the expired token", async {
        loop {
            match changes.next().await {
                Some(ConnectionState::Connected) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(
        matches!(left, Some(ConnectionState::Disconnected { .. })),
        "{left:?}"
    );
    let _ = device.close().await;
}
