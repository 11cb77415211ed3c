//! End-to-end tests over AMQP 1.0 (TLS): the SDK against `iotc-emulator` over real loopback
//! sockets: what only AMQP has (CBS renewal, link properties, X.509 without SASL, faults). The
//! scenarios every transport shares are rows of the `transports` matrix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod scenarios;
mod token_renewal;
