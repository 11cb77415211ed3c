//! The HTTPS listener: the IoT hub device REST API ([`hub`], protocol.md 6), DPS REST
//! ([`dps`], 3.1), the blob store file uploads go to (6.4), and WebSocket upgrades on
//! `/$iothub/websocket` ([`websocket`], 0.2) that carry MQTT. TLS is the emulator's OpenSSL
//! acceptor, so client certificates authenticate X.509 devices exactly as on the MQTT port.
//!
//! Layout: [`listener`] (accept and route), [`dps`] and [`hub`] (the REST APIs mapped to the
//! device core, [`crate::device`]), [`websocket`] (upgrades handed to the MQTT and AMQP front
//! ends), [`call`] (the request and answer types they share: handlers import it, never the
//! listener, so no module imports another in a circle).

mod call;
mod dps;
mod hub;
mod listener;
mod websocket;

pub(crate) use listener::serve;
