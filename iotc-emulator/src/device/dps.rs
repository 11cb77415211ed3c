//! The Device Provisioning Service, whatever the transport: authentication of a registration,
//! register and operation-status requests with their replies, and the assignment that creates
//! the device in the hub registry (protocol.md 2.3, 2.4, 3). The MQTT, AMQP and HTTPS front
//! ends translate their wire formats to these calls.

use serde_json::{json, Value};

use crate::ids::{random_hex, random_uuid, service_time};
use crate::sas;
use crate::state::{Device, DeviceAuth, RegStatus, Registration, Shared, DEFAULT_SAS_GROUP};
use crate::tls::{chains_to, common_name, PeerCert};

/// The enrollment that authenticated a DPS connection.
#[derive(Debug, Clone)]
pub(crate) struct DpsAuth {
    /// Group id, or `individual`.
    pub(crate) enrollment: String,
    pub(crate) group: Option<String>,
    pub(crate) auth: DeviceAuth,
}

/// Authenticates a DPS client (SAS with the individual or derived key, or X.509 group).
pub(crate) fn authenticate(
    shared: &Shared,
    scope: &str,
    reg: &str,
    password: &str,
    cert: Option<&PeerCert>,
) -> Option<DpsAuth> {
    let enrolled_x509 = shared.lock().x509_individual.get(reg).cloned();
    if !password.is_empty() {
        if enrolled_x509.is_some() {
            tracing::info!(
                registration_id = reg,
                "DPS SAS token refused: the device has an X.509 enrollment"
            );
            return None;
        }
        // The keys the token may be signed with: the individual enrollment's, else the key
        // derived from each key of each SAS group (the one that signed it decides the group).
        let candidates: Vec<(String, Option<String>)> = {
            let state = shared.lock();
            match state.individual.get(reg) {
                Some(k) => vec![(k.clone(), None)],
                None => std::iter::once((DEFAULT_SAS_GROUP, &shared.settings.group_key))
                    .chain(
                        state
                            .sas_groups
                            .iter()
                            .flat_map(|g| g.keys.iter().map(move |k| (g.id.as_str(), k))),
                    )
                    .filter_map(|(group, key)| {
                        Some((sas::derive_device_key(key, reg)?, Some(group.to_owned())))
                    })
                    .collect(),
            }
        };
        let parsed = sas::SasToken::parse(password).ok()?;
        if let Some(skn) = &parsed.skn {
            if !skn.eq_ignore_ascii_case("registration") {
                tracing::info!(
                    registration_id = reg,
                    "DPS token with unexpected skn refused"
                );
                return None;
            }
        }
        let resource = format!("{scope}/registrations/{reg}");
        let mut refusal = None;
        for (key, group) in candidates {
            match sas::validate(password, &key, &[&resource], sas::now_secs()) {
                Ok(_) => {
                    return Some(DpsAuth {
                        enrollment: group.clone().unwrap_or_else(|| "individual".to_owned()),
                        group,
                        auth: DeviceAuth::Sas { key },
                    })
                }
                Err(e) => refusal = Some(e),
            }
        }
        if let Some(e) = refusal {
            tracing::info!(registration_id = reg, reason = %e, "DPS SAS token refused");
        }
        None
    } else {
        let cert = cert?;
        if common_name(&cert.leaf).as_deref() != Some(reg) {
            tracing::info!(
                registration_id = reg,
                "DPS client certificate CN does not match"
            );
            return None;
        }
        if let Some(enrolled) = enrolled_x509 {
            if !crate::credentials::is_enrolled(&enrolled, cert) {
                tracing::info!(
                    registration_id = reg,
                    "DPS client certificate is not the enrolled one"
                );
                return None;
            }
            return Some(DpsAuth {
                enrollment: "individual".to_owned(),
                group: None,
                auth: DeviceAuth::X509 {
                    group: String::new(),
                },
            });
        }
        let groups = shared.lock().x509_groups.clone();
        let group = groups.iter().find(|g| chains_to(cert, &g.cas))?;
        Some(DpsAuth {
            enrollment: group.id.clone(),
            group: Some(group.id.clone()),
            auth: DeviceAuth::X509 {
                group: group.id.clone(),
            },
        })
    }
}

pub(crate) fn error_body(code: u32, message: &str) -> Value {
    json!({
        "errorCode": code,
        "trackingId": random_uuid(),
        "message": message,
        "timestampUtc": service_time(time::OffsetDateTime::now_utc()),
    })
}

/// The model id a DPS payload announces (`modelId`, `iotcModelId`,
/// `__iot:interfaces.CapabilityModelId`).
pub(crate) fn payload_model_id(payload: Option<&Value>) -> Option<String> {
    let p = payload?;
    p.get("modelId")
        .or_else(|| p.get("iotcModelId"))
        .or_else(|| {
            p.get("__iot:interfaces")
                .and_then(|i| i.get("CapabilityModelId"))
        })
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The gateway a DPS payload attaches the device to (`iotcGateway.iotcGatewayId`, protocol.md
/// 7.5).
pub(crate) fn payload_gateway_id(payload: Option<&Value>) -> Option<String> {
    payload?
        .get("iotcGateway")?
        .get("iotcGatewayId")?
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// A DPS reply: status, `retry-after` seconds and JSON body (protocol.md 2.4).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DpsReply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Value,
}

impl DpsReply {
    /// Announces `hub` as `assignedHub`: the hub endpoint of the listener the device used (a
    /// device on the HTTPS port reaches the hub on the HTTPS port), on the device's assigned
    /// hub (see [`crate::hubs`]).
    pub(crate) fn announcing(mut self, shared: &Shared, hub: &str) -> DpsReply {
        if let Some(state) = self
            .body
            .get_mut("registrationState")
            .and_then(Value::as_object_mut)
        {
            if let Some(assigned) = state.get("assignedHub").and_then(Value::as_str) {
                let endpoint = crate::hubs::announce(&shared.settings, assigned, hub);
                state.insert("assignedHub".into(), Value::String(endpoint));
            }
        }
        self
    }

    fn new(status: u16, retry_after: Option<u64>, body: Value) -> DpsReply {
        DpsReply {
            status,
            retry_after,
            body,
        }
    }
}

/// A DPS request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DpsRequest<'a> {
    /// `PUT …/register` with its JSON body.
    Register(&'a [u8]),
    /// `GET …/operations/{operationId}`.
    Poll(&'a str),
}

/// One registration's client: who it is and how it authenticated.
#[derive(Debug, Clone)]
pub(crate) struct DpsClient {
    pub(crate) scope: String,
    pub(crate) registration_id: String,
    /// `None` when the ID scope is unknown: every request gets 404.
    pub(crate) auth: Option<DpsAuth>,
}

impl DpsClient {
    /// Answers a request: throttling faults first (429 with `retry-after`), an unknown ID
    /// scope (404), then the register or poll itself.
    pub(crate) fn handle(&self, shared: &Shared, request: DpsRequest<'_>) -> DpsReply {
        let throttled = shared.lock().faults.throttled(std::time::Instant::now());
        if let Some((_, retry_after)) = throttled {
            tracing::info!(registration_id = %self.registration_id, "DPS request throttled (429)");
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            return DpsReply::new(
                429,
                Some(secs),
                error_body(
                    429_001,
                    "Operations are being throttled for this tenant (fault injection).",
                ),
            );
        }
        let Some(auth) = &self.auth else {
            let msg = format!("ID scope {} not found", self.scope);
            return DpsReply::new(404, None, error_body(404_002, &msg));
        };
        match request {
            DpsRequest::Register(body) => self.register(shared, body, auth),
            DpsRequest::Poll(operation_id) => self.poll(shared, operation_id, auth),
        }
    }

    fn register(&self, shared: &Shared, body: &[u8], auth: &DpsAuth) -> DpsReply {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let Some(Value::Object(obj)) = parsed else {
            return DpsReply::new(
                400,
                None,
                error_body(400_004, "The request body is not a JSON object."),
            );
        };
        let body_reg = obj.get("registrationId").and_then(Value::as_str);
        if !body_reg.is_some_and(|r| r.eq_ignore_ascii_case(&self.registration_id)) {
            return DpsReply::new(400, None,
                error_body(
                    400_004,
                    "registrationId in the body does not match the registration id of the connection.",
                ),
            );
        }
        let payload = obj.get("payload").filter(|p| !p.is_null()).cloned();
        let now = time::OffsetDateTime::now_utc();
        let settings = &shared.settings;
        let operation_id = format!("4.{}.{}", random_hex(8), random_uuid());
        let mut state = shared.lock();
        let previous = state.registrations.get(&self.registration_id);
        let reprovisioned = previous.is_some_and(|r| r.status == RegStatus::Assigned)
            || state.devices.contains_key(&self.registration_id);
        let created = previous.map(|r| r.created).unwrap_or(now);
        let registration = Registration {
            registration_id: self.registration_id.clone(),
            operation_id: operation_id.clone(),
            status: RegStatus::Assigning,
            polls_left: settings.dps_polls_before_assign,
            payload,
            enrollment: auth.enrollment.clone(),
            auth: auth.auth.clone(),
            created,
            last_updated: now,
            etag: String::new(),
            reprovisioned,
        };
        tracing::info!(registration_id = %self.registration_id, enrollment = %auth.enrollment, "DPS register request");
        state
            .registrations
            .insert(self.registration_id.clone(), registration);
        *state
            .dps_registrations
            .entry(self.registration_id.clone())
            .or_insert(0) += 1;
        if settings.dps_polls_before_assign == 0 {
            let body = assign(
                shared,
                &mut state,
                &self.registration_id,
                auth.group.as_deref(),
            );
            return DpsReply::new(200, None, body);
        }
        DpsReply::new(
            202,
            Some(settings.dps_retry_after_secs),
            json!({"operationId": operation_id, "status": "assigning"}),
        )
    }

    fn poll(&self, shared: &Shared, operation_id: &str, auth: &DpsAuth) -> DpsReply {
        let group = auth.group.clone();
        let mut state = shared.lock();
        let Some(reg) = state.registrations.get_mut(&self.registration_id) else {
            return DpsReply::new(404, None, error_body(404_002, "Operation not found."));
        };
        if operation_id.is_empty() || reg.operation_id != operation_id {
            return DpsReply::new(404, None, error_body(404_002, "Operation not found."));
        }
        if reg.status == RegStatus::Assigning {
            reg.polls_left = reg.polls_left.saturating_sub(1);
            if reg.polls_left > 0 {
                let body = json!({
                    "operationId": reg.operation_id,
                    "status": "assigning",
                    "registrationState": {"registrationId": reg.registration_id, "status": "assigning"},
                });
                return DpsReply::new(202, Some(shared.settings.dps_retry_after_secs), body);
            }
            let reg_id = self.registration_id.clone();
            let body = assign(shared, &mut state, &reg_id, group.as_deref());
            return DpsReply::new(200, None, body);
        }
        let hub = assigned_hub_of(shared, &state, &self.registration_id);
        let Some(reg) = state.registrations.get(&self.registration_id) else {
            return DpsReply::new(404, None, error_body(404_002, "Operation not found."));
        };
        DpsReply::new(200, None, assigned_body(shared, reg, hub))
    }
}

/// Completes an assignment: marks the registration assigned and creates or updates the device
/// in the hub registry. Returns the `200` body.
fn assign(
    shared: &Shared,
    state: &mut crate::state::State,
    reg_id: &str,
    group: Option<&str>,
) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let hub = assigned_hub_of(shared, state, reg_id);
    let Some(reg) = state.registrations.get_mut(reg_id) else {
        return error_body(404_002, "Operation not found.");
    };
    reg.status = RegStatus::Assigned;
    reg.last_updated = now;
    reg.etag = base64_etag();
    let body = assigned_body(shared, reg, hub);
    let model_id = payload_model_id(reg.payload.as_ref());
    let gateway_id = payload_gateway_id(reg.payload.as_ref());
    let auth = reg.auth.clone();
    tracing::info!(registration_id = reg_id, hub, "device assigned");
    match state.devices.get_mut(reg_id) {
        Some(device) => {
            device.auth = auth;
            device.enrollment_group = group.map(str::to_owned);
            if model_id.is_some() {
                device.model_id = model_id;
            }
            if gateway_id.is_some() {
                device.gateway_id = gateway_id;
            }
        }
        None => {
            state.devices.insert(
                reg_id.to_owned(),
                Device {
                    model_id,
                    enrollment_group: group.map(str::to_owned),
                    gateway_id,
                    ..Device::new(reg_id.to_owned(), auth)
                },
            );
        }
    }
    body
}

fn base64_etag() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\"{}\"", random_uuid()))
}

/// The hub a registration is assigned to: the device's hub when it is in the registry (a
/// failed-over device gets its failover hub), else its home hub.
fn assigned_hub_of(shared: &Shared, state: &crate::state::State, reg_id: &str) -> usize {
    match state.devices.get(reg_id) {
        Some(device) => crate::hubs::device_hub(&shared.settings, device),
        None => crate::hubs::home_hub(&shared.settings, reg_id),
    }
}

/// The `200 assigned` body of protocol.md 2.4, naming hub `hub` (its MQTT endpoint; the front
/// end announces the endpoint of its transport, [`DpsReply::announcing`]).
fn assigned_body(shared: &Shared, reg: &Registration, hub: usize) -> Value {
    let assigned_hub =
        crate::hubs::endpoint_on(&shared.settings, hub, &shared.settings.assigned_hub);
    let mut state = json!({
        "registrationId": reg.registration_id,
        "createdDateTimeUtc": service_time(reg.created),
        "assignedHub": assigned_hub,
        "deviceId": reg.registration_id,
        "status": "assigned",
        "substatus": if reg.reprovisioned { "reprovisionedToInitialAssignment" } else { "initialAssignment" },
        "lastUpdatedDateTimeUtc": service_time(reg.last_updated),
        "etag": reg.etag,
    });
    if let Value::Object(m) = &mut state {
        match &reg.auth {
            DeviceAuth::X509 { .. } if reg.enrollment == "individual" => {}
            DeviceAuth::X509 { group } => {
                m.insert("x509".into(), json!({"enrollmentGroupId": group}));
            }
            DeviceAuth::Sas { .. } if reg.enrollment != "individual" => {
                m.insert(
                    "symmetricKey".into(),
                    json!({"enrollmentGroupId": reg.enrollment}),
                );
            }
            DeviceAuth::Sas { .. } => {}
        }
    }
    json!({
        "operationId": reg.operation_id,
        "status": "assigned",
        "registrationState": state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_id_from_payload() {
        assert_eq!(
            payload_model_id(Some(&json!({"modelId":"dtmi:a;1"}))).as_deref(),
            Some("dtmi:a;1")
        );
        assert_eq!(
            payload_model_id(Some(&json!({"iotcModelId":"dtmi:b;1"}))).as_deref(),
            Some("dtmi:b;1")
        );
        assert_eq!(
            payload_model_id(Some(
                &json!({"__iot:interfaces":{"CapabilityModelId":"urn:c:1"}})
            ))
            .as_deref(),
            Some("urn:c:1")
        );
        assert_eq!(payload_model_id(Some(&json!({}))), None);
        assert_eq!(payload_model_id(None), None);
    }

    #[test]
    fn gateway_id_from_payload() {
        let payload = json!({"modelId": "dtmi:a;1", "iotcGateway": {"iotcGatewayId": "gw-1"}});
        assert_eq!(payload_gateway_id(Some(&payload)).as_deref(), Some("gw-1"));
        assert_eq!(payload_gateway_id(Some(&json!({"iotcGateway": {}}))), None);
        assert_eq!(
            payload_gateway_id(Some(&json!({"iotcGateway": {"iotcGatewayId": ""}}))),
            None
        );
        assert_eq!(payload_gateway_id(None), None);
    }
}
