//! Device Provisioning Service (DPS): register a device under an ID scope and learn which IoT
//! hub it is assigned to (protocol.md §2).

#[cfg(feature = "amqp")]
mod amqp;
mod cache;
#[cfg(feature = "https")]
mod http;
mod mqtt;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tracing::debug;

pub(crate) use cache::BoundCache;
pub use cache::{Assignment, FileProvisioningCache, ProvisioningCache};

use crate::auth::Credentials;
use crate::proxy::ProxyConfig;
use crate::tls::TlsConfig;
use crate::transport::{parse_endpoint, Protocol};
use crate::{Error, Result};

/// The global DPS endpoint every IoT Central application uses.
pub const GLOBAL_ENDPOINT: &str = "global.azure-devices-provisioning.net";

/// The standard MQTT-over-TLS port.
pub const MQTT_TLS_PORT: u16 = 8883;

/// How many times a throttled (429) or failing (5xx) request is sent again before giving up.
const MAX_RETRIES: u32 = 3;

/// DPS tokens only need to outlive the registration.
const DPS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Registers one device with DPS.
///
/// ```no_run
/// use iotc_sdk::{Credentials, ProvisioningClient};
/// # async fn run() -> Result<(), iotc_sdk::Error> {
/// let registration = ProvisioningClient::new(
///     "0ne00000A0A",
///     "thermostat-01",
///     Credentials::group_key("bmIvVU1KbWZVRUpyQ08vcnpLSWJJdWQ0WllaK3oyUTRkOURZ")?,
/// )
/// .model_id("dtmi:com:example:Thermostat;1")
/// .register()
/// .await?;
/// println!("assigned to {}", registration.assigned_hub());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ProvisioningClient {
    id_scope: String,
    registration_id: String,
    credentials: Credentials,
    endpoint: String,
    tls: TlsConfig,
    payload: Option<Value>,
    model_id: Option<String>,
    timeout: Duration,
    protocol: Protocol,
    proxy: Option<ProxyConfig>,
}

impl fmt::Debug for ProvisioningClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisioningClient")
            .field("id_scope", &self.id_scope)
            .field("registration_id", &self.registration_id)
            .field("endpoint", &self.endpoint)
            .field("model_id", &self.model_id)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl ProvisioningClient {
    /// A client for `registration_id` under `id_scope`, on the global endpoint, trusting the
    /// system's roots, with a 60 s overall timeout.
    pub fn new(
        id_scope: impl Into<String>,
        registration_id: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        ProvisioningClient {
            id_scope: id_scope.into(),
            registration_id: registration_id.into(),
            credentials,
            endpoint: GLOBAL_ENDPOINT.to_owned(),
            tls: TlsConfig::new(),
            payload: None,
            model_id: None,
            timeout: Duration::from_secs(60),
            protocol: Protocol::Mqtt,
            proxy: None,
        }
    }

    /// Uses another DPS endpoint: `host` or `host:port` (default: the protocol's standard
    /// port, 8883 for MQTT, 5671 for AMQP, 443 for WebSockets and HTTPS).
    pub fn dps_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Uses these TLS settings (trusted roots).
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Announces the device's model id in the registration payload (`{"modelId": …}`), which
    /// IoT Central uses to assign the device template.
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// Adds a custom registration payload (a JSON object; `modelId` is added to it).
    pub fn provisioning_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// The overall time allowed for the registration, polling included (default 60 s).
    pub fn registration_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses this protocol (default MQTT).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Replaces the credentials the next registration uses (credential rotation).
    pub(crate) fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = credentials;
    }

    /// Registers through this HTTP proxy (a CONNECT tunnel): with [`Protocol::MqttWs`],
    /// [`Protocol::AmqpWs`] or [`Protocol::Https`]; [`register`](Self::register) with another
    /// protocol and a proxy fails with [`Error::Unsupported`]. Failures of the proxy are
    /// [`Error::Proxy`].
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The registration id.
    pub fn registration_id(&self) -> &str {
        &self.registration_id
    }

    /// Registers the device and waits until DPS has assigned it.
    ///
    /// # Errors
    ///
    /// - [`Error::Unauthorized`]: DPS refused the key or certificate (or IoT Central has not
    ///   approved or has blocked the device).
    /// - [`Error::NotFound`]: unknown ID scope or enrollment.
    /// - [`Error::Throttled`]: DPS kept throttling; retry after the delay.
    /// - [`Error::RegistrationFailed`]: DPS finished without assigning the device.
    /// - [`Error::Timeout`]: no final answer within the timeout.
    /// - [`Error::Unsupported`]: the protocol's cargo feature is off in this build (see
    ///   [`Protocol::is_available`]), or a proxy with MQTT or AMQP (not over WebSockets).
    ///   Nothing was sent.
    /// - [`Error::Proxy`]: the HTTP proxy could not be reached or refused the tunnel.
    /// - [`Error::Config`], [`Error::Connection`], [`Error::Rejected`] otherwise.
    pub async fn register(&self) -> Result<Registration> {
        self.protocol.ensure_available()?;
        self.protocol.ensure_proxy(self.proxy.as_ref())?;
        validate_id("registration id", &self.registration_id)?;
        validate_id("ID scope", &self.id_scope)?;
        if let Some(model_id) = &self.model_id {
            model_id.parse::<crate::Dtmi>()?;
        }
        let (host, port) = parse_endpoint(&self.endpoint, self.protocol.default_port())?;
        let body = self.request_body()?;
        let work = async {
            match self.protocol {
                Protocol::Mqtt | Protocol::MqttWs => mqtt::register(self, &host, port, body).await,
                #[cfg(feature = "https")]
                Protocol::Https => http::register(self, &host, port, body).await,
                #[cfg(feature = "amqp")]
                Protocol::Amqp | Protocol::AmqpWs => amqp::register(self, &host, port, body).await,
                #[allow(unreachable_patterns)] // with every transport feature on
                other => Err(other.unsupported("DPS registration")),
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(self.timeout, "the DPS registration")),
        }
    }

    fn request_body(&self) -> Result<Value> {
        let mut payload = match self.payload.clone() {
            Some(Value::Object(map)) => map,
            Some(Value::Null) | None => serde_json::Map::new(),
            Some(_) => {
                return Err(Error::Config(
                    "the registration payload must be a JSON object".into(),
                ))
            }
        };
        if let Some(model_id) = &self.model_id {
            payload.insert("modelId".into(), Value::String(model_id.clone()));
        }
        let mut body = serde_json::Map::new();
        body.insert(
            "registrationId".into(),
            Value::String(self.registration_id.clone()),
        );
        if !payload.is_empty() {
            body.insert("payload".into(), Value::Object(payload));
        }
        Ok(Value::Object(body))
    }
}

fn validate_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 {
        return Err(Error::Config(format!(
            "the {what} must be 1 to 128 characters"
        )));
    }
    if id
        .chars()
        .any(|c| c == '/' || c == '+' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(Error::Config(format!("the {what} `{id}` contains a character MQTT topics cannot carry (`/`, `+`, `#` or white space)")));
    }
    Ok(())
}

/// The result of a successful registration: where the device lives now.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Registration {
    /// The IoT hub host name the device was assigned to.
    pub assigned_hub: String,
    /// The port to reach the hub on: the protocol's standard port unless DPS announced
    /// `host:port`, as the emulator does on non-standard ports.
    pub hub_port: u16,
    /// The device id in the hub (equal to the registration id for group enrollments).
    pub device_id: String,
    /// `initialAssignment`, `reprovisionedToInitialAssignment`, …
    pub substatus: Option<String>,
    /// The payload returned by custom allocation, if any.
    pub payload: Option<Value>,
}

impl Registration {
    /// The assigned hub's host name.
    pub fn assigned_hub(&self) -> &str {
        &self.assigned_hub
    }

    /// The hub device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }
}

/// `RegistrationOperationStatus` (protocol.md §2.4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationStatus {
    #[serde(default)]
    operation_id: String,
    status: String,
    registration_state: Option<RegistrationState>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationState {
    assigned_hub: Option<String>,
    device_id: Option<String>,
    substatus: Option<String>,
    error_code: Option<u64>,
    error_message: Option<String>,
    payload: Option<Value>,
}

/// An error body `{"errorCode":401002,"message":"…"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_code: Option<u64>,
    message: Option<String>,
}

/// What the client does after one DPS answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    Done(Registration),
    Poll {
        operation_id: String,
        after: Duration,
    },
    Retry {
        after: Duration,
    },
}

/// One request of the DPS client state machine.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Request<'a> {
    /// Register the device, with this JSON body.
    Register(&'a [u8]),
    /// Ask for the status of this operation.
    Poll(&'a str),
}

/// One DPS answer, as [`interpret_for`] reads it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status: HTTP's, the MQTT response topic's, or the one AMQP's answer implies.
    pub(crate) status: u16,
    /// `retry-after`, in seconds, if DPS sent one.
    pub(crate) retry_after: Option<u64>,
    /// The JSON body.
    pub(crate) body: Bytes,
}

/// The wire work of one DPS protocol: send a request, wait for its answer.
pub(crate) trait Exchange {
    /// Sends `request` and returns DPS's answer to it. An error ends the registration with
    /// that error.
    async fn send(&mut self, request: Request<'_>) -> Result<Answer>;
}

/// The DPS client state machine (protocol.md §2.5), for every protocol: registers with `body`,
/// polls the operation until DPS ends it, and sends a throttled (429) or failing (5xx) request
/// again up to [`MAX_RETRIES`] times, each wait being DPS's `retry-after`. The overall timeout
/// is [`ProvisioningClient::register`]'s.
async fn register_over(
    protocol: Protocol,
    body: &Value,
    exchange: &mut impl Exchange,
) -> Result<Registration> {
    let register_body = serde_json::to_vec(body)?;
    let mut retries = 0;
    let mut operation_id: Option<String> = None;
    loop {
        let request = match &operation_id {
            None => Request::Register(&register_body),
            Some(op) => Request::Poll(op),
        };
        let Answer {
            status,
            retry_after,
            body,
        } = exchange.send(request).await?;
        debug!(status, ?retry_after, "DPS answered");
        match interpret_for(protocol, status, retry_after, &body)? {
            Next::Done(registration) => return Ok(registration),
            Next::Poll {
                operation_id: op,
                after,
            } => {
                operation_id = Some(op);
                tokio::time::sleep(after).await;
            }
            Next::Retry { after } => {
                retries += 1;
                if retries > MAX_RETRIES {
                    return Err(if status == 429 {
                        Error::Throttled { retry_after: after }
                    } else {
                        Error::Rejected {
                            status,
                            message: String::from_utf8_lossy(&body).into_owned(),
                        }
                    });
                }
                tokio::time::sleep(after).await;
            }
        }
    }
}

/// Default wait when DPS sends no `retry-after` (Python and Node use 2 s).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Interprets one DPS answer (status from the topic or HTTP status, JSON body); a hub without
/// a port is on 8883. (The fuzz targets' entry point.)
#[cfg_attr(not(any(test, feature = "__fuzz")), allow(dead_code))]
pub(crate) fn interpret(status: u16, retry_after: Option<u64>, body: &[u8]) -> Result<Next> {
    interpret_for(Protocol::Mqtt, status, retry_after, body)
}

/// [`interpret`] for a device using `protocol`: a hub without a port is on its standard port.
pub(crate) fn interpret_for(
    protocol: Protocol,
    status: u16,
    retry_after: Option<u64>,
    body: &[u8],
) -> Result<Next> {
    let after = retry_after
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RETRY_AFTER);
    match status {
        200..=299 => {
            let op: OperationStatus = serde_json::from_slice(body)
                .map_err(|e| Error::Serialization(format!("unexpected DPS answer: {e}")))?;
            match op.status.as_str() {
                "assigned" => {
                    let state = op.registration_state.ok_or_else(|| {
                        Error::Serialization(
                            "DPS answered `assigned` without a registrationState".into(),
                        )
                    })?;
                    let hub = state.assigned_hub.ok_or_else(|| {
                        Error::Serialization(
                            "DPS answered `assigned` without an assignedHub".into(),
                        )
                    })?;
                    let (assigned_hub, hub_port) = parse_assigned_hub(&hub, protocol)?;
                    Ok(Next::Done(Registration {
                        assigned_hub,
                        hub_port,
                        device_id: state.device_id.unwrap_or_default(),
                        substatus: state.substatus,
                        payload: state.payload,
                    }))
                }
                "assigning" | "unassigned" => {
                    if op.operation_id.is_empty() {
                        return Err(Error::Serialization(
                            "DPS answered `assigning` without an operationId".into(),
                        ));
                    }
                    Ok(Next::Poll {
                        operation_id: op.operation_id,
                        after,
                    })
                }
                other => {
                    let (error_code, message) = op
                        .registration_state
                        .map(|s| (s.error_code, s.error_message.unwrap_or_default()))
                        .unwrap_or_default();
                    Err(Error::RegistrationFailed {
                        status: other.to_owned(),
                        error_code,
                        message,
                    })
                }
            }
        }
        429 => Ok(Next::Retry { after }),
        500..=599 => Ok(Next::Retry { after }),
        _ => {
            let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
            let code = parsed.as_ref().and_then(|b| b.error_code);
            let message = parsed
                .and_then(|b| b.message)
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            let message = match code {
                Some(code) => format!("{message} (error code {code})"),
                None => message,
            };
            Err(match status {
                401 | 403 => Error::Unauthorized(message),
                404 => Error::NotFound(message),
                _ => Error::Rejected { status, message },
            })
        }
    }
}

/// Splits DPS's `assignedHub` (`host` or `host:port`, protocol.md §2.4) and checks that it can
/// be connected to: a host name or IP address (ASCII letters, digits, `-`, `.`, `_`, and `:`
/// inside an IPv6 address) and a port other than 0. The hub name goes into the TLS server
/// name, the MQTT username, the SAS audience and the logs, so nothing else is let through
/// (found by fuzzing, fuzz/regressions/dps_response).
fn parse_assigned_hub(hub: &str, protocol: Protocol) -> Result<(String, u16)> {
    let valid = |(host, port): &(String, u16)| {
        !host.is_empty()
            && *port != 0
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
    };
    parse_endpoint(hub, protocol.default_port())
        .ok()
        .filter(valid)
        .ok_or_else(|| {
            Error::Serialization(format!(
                "DPS answered `assigned` with an invalid assignedHub {hub:?}"
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_body_carries_model_and_payload() {
        let creds =
            Credentials::device_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let client = ProvisioningClient::new("scope", "dev", creds.clone());
        assert_eq!(
            client.request_body().unwrap(),
            serde_json::json!({"registrationId": "dev"})
        );
        let client = client
            .model_id("dtmi:com:example:Thermostat;1")
            .provisioning_payload(serde_json::json!({"iotcGateway": {"iotcGatewayId": "gw"}}));
        assert_eq!(
            client.request_body().unwrap(),
            serde_json::json!({"registrationId": "dev", "payload": {"iotcGateway": {"iotcGatewayId": "gw"}, "modelId": "dtmi:com:example:Thermostat;1"}})
        );
        let bad = ProvisioningClient::new("scope", "dev", creds)
            .provisioning_payload(serde_json::json!(1));
        assert!(matches!(bad.request_body(), Err(Error::Config(_))));
    }

    #[test]
    fn interprets_the_protocol_answers() {
        let assigning = br#"{"operationId":"4.d0a6","status":"assigning"}"#;
        assert_eq!(
            interpret(202, Some(3), assigning).unwrap(),
            Next::Poll {
                operation_id: "4.d0a6".into(),
                after: Duration::from_secs(3)
            }
        );
        let assigned = br#"{"operationId":"4.d0a6","status":"assigned","registrationState":{"x509":{},"registrationId":"thermostat-01","assignedHub":"contoso.azure-devices.net","deviceId":"thermostat-01","status":"assigned","substatus":"initialAssignment","payload":{}}}"#;
        match interpret(200, None, assigned).unwrap() {
            Next::Done(r) => {
                assert_eq!(r.assigned_hub, "contoso.azure-devices.net");
                assert_eq!(r.hub_port, 8883);
                assert_eq!(r.device_id, "thermostat-01");
                assert_eq!(r.substatus.as_deref(), Some("initialAssignment"));
            }
            other => panic!("{other:?}"),
        }
        let local = br#"{"operationId":"x","status":"assigned","registrationState":{"assignedHub":"localhost:4711","deviceId":"d"}}"#;
        assert!(matches!(
            interpret(200, None, local).unwrap(),
            Next::Done(Registration { hub_port: 4711, .. })
        ));
        let failed = br#"{"operationId":"x","status":"failed","registrationState":{"errorCode":400207,"errorMessage":"Custom allocation failed with status code: 400"}}"#;
        assert!(matches!(
            interpret(200, None, failed),
            Err(Error::RegistrationFailed {
                error_code: Some(400207),
                ..
            })
        ));
        assert!(matches!(
            interpret(200, None, br#"{"status":"disabled","operationId":""}"#),
            Err(Error::RegistrationFailed { .. })
        ));
        let unauthorized = br#"{"errorCode":401002,"trackingId":"t","message":"Invalid certificate.","timestampUtc":"2020-04-10T05:24:22Z"}"#;
        assert!(
            matches!(interpret(401, None, unauthorized), Err(Error::Unauthorized(m)) if m.contains("401002"))
        );
        assert!(matches!(
            interpret(404, None, b"{}"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            interpret(400, None, b"oops"),
            Err(Error::Rejected { status: 400, .. })
        ));
        assert_eq!(
            interpret(429, Some(7), b"").unwrap(),
            Next::Retry {
                after: Duration::from_secs(7)
            }
        );
        assert_eq!(
            interpret(503, None, b"").unwrap(),
            Next::Retry {
                after: DEFAULT_RETRY_AFTER
            }
        );
        assert!(matches!(
            interpret(200, None, b"not json"),
            Err(Error::Serialization(_))
        ));
    }

    /// Fuzzing (fuzz/regressions/dps_response/control-char-in-assigned-hub): an `assignedHub`
    /// holding a DEL character and a comma was accepted as the hub to connect to; so were an
    /// empty host (`[]`), white space and port 0.
    #[test]
    fn assigned_hub_must_be_a_host_name() {
        let answer = |hub: &str| {
            let body = serde_json::json!({"operationId": "x", "status": "assigned",
                "registrationState": {"assignedHub": hub, "deviceId": "d"}});
            interpret(200, None, &serde_json::to_vec(&body).unwrap())
        };
        for bad in [
            "l\u{7f}calh,ost:4711",
            "[]",
            "[]:4711",
            "h:0",
            "a b.azure-devices.net",
            "[a b]:1",
            "hub\n.azure-devices.net",
            "",
        ] {
            match answer(bad) {
                Err(Error::Serialization(m)) => assert!(m.contains("assignedHub"), "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for (good, host, port) in [
            (
                "contoso.azure-devices.net",
                "contoso.azure-devices.net",
                8883,
            ),
            ("localhost:4711", "localhost", 4711),
            ("[::1]:4711", "::1", 4711),
            ("127.0.0.1", "127.0.0.1", 8883),
            (
                "iotc-1_a.azure-devices.net",
                "iotc-1_a.azure-devices.net",
                8883,
            ),
        ] {
            match answer(good) {
                Ok(Next::Done(r)) => {
                    assert_eq!((r.assigned_hub.as_str(), r.hub_port), (host, port))
                }
                other => panic!("{good:?}: {other:?}"),
            }
        }
    }

    /// A scripted DPS: gives its answers in order and records the requests.
    struct Script {
        answers: std::collections::VecDeque<Result<Answer>>,
        sent: Vec<String>,
    }

    impl Script {
        fn new(answers: impl IntoIterator<Item = Result<Answer>>) -> Self {
            Script {
                answers: answers.into_iter().collect(),
                sent: Vec::new(),
            }
        }
    }

    impl Exchange for Script {
        async fn send(&mut self, request: Request<'_>) -> Result<Answer> {
            self.sent.push(match request {
                Request::Register(body) => format!("register {}", String::from_utf8_lossy(body)),
                Request::Poll(op) => format!("poll {op}"),
            });
            self.answers
                .pop_front()
                .unwrap_or_else(|| Err(Error::connection("no answer scripted")))
        }
    }

    fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Result<Answer> {
        Ok(Answer {
            status,
            retry_after,
            body: Bytes::copy_from_slice(body.as_bytes()),
        })
    }

    const ASSIGNING: &str = r#"{"operationId":"op-1","status":"assigning"}"#;
    const ASSIGNED: &str = r#"{"operationId":"op-1","status":"assigned","registrationState":{"assignedHub":"hub.example","deviceId":"dev"}}"#;

    #[tokio::test(start_paused = true)]
    async fn the_state_machine_registers_polls_and_retries() {
        let mut dps = Script::new([
            answer(429, Some(1), ""),
            answer(202, Some(3), ASSIGNING),
            answer(503, None, ""),
            answer(200, None, ASSIGNED),
        ]);
        let started = tokio::time::Instant::now();
        let body = serde_json::json!({"registrationId": "dev"});
        let registration = register_over(Protocol::Mqtt, &body, &mut dps)
            .await
            .unwrap();
        assert_eq!(registration.assigned_hub, "hub.example");
        assert_eq!(registration.device_id, "dev");
        let register = r#"register {"registrationId":"dev"}"#;
        assert_eq!(dps.sent, [register, register, "poll op-1", "poll op-1"]);
        // 1 s (429), 3 s (assigning), 2 s (503 without retry-after).
        assert_eq!(started.elapsed(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_machine_gives_up_after_the_retries() {
        let mut dps = Script::new((0..4).map(|_| answer(429, Some(5), "")));
        let result = register_over(Protocol::Mqtt, &Value::Null, &mut dps).await;
        assert!(
            matches!(result, Err(Error::Throttled { retry_after }) if retry_after == Duration::from_secs(5)),
            "{result:?}"
        );
        assert_eq!(dps.sent.len(), 1 + MAX_RETRIES as usize);

        let mut dps = Script::new((0..4).map(|_| answer(503, Some(0), "busy")));
        let result = register_over(Protocol::Mqtt, &Value::Null, &mut dps).await;
        assert!(
            matches!(&result, Err(Error::Rejected { status: 503, message }) if message == "busy"),
            "{result:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_state_machine_stops_at_the_first_error() {
        let mut dps = Script::new([
            answer(202, Some(0), ASSIGNING),
            Err(Error::connection("gone")),
        ]);
        let result = register_over(Protocol::Mqtt, &Value::Null, &mut dps).await;
        assert!(
            matches!(result, Err(Error::Connection { .. })),
            "{result:?}"
        );
        assert_eq!(dps.sent.len(), 2);

        let mut dps = Script::new([answer(401, None, r#"{"errorCode":401002}"#)]);
        let result = register_over(Protocol::Mqtt, &Value::Null, &mut dps).await;
        assert!(matches!(result, Err(Error::Unauthorized(_))), "{result:?}");
        assert_eq!(dps.sent.len(), 1);
    }

    #[test]
    fn ids_are_checked_before_any_io() {
        assert!(validate_id("x", "").is_err());
        assert!(validate_id("x", "a/b").is_err());
        assert!(validate_id("x", "a+b").is_err());
        assert!(validate_id("x", &"a".repeat(129)).is_err());
        assert!(validate_id("x", "thermostat-01").is_ok());
    }
}
