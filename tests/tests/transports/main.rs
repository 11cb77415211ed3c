//! Scenario sets run on every transport: the SDK against `iotc-emulator` over real loopback
//! TLS sockets. Each suite module ends with an [`iotc_tests::matrix!`] that expands to one module per
//! transport (`scenarios::amqp_ws::twin`, `gateway::mqtt::…`, `edge::amqp::…`) with a test per
//! scenario; a transport that cannot do something is checked for its typed "unsupported"
//! error instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod edge;
mod failover;
mod gateway;
mod reliability;
mod rotation;
mod scenarios;
