//! End-to-end tests over AMQP 1.0 (TLS): the SDK against `iotc-emulator` over real loopback
//! sockets. The scenarios take the protocol as a parameter so they can run as rows of a
//! transport matrix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod support;

mod faults;
mod scenarios;
mod token_renewal;
