//! Service-side fault injection (refusals, throttling, token expiry, acknowledgement faults,
//! disconnects) and the connection counters tests read. The device core
//! ([`crate::device`]) applies them; this is only the control surface.

use std::time::{Duration, Instant};

use crate::state::Outbound;
use crate::{fault, Emulator, RefuseCode};

/// Fault injection (service side).
impl Emulator {
    /// Closes the device's hub connection (fault injection: the device sees the network drop;
    /// the close is a TLS close_notify and FIN, the will message is sent). Returns whether a
    /// connection was open.
    pub fn disconnect_device(&self, device_id: &str) -> bool {
        let state = self.shared.lock();
        match state.devices.get(device_id).and_then(|d| d.conn.as_ref()) {
            Some(conn) => {
                let _ = conn.tx.try_send(Outbound::Close);
                true
            }
            None => false,
        }
    }

    /// For `duration` from now, the hub refuses every CONNECT of `device_id` (of every device
    /// with `None`) with `code`: CONNACK 5 ([`RefuseCode::NotAuthorized`]) or CONNACK 3
    /// ([`RefuseCode::ServerUnavailable`]). Open connections are not touched (combine with
    /// [`disconnect_device`](Self::disconnect_device)); DPS is not affected. A new call for the
    /// same target replaces the previous one; `Duration::ZERO` lifts it. Refused CONNECTs still
    /// count in [`connection_attempts`](Self::connection_attempts).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(emulator: iotc_emulator::Emulator) {
    /// use std::time::Duration;
    /// use iotc_emulator::RefuseCode;
    /// emulator.refuse_connections(Some("dev-01"), RefuseCode::ServerUnavailable, Duration::from_secs(3));
    /// emulator.disconnect_device("dev-01");
    /// // ... the device reconnects with backoff and gets CONNACK 3 for 3 s ...
    /// assert!(emulator.connection_attempts("dev-01") < 10, "retry storm");
    /// # }
    /// ```
    pub fn refuse_connections(
        &self,
        device_id: Option<&str>,
        code: RefuseCode,
        duration: Duration,
    ) {
        let until = fault::deadline(Instant::now(), duration);
        self.shared.lock().faults.refuse(device_id, code, until);
    }

    /// For `duration` from now the emulator is throttled: DPS answers register and
    /// operation-status requests with status `429` (`errorCode` 429001) and
    /// `retry-after={retry_after}` (whole seconds, rounded up); the hub refuses CONNECTs with
    /// CONNACK 3 (server busy), answers twin requests (GET, reported PATCH) with status `429`
    /// without applying them, and holds the PUBACK of QoS 1 telemetry until the throttle ends
    /// ("traffic shaping"; the message itself is accepted at once). Open connections stay open.
    /// A new call replaces the previous throttle; `Duration::ZERO` ends it.
    pub fn throttle(&self, duration: Duration, retry_after: Duration) {
        let until = fault::deadline(Instant::now(), duration);
        self.shared.lock().faults.set_throttle(until, retry_after);
    }

    /// From now on, the hub treats a SAS token of `device_id` (of every device with `None`) as
    /// expired `max_age` after the CONNECT that first presented it: it closes that connection
    /// then, as it does at the token's real expiry, and refuses (CONNACK 5) a later CONNECT
    /// presenting the same token. It applies to open connections too (counted from their
    /// CONNECT), so a renewal can be tested without waiting an hour. The real `se` still
    /// applies when it comes first. X.509 connections are not affected. A rule for a device wins
    /// over the rule for every device; a new call replaces the rule for the same target;
    /// [`clear_faults`](Self::clear_faults) removes them.
    pub fn expire_tokens_after(&self, device_id: Option<&str>, max_age: Duration) {
        self.shared
            .lock()
            .faults
            .set_token_max_age(device_id, max_age);
        self.shared.faults_changed();
    }

    /// Delays the acknowledgements the hub sends `device_id` by `delay`: the PUBACK of every
    /// QoS 1 publish (telemetry, twin requests, method responses) and the twin responses
    /// (`$iothub/twin/res/…`). The publish itself is processed at once (telemetry is recorded
    /// and delivered when it arrives). Applies to open and later connections until changed;
    /// `Duration::ZERO` removes the delay. Acknowledgements still pending when the connection
    /// closes are lost.
    pub fn delay_acks(&self, device_id: &str, delay: Duration) {
        self.shared.lock().faults.set_ack_delay(device_id, delay);
    }

    /// Silently drops the PUBACKs of the next `count` QoS 1 telemetry messages of `device_id`
    /// (on any connection). Each message is still recorded as received, so a client that
    /// resends it (at-least-once) produces a duplicate the test can count. Replaces the
    /// previous count; 0 cancels.
    pub fn drop_acks(&self, device_id: &str, count: u64) {
        self.shared.lock().faults.set_ack_drop(device_id, count);
    }

    /// The number of connection attempts the hub has seen for `device_id` (`{device}/{module}`
    /// for a module), accepted or refused, since the emulator started: MQTT CONNECT packets (the
    /// device id of the username, or the ClientId when the username is unusable) and AMQP
    /// authentications (the first CBS put-token of the device on a connection, or its first
    /// link on a certificate-authenticated connection; token renewals do not count). Not reset
    /// by [`clear_faults`](Self::clear_faults).
    pub fn connection_attempts(&self, device_id: &str) -> u64 {
        self.shared.lock().faults.hub_attempts(device_id)
    }

    /// The number of registration attempts DPS has seen for `registration_id` since the
    /// emulator started: CONNECT packets over MQTT, registration links or refused SASL logins
    /// over AMQP, registration requests over HTTPS. Not reset by
    /// [`clear_faults`](Self::clear_faults).
    pub fn dps_attempts(&self, registration_id: &str) -> u64 {
        self.shared.lock().faults.dps_attempts(registration_id)
    }

    /// Removes every injected fault: connection refusals, the throttle, token max ages, ack
    /// delays and drops, and faults requested by devices through the fault-injection
    /// properties (a requested fault that has not started yet never starts). Acknowledgements
    /// already held back are still sent when due. Counters are kept.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
        self.shared.faults_changed();
    }
}
