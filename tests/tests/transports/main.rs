//! One scenario set run on every transport: the SDK against `iotc-emulator` over real loopback
//! TLS sockets. Each row of [`transports!`] expands to one module with a test per scenario; a
//! transport that cannot do something is checked for its typed "unsupported" error instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../common/harness.rs"]
mod harness;
mod scenarios;
mod support;

/// Expands each `name => Protocol` row into a module running every scenario.
macro_rules! transports {
    ($($name:ident => $protocol:expr,)*) => {$(
        mod $name {
            use iotc_sdk::transport::Protocol;
            const PROTOCOL: Protocol = $protocol;
            transports!(@tests provisioning, provisioning_refuses_a_wrong_key,
                telemetry_with_properties, telemetry_batch, c2d_with_properties, c2d_settlement,
                twin, writable_ack, commands, queued_commands, file_upload);
        }
    )*};
    (@tests $($scenario:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            crate::scenarios::$scenario(PROTOCOL).await;
        }
    )*};
}

transports! {
    mqtt => Protocol::Mqtt,
    mqtt_ws => Protocol::MqttWs,
    https => Protocol::Https,
    amqp => Protocol::Amqp,
    amqp_ws => Protocol::AmqpWs,
}
