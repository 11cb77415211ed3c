//! Fault injection: IoT hub's fault-injection hook (telemetry application properties, see
//! `fault-injection.md`) and the service-side faults of [`Emulator`](crate::Emulator).
//!
//! Everything here is per emulator instance (it lives in the shared [`State`](crate::state)).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rumqttc::mqttbytes::v4::ConnectReturnCode;

/// Application property naming the fault.
pub(crate) const PROP_TYPE: &str = "AzIoTHub_FaultOperationType";
/// Application property: `boom` (abrupt drop) or `byebye` (graceful close).
pub(crate) const PROP_CLOSE_REASON: &str = "AzIoTHub_FaultOperationCloseReason";
/// Application property: seconds between the request and the start of the fault.
pub(crate) const PROP_DELAY: &str = "AzIoTHub_FaultOperationDelayInSecs";
/// Application property: seconds the fault lasts.
pub(crate) const PROP_DURATION: &str = "AzIoTHub_FaultOperationDurationInSecs";

/// Longest delay or duration honoured from a fault request (longer values are capped).
const MAX_FAULT_SECS: f64 = 86_400.0;
/// Distinct SAS tokens remembered (first presentation time) before the oldest are forgotten.
const MAX_TOKENS_SEEN: usize = 10_000;

/// How the hub refuses a CONNECT while [`Emulator::refuse_connections`] is in force.
///
/// [`Emulator::refuse_connections`]: crate::Emulator::refuse_connections
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefuseCode {
    /// CONNACK return code 5, "not authorized": what the hub answers for authentication and
    /// authorization failures (bad or expired token, unknown or disabled device). SDKs treat it
    /// as not retryable.
    NotAuthorized,
    /// CONNACK return code 3, "server unavailable": what the hub answers when it is busy or
    /// throttling. SDKs retry it.
    ServerUnavailable,
}

impl RefuseCode {
    /// The CONNACK return code: 5 for [`NotAuthorized`](Self::NotAuthorized), 3 for
    /// [`ServerUnavailable`](Self::ServerUnavailable).
    pub fn connack_code(self) -> u8 {
        match self {
            RefuseCode::NotAuthorized => 5,
            RefuseCode::ServerUnavailable => 3,
        }
    }

    /// The code for a CONNACK return code (5 or 3), `None` for any other value.
    pub fn from_connack_code(code: u8) -> Option<RefuseCode> {
        match code {
            5 => Some(RefuseCode::NotAuthorized),
            3 => Some(RefuseCode::ServerUnavailable),
            _ => None,
        }
    }

    pub(crate) fn return_code(self) -> ConnectReturnCode {
        match self {
            RefuseCode::NotAuthorized => ConnectReturnCode::NotAuthorized,
            RefuseCode::ServerUnavailable => ConnectReturnCode::ServiceUnavailable,
        }
    }
}

/// The transport of a device connection or request: faults act per transport, as on IoT hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// MQTT 3.1.1, over TLS or a WebSocket.
    Mqtt,
    /// AMQP 1.0, over TLS or a WebSocket.
    Amqp,
    /// The HTTPS device API (one request at a time, no connection to break).
    Https,
}

/// An AMQP link a `KillAmqp…Link…` fault detaches, named from the device's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AmqpLink {
    /// `$cbs` link the device sends put-token requests on.
    CbsRequest,
    /// `$cbs` link the device receives put-token answers on.
    CbsResponse,
    /// Telemetry (device to cloud, `…/messages/events`).
    Telemetry,
    /// Cloud-to-device messages (`…/messages/devicebound`).
    C2d,
    /// Twin link the device sends requests on.
    TwinRequest,
    /// Twin link the device receives answers and desired-property notifications on.
    TwinResponse,
    /// Method link the device receives method requests on.
    MethodRequest,
    /// Method link the device sends method responses on.
    MethodResponse,
}

/// A fault type of `AzIoTHub_FaultOperationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// `KillTcp`: the TCP connection is cut (any transport with a connection).
    KillTcp,
    /// `ShutDownMqtt`: graceful shutdown of the MQTT connection.
    ShutDownMqtt,
    /// `InvokeThrottling`: operations throttled (429).
    Throttling,
    /// `InvokeMaxMessageQuota`: operations fail with quota exceeded (403002).
    Quota,
    /// `InvokeAuthError`: the connection is closed and operations fail as unauthorized.
    Auth,
    /// `KillAmqpConnection`: the AMQP connection is closed.
    KillAmqpConnection,
    /// `KillAmqpSession`: the AMQP session carrying the device's links is ended.
    KillAmqpSession,
    /// `ShutDownAmqp`: graceful shutdown of the AMQP connection.
    ShutDownAmqp,
    /// `KillAmqp…Link…`: one AMQP link is detached.
    KillAmqpLink(AmqpLink),
}

/// The fault-type names and what they mean.
const KINDS: [(&str, FaultKind); 16] = [
    ("KillTcp", FaultKind::KillTcp),
    ("ShutDownMqtt", FaultKind::ShutDownMqtt),
    ("InvokeThrottling", FaultKind::Throttling),
    ("InvokeMaxMessageQuota", FaultKind::Quota),
    ("InvokeAuthError", FaultKind::Auth),
    ("KillAmqpConnection", FaultKind::KillAmqpConnection),
    ("KillAmqpSession", FaultKind::KillAmqpSession),
    ("ShutDownAmqp", FaultKind::ShutDownAmqp),
    (
        "KillAmqpCBSLinkReq",
        FaultKind::KillAmqpLink(AmqpLink::CbsRequest),
    ),
    (
        "KillAmqpCBSLinkResp",
        FaultKind::KillAmqpLink(AmqpLink::CbsResponse),
    ),
    (
        "KillAmqpD2CLink",
        FaultKind::KillAmqpLink(AmqpLink::Telemetry),
    ),
    ("KillAmqpC2DLink", FaultKind::KillAmqpLink(AmqpLink::C2d)),
    (
        "KillAmqpTwinLinkReq",
        FaultKind::KillAmqpLink(AmqpLink::TwinRequest),
    ),
    (
        "KillAmqpTwinLinkResp",
        FaultKind::KillAmqpLink(AmqpLink::TwinResponse),
    ),
    (
        "KillAmqpMethodReqLink",
        FaultKind::KillAmqpLink(AmqpLink::MethodRequest),
    ),
    (
        "KillAmqpMethodRespLink",
        FaultKind::KillAmqpLink(AmqpLink::MethodResponse),
    ),
];

/// What a front end does to the device's connection when a requested fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Close the connection: `abrupt` cuts TCP (RST, no TLS close_notify), otherwise a
    /// graceful close (for AMQP a CLOSE frame carrying the fault as its error).
    Close {
        /// Cut rather than close.
        abrupt: bool,
    },
    /// AMQP: end the session(s) carrying the device's links, with an error.
    EndSession,
    /// AMQP: detach this link with an error.
    DetachLink(AmqpLink),
    /// AMQP: detach every link of the device with `amqp:unauthorized-access`.
    Unauthorized,
}

impl FaultKind {
    fn parse(name: &str) -> Option<FaultKind> {
        KINDS
            .iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, k)| *k)
    }

    /// What starting this fault does to a connection of `transport` (`abrupt`: the request's
    /// close reason); `None`: nothing (the connection stays, or the fault is another
    /// transport's).
    pub(crate) fn action(self, transport: Transport, abrupt: bool) -> Option<FaultAction> {
        match (transport, self) {
            (Transport::Https, _) => None,
            (_, FaultKind::KillTcp) => Some(FaultAction::Close { abrupt }),
            (Transport::Mqtt, FaultKind::ShutDownMqtt | FaultKind::Auth) => {
                Some(FaultAction::Close { abrupt })
            }
            // The AMQP connection faults close it with a CLOSE frame whatever the close reason
            // (it names how a TCP connection ends).
            (Transport::Amqp, FaultKind::KillAmqpConnection | FaultKind::ShutDownAmqp) => {
                Some(FaultAction::Close { abrupt: false })
            }
            (Transport::Amqp, FaultKind::KillAmqpSession) => Some(FaultAction::EndSession),
            (Transport::Amqp, FaultKind::KillAmqpLink(link)) => Some(FaultAction::DetachLink(link)),
            (Transport::Amqp, FaultKind::Auth) => Some(FaultAction::Unauthorized),
            _ => None,
        }
    }

    /// Name for logs and error descriptions.
    pub(crate) fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("fault", |(n, _)| n)
    }
}

/// A parsed fault request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultRequest {
    pub(crate) kind: FaultKind,
    /// Close abruptly (RST, no TLS close_notify) rather than gracefully.
    pub(crate) abrupt: bool,
    pub(crate) delay: Duration,
    pub(crate) duration: Duration,
}

/// Case-insensitive property lookup.
fn prop<'a>(props: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    props
        .get(name)
        .or_else(|| {
            props
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(|v| v.trim())
}

/// Seconds as the SDKs write them (`1`, `0.5`, `5E-01`); absent or empty is 0.
fn seconds(props: &BTreeMap<String, String>, name: &str) -> Result<Duration, String> {
    let Some(text) = prop(props, name).filter(|t| !t.is_empty()) else {
        return Ok(Duration::ZERO);
    };
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s.min(MAX_FAULT_SECS))),
        _ => Err(format!("{name} is not a number of seconds: {text:?}")),
    }
}

/// The fault a telemetry message asks for: `None` without `AzIoTHub_FaultOperationType`,
/// `Some(Err(reason))` for an unknown type or an invalid delay or duration.
pub(crate) fn parse_request(
    application: &BTreeMap<String, String>,
) -> Option<Result<FaultRequest, String>> {
    let name = prop(application, PROP_TYPE)?;
    Some((|| {
        let kind = FaultKind::parse(name).ok_or_else(|| format!("unknown fault type {name:?}"))?;
        let abrupt = match prop(application, PROP_CLOSE_REASON) {
            Some(r) if r.eq_ignore_ascii_case("boom") => true,
            Some(r) if r.eq_ignore_ascii_case("byebye") => false,
            _ => kind == FaultKind::KillTcp,
        };
        Ok(FaultRequest {
            kind,
            abrupt,
            delay: seconds(application, PROP_DELAY)?,
            duration: seconds(application, PROP_DURATION)?,
        })
    })())
}

/// `now + d`, saturating far in the future.
pub(crate) fn deadline(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// A fault a device asked for through the fault-injection properties.
#[derive(Debug, Clone)]
pub(crate) struct DeviceFault {
    /// Unique id (a newer request or `clear_faults` cancels the scheduled start).
    pub(crate) id: u64,
    pub(crate) kind: FaultKind,
    pub(crate) abrupt: bool,
    pub(crate) start: Instant,
    pub(crate) end: Instant,
}

/// What a hub CONNECT runs into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFault {
    /// Refuse with this CONNACK.
    Refuse(RefuseCode, &'static str),
    /// Cut the TCP connection without an answer (`KillTcp` in force).
    Cut,
    /// Close the connection gracefully without accepting (AMQP: `KillAmqpConnection` or
    /// `ShutDownAmqp` in force).
    Close(&'static str),
}

/// Why a device operation (telemetry, twin request) fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpFault {
    /// `InvokeThrottling` in force for the device.
    Throttled,
    /// `InvokeMaxMessageQuota` in force.
    Quota,
    /// `InvokeAuthError` in force.
    Unauthorized,
}

impl OpFault {
    /// Status, hub error code and message of an operation failing with this fault (twin
    /// responses, HTTPS answers, AMQP rejections).
    pub(crate) fn twin_error(self) -> (u16, u32, &'static str) {
        match self {
            OpFault::Throttled => (429, 429_001, "ThrottlingException (fault injection)"),
            OpFault::Quota => (403, 403_002, "IotHubQuotaExceeded (fault injection)"),
            OpFault::Unauthorized => (401, 401_002, "IotHubUnauthorized (fault injection)"),
        }
    }
}

/// Fault state and counters of one emulator.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// `refuse_connections`: key `None` = every device.
    refusals: HashMap<Option<String>, (RefuseCode, Instant)>,
    /// `throttle`: until, retry-after.
    throttle: Option<(Instant, Duration)>,
    /// `expire_tokens_after`: key `None` = every device.
    token_max_age: HashMap<Option<String>, Duration>,
    ack_delay: HashMap<String, Duration>,
    ack_drop: HashMap<String, u64>,
    /// Faults requested by devices (fault-injection properties).
    device: HashMap<String, DeviceFault>,
    hub_attempts: HashMap<String, u64>,
    dps_attempts: HashMap<String, u64>,
    /// First presentation of each SAS token (device id, SHA-256 of the token).
    tokens_seen: HashMap<(String, [u8; 32]), Instant>,
}

impl Faults {
    /// Removes every fault (counters and remembered tokens stay).
    pub(crate) fn clear(&mut self) {
        self.refusals.clear();
        self.throttle = None;
        self.token_max_age.clear();
        self.ack_delay.clear();
        self.ack_drop.clear();
        self.device.clear();
    }

    pub(crate) fn refuse(&mut self, device: Option<&str>, code: RefuseCode, until: Instant) {
        self.refusals
            .insert(device.map(str::to_owned), (code, until));
    }

    pub(crate) fn set_throttle(&mut self, until: Instant, retry_after: Duration) {
        self.throttle = Some((until, retry_after));
    }

    /// The service-side throttle in force: its end and `retry-after`.
    pub(crate) fn throttled(&self, now: Instant) -> Option<(Instant, Duration)> {
        self.throttle.filter(|(until, _)| *until > now)
    }

    pub(crate) fn set_token_max_age(&mut self, device: Option<&str>, max_age: Duration) {
        self.token_max_age
            .insert(device.map(str::to_owned), max_age);
    }

    /// The `expire_tokens_after` rule for a device (its own, else the global one).
    pub(crate) fn token_max_age(&self, device: &str) -> Option<Duration> {
        self.token_max_age
            .get(&Some(device.to_owned()))
            .or_else(|| self.token_max_age.get(&None))
            .copied()
    }

    /// Records (once) when a token was first presented by `device`; returns that time.
    pub(crate) fn token_seen(&mut self, device: &str, hash: [u8; 32], now: Instant) -> Instant {
        if self.tokens_seen.len() >= MAX_TOKENS_SEEN {
            let mut times: Vec<Instant> = self.tokens_seen.values().copied().collect();
            times.sort_unstable();
            if let Some(cut) = times.get(times.len() / 2).copied() {
                self.tokens_seen.retain(|_, t| *t > cut);
            }
        }
        *self
            .tokens_seen
            .entry((device.to_owned(), hash))
            .or_insert(now)
    }

    pub(crate) fn set_ack_delay(&mut self, device: &str, delay: Duration) {
        if delay.is_zero() {
            self.ack_delay.remove(device);
        } else {
            self.ack_delay.insert(device.to_owned(), delay);
        }
    }

    pub(crate) fn ack_delay(&self, device: &str) -> Option<Duration> {
        self.ack_delay.get(device).copied()
    }

    pub(crate) fn set_ack_drop(&mut self, device: &str, count: u64) {
        if count == 0 {
            self.ack_drop.remove(device);
        } else {
            self.ack_drop.insert(device.to_owned(), count);
        }
    }

    /// True (and one fewer left) when the next telemetry PUBACK of `device` must be dropped.
    pub(crate) fn take_ack_drop(&mut self, device: &str) -> bool {
        match self.ack_drop.get_mut(device) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.ack_drop.remove(device);
                true
            }
            None => false,
        }
    }

    pub(crate) fn set_device_fault(&mut self, device: &str, fault: DeviceFault) {
        self.device.insert(device.to_owned(), fault);
    }

    /// The device-requested fault with this id, if it is still the current one.
    pub(crate) fn device_fault(&self, device: &str, id: u64) -> Option<&DeviceFault> {
        self.device.get(device).filter(|f| f.id == id)
    }

    /// The device-requested fault in force at `now`.
    fn active_device_fault(&self, device: &str, now: Instant) -> Option<&DeviceFault> {
        self.device
            .get(device)
            .filter(|f| f.start <= now && now < f.end)
    }

    /// The device-requested fault of `device` in force at `now` and what it does on
    /// `transport` (a link or session it kills stays killed for the fault's duration).
    pub(crate) fn device_action(
        &self,
        device: &str,
        now: Instant,
        transport: Transport,
    ) -> Option<(FaultKind, FaultAction)> {
        let fault = self.active_device_fault(device, now)?;
        Some((fault.kind, fault.kind.action(transport, fault.abrupt)?))
    }

    /// Why an operation of `device` fails at `now` because of a device-requested fault.
    pub(crate) fn op_fault(&self, device: &str, now: Instant) -> Option<OpFault> {
        match self.active_device_fault(device, now)?.kind {
            FaultKind::Throttling => Some(OpFault::Throttled),
            FaultKind::Quota => Some(OpFault::Quota),
            FaultKind::Auth => Some(OpFault::Unauthorized),
            _ => None,
        }
    }

    /// What a hub connection attempt of `device` over `transport` runs into at `now`, in this
    /// order: a `refuse_connections` for the device, one for every device, the service
    /// throttle, a device-requested fault (as it acts on that transport).
    pub(crate) fn hub_connect(
        &self,
        device: &str,
        now: Instant,
        transport: Transport,
    ) -> Option<ConnectFault> {
        let refusal = |key: Option<String>| {
            self.refusals
                .get(&key)
                .filter(|(_, until)| *until > now)
                .map(|(code, _)| *code)
        };
        if let Some(code) = refusal(Some(device.to_owned())).or_else(|| refusal(None)) {
            return Some(ConnectFault::Refuse(
                code,
                "connections refused (refuse_connections)",
            ));
        }
        if transport == Transport::Https {
            // An HTTPS request meets the throttle and the device's faults as an operation
            // (429, 403, 401), not as a connection.
            return None;
        }
        if self.throttled(now).is_some() {
            return Some(ConnectFault::Refuse(
                RefuseCode::ServerUnavailable,
                "server busy (throttle)",
            ));
        }
        let fault = self.active_device_fault(device, now)?;
        let name = fault.kind.name();
        Some(match (transport, fault.kind) {
            (_, FaultKind::KillTcp) => ConnectFault::Cut,
            (_, FaultKind::Auth) => ConnectFault::Refuse(RefuseCode::NotAuthorized, name),
            (_, FaultKind::Throttling | FaultKind::Quota) => {
                ConnectFault::Refuse(RefuseCode::ServerUnavailable, name)
            }
            (Transport::Mqtt, FaultKind::ShutDownMqtt) => {
                ConnectFault::Refuse(RefuseCode::ServerUnavailable, name)
            }
            (Transport::Amqp, FaultKind::KillAmqpConnection | FaultKind::ShutDownAmqp) => {
                ConnectFault::Close(name)
            }
            _ => return None,
        })
    }

    pub(crate) fn count_hub_attempt(&mut self, device: &str) {
        *self.hub_attempts.entry(device.to_owned()).or_default() += 1;
    }

    pub(crate) fn count_dps_attempt(&mut self, registration: &str) {
        *self
            .dps_attempts
            .entry(registration.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn hub_attempts(&self, device: &str) -> u64 {
        self.hub_attempts.get(device).copied().unwrap_or(0)
    }

    pub(crate) fn dps_attempts(&self, registration: &str) -> u64 {
        self.dps_attempts.get(registration).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn request(pairs: &[(&str, &str)]) -> FaultRequest {
        parse_request(&props(pairs)).unwrap().unwrap()
    }

    #[test]
    fn no_fault_without_the_type_property() {
        assert!(parse_request(&props(&[])).is_none());
        assert!(parse_request(&props(&[("alert", "x"), (PROP_DELAY, "1")])).is_none());
    }

    #[test]
    fn csharp_sdk_request() {
        // What azure-iot-sdk-csharp's FaultInjection.ComposeErrorInjectionProperties sends.
        let r = request(&[
            (PROP_TYPE, "KillTcp"),
            (PROP_CLOSE_REASON, "boom"),
            (PROP_DELAY, "1"),
            (PROP_DURATION, "5"),
        ]);
        assert_eq!(
            r,
            FaultRequest {
                kind: FaultKind::KillTcp,
                abrupt: true,
                delay: Duration::from_secs(1),
                duration: Duration::from_secs(5),
            }
        );
        assert_eq!(
            r.kind.action(Transport::Amqp, r.abrupt),
            Some(FaultAction::Close { abrupt: true })
        );
    }

    #[test]
    fn every_type() {
        for (name, kind) in [
            ("KillTcp", FaultKind::KillTcp),
            ("ShutDownMqtt", FaultKind::ShutDownMqtt),
            ("InvokeThrottling", FaultKind::Throttling),
            ("InvokeMaxMessageQuota", FaultKind::Quota),
            ("InvokeAuthError", FaultKind::Auth),
            ("KillAmqpConnection", FaultKind::KillAmqpConnection),
            ("KillAmqpSession", FaultKind::KillAmqpSession),
            ("ShutDownAmqp", FaultKind::ShutDownAmqp),
            (
                "KillAmqpCBSLinkReq",
                FaultKind::KillAmqpLink(AmqpLink::CbsRequest),
            ),
            (
                "KillAmqpCbsLinkResp",
                FaultKind::KillAmqpLink(AmqpLink::CbsResponse),
            ),
            (
                "KillAmqpD2CLink",
                FaultKind::KillAmqpLink(AmqpLink::Telemetry),
            ),
            ("KillAmqpC2DLink", FaultKind::KillAmqpLink(AmqpLink::C2d)),
            (
                "KillAmqpTwinLinkReq",
                FaultKind::KillAmqpLink(AmqpLink::TwinRequest),
            ),
            (
                "KillAmqpTwinLinkResp",
                FaultKind::KillAmqpLink(AmqpLink::TwinResponse),
            ),
            (
                "KillAmqpMethodReqLink",
                FaultKind::KillAmqpLink(AmqpLink::MethodRequest),
            ),
            (
                "KillAmqpMethodRespLink",
                FaultKind::KillAmqpLink(AmqpLink::MethodResponse),
            ),
            ("killtcp", FaultKind::KillTcp),
        ] {
            assert_eq!(request(&[(PROP_TYPE, name)]).kind, kind, "{name}");
        }
        for (name, kind) in KINDS {
            assert_eq!(kind.name(), name);
        }
    }

    #[test]
    fn actions_per_transport() {
        use FaultAction::*;
        let close = Some(Close { abrupt: false });
        for (kind, mqtt, amqp) in [
            (FaultKind::KillTcp, close, close),
            (FaultKind::ShutDownMqtt, close, None),
            (FaultKind::Auth, close, Some(Unauthorized)),
            (FaultKind::Throttling, None, None),
            (FaultKind::Quota, None, None),
            (FaultKind::KillAmqpConnection, None, close),
            (FaultKind::ShutDownAmqp, None, close),
            (FaultKind::KillAmqpSession, None, Some(EndSession)),
            (
                FaultKind::KillAmqpLink(AmqpLink::C2d),
                None,
                Some(DetachLink(AmqpLink::C2d)),
            ),
        ] {
            assert_eq!(kind.action(Transport::Mqtt, false), mqtt, "{kind:?}");
            assert_eq!(kind.action(Transport::Amqp, false), amqp, "{kind:?}");
            assert_eq!(kind.action(Transport::Https, false), None, "{kind:?}");
        }
        // `boom` cuts TCP; the AMQP connection faults still close with a CLOSE frame.
        let cut = Some(Close { abrupt: true });
        assert_eq!(FaultKind::KillTcp.action(Transport::Amqp, true), cut);
        assert_eq!(FaultKind::ShutDownMqtt.action(Transport::Mqtt, true), cut);
        assert_eq!(
            FaultKind::KillAmqpConnection.action(Transport::Amqp, true),
            close
        );
        assert_eq!(FaultKind::ShutDownAmqp.action(Transport::Amqp, true), close);
    }

    #[test]
    fn close_reason_defaults_by_type() {
        assert!(request(&[(PROP_TYPE, "KillTcp")]).abrupt);
        assert!(!request(&[(PROP_TYPE, "KillTcp"), (PROP_CLOSE_REASON, "byebye")]).abrupt);
        assert!(!request(&[(PROP_TYPE, "ShutDownMqtt")]).abrupt);
        assert!(request(&[(PROP_TYPE, "ShutDownMqtt"), (PROP_CLOSE_REASON, "BOOM")]).abrupt);
        assert!(!request(&[(PROP_TYPE, "ShutDownMqtt"), (PROP_CLOSE_REASON, "")]).abrupt);
    }

    #[test]
    fn seconds_forms() {
        let r = request(&[
            (PROP_TYPE, "InvokeThrottling"),
            (PROP_DELAY, "0.25"),
            (PROP_DURATION, "5E-01"),
        ]);
        assert_eq!(r.delay, Duration::from_millis(250));
        assert_eq!(r.duration, Duration::from_millis(500));
        let r = request(&[(PROP_TYPE, "InvokeThrottling"), (PROP_DELAY, " 2 ")]);
        assert_eq!(r.delay, Duration::from_secs(2));
        assert_eq!(r.duration, Duration::ZERO);
        let r = request(&[(PROP_TYPE, "KillTcp"), (PROP_DURATION, "1e12")]);
        assert_eq!(r.duration, Duration::from_secs(86_400));
        // Lower-case property names are accepted too.
        let r = request(&[
            ("azIoTHub_FaultOperationType", "KillTcp"),
            ("azIoTHub_FaultOperationDelayInSecs", "3"),
        ]);
        assert_eq!(r.delay, Duration::from_secs(3));
    }

    #[test]
    fn invalid_requests() {
        for pairs in [
            vec![(PROP_TYPE, "KillEverything")],
            vec![(PROP_TYPE, "")],
            vec![(PROP_TYPE, "KillTcp"), (PROP_DELAY, "-1")],
            vec![(PROP_TYPE, "KillTcp"), (PROP_DELAY, "soon")],
            vec![(PROP_TYPE, "KillTcp"), (PROP_DURATION, "NaN")],
            vec![(PROP_TYPE, "KillTcp"), (PROP_DURATION, "inf")],
        ] {
            assert!(parse_request(&props(&pairs)).unwrap().is_err(), "{pairs:?}");
        }
    }

    #[test]
    fn refuse_codes() {
        assert_eq!(RefuseCode::NotAuthorized.connack_code(), 5);
        assert_eq!(RefuseCode::ServerUnavailable.connack_code(), 3);
        assert_eq!(
            RefuseCode::from_connack_code(3),
            Some(RefuseCode::ServerUnavailable)
        );
        assert_eq!(
            RefuseCode::from_connack_code(5),
            Some(RefuseCode::NotAuthorized)
        );
        assert_eq!(RefuseCode::from_connack_code(4), None);
    }

    #[test]
    fn connect_faults_in_order() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let mut f = Faults::default();
        assert_eq!(f.hub_connect("d", now, Transport::Mqtt), None);
        f.set_device_fault(
            "d",
            DeviceFault {
                id: 1,
                kind: FaultKind::KillTcp,
                abrupt: true,
                start: now,
                end: later,
            },
        );
        assert_eq!(
            f.hub_connect("d", now, Transport::Mqtt),
            Some(ConnectFault::Cut)
        );
        assert_eq!(f.hub_connect("d", later, Transport::Mqtt), None);
        assert_eq!(f.hub_connect("other", now, Transport::Mqtt), None);
        f.set_throttle(later, Duration::from_secs(1));
        assert!(matches!(
            f.hub_connect("other", now, Transport::Mqtt),
            Some(ConnectFault::Refuse(RefuseCode::ServerUnavailable, _))
        ));
        f.refuse(None, RefuseCode::ServerUnavailable, later);
        f.refuse(Some("d"), RefuseCode::NotAuthorized, later);
        assert!(matches!(
            f.hub_connect("d", now, Transport::Mqtt),
            Some(ConnectFault::Refuse(RefuseCode::NotAuthorized, _))
        ));
        f.clear();
        assert_eq!(f.hub_connect("d", now, Transport::Mqtt), None);
    }

    #[test]
    fn ack_drops_count_down() {
        let mut f = Faults::default();
        f.set_ack_drop("d", 2);
        assert!(f.take_ack_drop("d"));
        assert!(f.take_ack_drop("d"));
        assert!(!f.take_ack_drop("d"));
        assert!(!f.take_ack_drop("e"));
    }

    #[test]
    fn tokens_remember_first_presentation() {
        let mut f = Faults::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(f.token_seen("d", [1; 32], t0), t0);
        assert_eq!(f.token_seen("d", [1; 32], t1), t0);
        assert_eq!(f.token_seen("d", [2; 32], t1), t1);
        assert_eq!(f.token_seen("e", [1; 32], t1), t1);
        f.set_token_max_age(None, Duration::from_secs(5));
        f.set_token_max_age(Some("d"), Duration::from_secs(2));
        assert_eq!(f.token_max_age("d"), Some(Duration::from_secs(2)));
        assert_eq!(f.token_max_age("e"), Some(Duration::from_secs(5)));
    }
}
