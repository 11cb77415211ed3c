//! The MQTT 3.1.1 front end (protocol.md 2 and 4), over TLS on the MQTT port or over a
//! WebSocket on the HTTPS port: [`listener`] accepts and reads the CONNECT, [`dps`] and [`hub`]
//! translate the wire to the device core ([`crate::device`]), [`io`] frames the packets.

mod dps;
mod hub;
mod io;
mod listener;

pub(crate) use listener::{serve, serve_mqtt};
