//! DPS and IoT hub over AMQP 1.0 with TLS (protocol.md 3.2 and 5), on fe2o3-amqp's acceptor.
//!
//! A connection starts with the TLS handshake (OpenSSL, so client certificates work as for
//! MQTT), then the AMQP header: protocol id 3 runs SASL first (`MSSBCBS`, `ANONYMOUS`, `PLAIN`,
//! `EXTERNAL` are offered), protocol id 0 goes straight to OPEN (Node SDK, X.509 devices).
//! Links are routed by their address: `$cbs` (claims-based security), `/devices/{id}/…` (hub,
//! [`hub`]) and `{idScope}/registrations/{registrationId}` (DPS, [`dps`]).
//!
//! Layout: [`listener`] (accept, SASL, sessions, link routing), [`cbs`] (put-token), [`dps`]
//! and [`hub`] (the wire mapped to the device core, [`crate::device`]), [`conn`] (the
//! connection and device types they share: handlers import it, never the listener, so no
//! module imports another in a circle), [`msg`] (message helpers), [`stream`] (header
//! replay, the socket `KillTcp` cuts).

mod cbs;
mod conn;
mod dps;
mod hub;
mod listener;
mod msg;
mod stream;

pub(crate) use listener::{serve, serve_stream};
