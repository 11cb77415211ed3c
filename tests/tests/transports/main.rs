//! Scenario sets run on every transport: the SDK against `iotc-emulator` over real loopback
//! TLS sockets. Each suite module ends with a [`matrix!`] that expands to one module per
//! transport (`scenarios::amqp_ws::twin`, `gateway::mqtt::…`, `edge::amqp::…`) with a test per
//! scenario; a transport that cannot do something is checked for its typed "unsupported"
//! error instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

/// `matrix! { [scenario, …] on [row => Protocol::X, …] }`, at the end of a suite module whose
/// scenarios are `pub async fn scenario(protocol: Protocol)`: a module per row with a test per
/// scenario.
macro_rules! matrix {
    ($scenarios:tt on [$($row:ident => $protocol:expr),* $(,)?]) => {$(
        mod $row {
            use iotc_sdk::transport::Protocol;
            const PROTOCOL: Protocol = $protocol;
            matrix!(@tests $scenarios);
        }
    )*};
    (@tests [$($scenario:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            super::$scenario(PROTOCOL).await;
        }
    )*};
}

mod edge;
mod failover;
mod gateway;
mod rotation;
mod scenarios;
