//! A SAS token over AMQP that nobody renews is cut at its expiry. (Renewal with a CBS put-token
//! on the live connection is `reliability::amqp::sas_tokens_are_renewed_before_they_expire` in
//! the transport matrix.)

use std::time::Duration;

use iotc_sdk::auth::ConnectionString;
use iotc_sdk::auth::{hub_device_resource, SasKey, SasToken};
use iotc_sdk::device::ConnectionState;
use iotc_sdk::transport::Protocol;
use iotc_sdk::Device;

use iotc_tests::*;

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
