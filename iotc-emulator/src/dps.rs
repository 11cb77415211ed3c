//! The Device Provisioning Service over MQTT (protocol.md 2).

use std::net::SocketAddr;
use std::sync::Arc;

use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use rumqttc::mqttbytes::QoS;
use serde_json::{json, Value};

use crate::conn::{keep_alive_timeout, password, refuse, ConnError, TlsIo};
use crate::sas;
use crate::state::{
    random_hex, random_uuid, service_time, Device, DeviceAuth, RegStatus, Registration, Shared,
    DEFAULT_SAS_GROUP,
};
use crate::tls::{chains_to, common_name, PeerCert};
use crate::wire;

const RES_FILTER: &str = "$dps/registrations/res/#";
const REGISTER_TOPIC: &str = "$dps/registrations/PUT/iotdps-register";
const POLL_TOPIC: &str = "$dps/registrations/GET/iotdps-get-operationstatus";

/// The enrollment that authenticated a DPS connection.
#[derive(Debug, Clone)]
pub(crate) struct DpsAuth {
    /// Group id, or `individual`.
    enrollment: String,
    group: Option<String>,
    auth: DeviceAuth,
}

/// Authenticates a DPS CONNECT (SAS with the individual or derived key, or X.509 group).
pub(crate) fn authenticate(
    shared: &Shared,
    scope: &str,
    reg: &str,
    password: &str,
    cert: Option<&PeerCert>,
) -> Option<DpsAuth> {
    if !password.is_empty() {
        let individual = shared.lock().individual.get(reg).cloned();
        let (key, enrollment, group) = match individual {
            Some(k) => (k, "individual".to_owned(), None),
            None => (
                sas::derive_device_key(&shared.settings.group_key, reg)?,
                DEFAULT_SAS_GROUP.to_owned(),
                Some(DEFAULT_SAS_GROUP.to_owned()),
            ),
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
        match sas::validate(password, &key, &[&resource], sas::now_secs()) {
            Ok(_) => Some(DpsAuth {
                enrollment,
                group,
                auth: DeviceAuth::Sas { key },
            }),
            Err(e) => {
                tracing::info!(registration_id = reg, reason = %e, "DPS SAS token refused");
                None
            }
        }
    } else {
        let cert = cert?;
        if common_name(&cert.leaf).as_deref() != Some(reg) {
            tracing::info!(
                registration_id = reg,
                "DPS client certificate CN does not match"
            );
            return None;
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

/// Serves one DPS connection after its CONNECT.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    io: &mut TlsIo,
    connect: Connect,
    cert: Option<PeerCert>,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let username = connect
        .login
        .as_ref()
        .and_then(|l| wire::parse_dps_username(&l.username));
    let Some(username) = username else {
        refuse(io, ConnectReturnCode::BadUserNamePassword).await;
        return Ok(());
    };
    let reg = username.registration_id.clone();
    shared.lock().faults.count_dps_attempt(&reg);
    if connect.client_id != reg {
        tracing::info!(%peer, registration_id = %reg, "DPS ClientId does not match the username");
        refuse(io, ConnectReturnCode::BadClientId).await;
        return Ok(());
    }
    let known_scope = username
        .id_scope
        .eq_ignore_ascii_case(&shared.settings.id_scope);
    let auth = if known_scope {
        match authenticate(
            shared,
            &username.id_scope,
            &reg,
            password(&connect),
            cert.as_ref(),
        ) {
            Some(a) => Some(a),
            None => {
                refuse(io, ConnectReturnCode::NotAuthorized).await;
                return Ok(());
            }
        }
    } else {
        tracing::info!(%peer, id_scope = %username.id_scope, "DPS connect for unknown ID scope");
        None
    };
    tracing::info!(%peer, registration_id = %reg, api_version = %username.api_version, "DPS client connected");
    io.write_packet(&Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        false,
    )))
    .await?;

    let mut conn = DpsConn {
        shared: shared.clone(),
        scope: username.id_scope.clone(),
        reg,
        auth,
        subscribed: false,
        assigned_hub: shared.settings.assigned_hub.clone(),
    };
    let timeout = keep_alive_timeout(connect.keep_alive);
    loop {
        let packet = match timeout {
            Some(t) => match tokio::time::timeout(t, io.read_packet()).await {
                Ok(p) => p?,
                Err(_) => return Err(ConnError::Protocol("keep-alive timeout".into())),
            },
            None => io.read_packet().await?,
        };
        match packet {
            Packet::Subscribe(sub) => {
                let codes = sub
                    .filters
                    .iter()
                    .map(|f| {
                        if f.path == RES_FILTER {
                            conn.subscribed = true;
                            SubscribeReasonCode::Success(min_qos1(f.qos))
                        } else {
                            SubscribeReasonCode::Failure
                        }
                    })
                    .collect();
                io.write_packet(&Packet::SubAck(SubAck::new(sub.pkid, codes)))
                    .await?;
            }
            Packet::Unsubscribe(u) => {
                if u.topics.iter().any(|t| t == RES_FILTER) {
                    conn.subscribed = false;
                }
                io.write_packet(&Packet::UnsubAck(UnsubAck::new(u.pkid)))
                    .await?;
            }
            Packet::PingReq => io.write_packet(&Packet::PingResp).await?,
            Packet::Disconnect => return Ok(()),
            Packet::PubAck(_) => {}
            Packet::Publish(p) => {
                if p.qos == QoS::ExactlyOnce {
                    return Err(ConnError::Protocol("QoS 2 publish".into()));
                }
                let response = conn.handle_publish(&p)?;
                if p.qos == QoS::AtLeastOnce {
                    io.write_packet(&Packet::PubAck(PubAck::new(p.pkid)))
                        .await?;
                }
                if let Some(r) = response {
                    if conn.subscribed {
                        io.write_packet(&Packet::Publish(r)).await?;
                    } else {
                        tracing::warn!(registration_id = %conn.reg, "DPS response dropped: client did not subscribe to {RES_FILTER}");
                    }
                }
            }
            other => return Err(ConnError::Protocol(format!("unexpected packet {other:?}"))),
        }
    }
}

/// Grants at most QoS 1.
pub(crate) fn min_qos1(q: QoS) -> QoS {
    match q {
        QoS::AtMostOnce => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// One device's DPS session, whatever the transport.
pub(crate) struct DpsConn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) scope: String,
    pub(crate) reg: String,
    /// `None` when the ID scope is unknown.
    pub(crate) auth: Option<DpsAuth>,
    pub(crate) subscribed: bool,
    /// `assignedHub` as announced on this transport (the hub's port for it).
    pub(crate) assigned_hub: String,
}

/// A DPS answer, whatever the transport: status, `retry-after` (seconds) and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DpsAnswer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Value,
}

fn answer(status: u16, retry_after: Option<u64>, body: Value) -> DpsAnswer {
    DpsAnswer {
        status,
        retry_after,
        body,
    }
}

fn response(status: u16, rid: &str, retry_after: Option<u64>, body: &Value) -> Publish {
    let mut topic = format!(
        "$dps/registrations/res/{status}/?$rid={}",
        wire::encode(rid)
    );
    if let Some(secs) = retry_after {
        topic.push_str(&format!("&retry-after={secs}"));
    }
    Publish::new(topic, QoS::AtMostOnce, body.to_string().into_bytes())
}

fn error_body(code: u32, message: &str) -> Value {
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

impl DpsConn {
    fn handle_publish(&mut self, p: &Publish) -> Result<Option<Publish>, ConnError> {
        let (path, query) = wire::split_topic_query(&p.topic);
        let query = wire::parse_query(query);
        let rid = wire::query_value(&query, "$rid").unwrap_or_default();
        tracing::debug!(registration_id = %self.reg, topic = path, "DPS publish");
        let is_register = path == REGISTER_TOPIC;
        if !is_register && path != POLL_TOPIC {
            return Err(ConnError::Protocol(format!("unknown DPS topic {path}")));
        }
        let op = wire::query_value(&query, "operationId").unwrap_or_default();
        let a = self.request(is_register, &op, &p.payload);
        Ok(Some(response(a.status, &rid, a.retry_after, &a.body)))
    }

    /// Answers a register request (`register`, with its JSON body) or an operation-status
    /// poll of `operation_id`.
    pub(crate) fn request(&mut self, register: bool, operation_id: &str, body: &[u8]) -> DpsAnswer {
        let throttled = self
            .shared
            .lock()
            .faults
            .throttled(std::time::Instant::now());
        if let Some((_, retry_after)) = throttled {
            tracing::info!(registration_id = %self.reg, "DPS request throttled (429)");
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            return answer(
                429,
                Some(secs),
                error_body(
                    429_001,
                    "Operations are being throttled for this tenant (fault injection).",
                ),
            );
        }
        let Some(auth) = self.auth.clone() else {
            let msg = format!("ID scope {} not found", self.scope);
            return answer(404, None, error_body(404_002, &msg));
        };
        if register {
            self.register(body, auth)
        } else {
            self.poll(operation_id)
        }
    }

    fn register(&mut self, body: &[u8], auth: DpsAuth) -> DpsAnswer {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let Some(Value::Object(obj)) = parsed else {
            return answer(
                400,
                None,
                error_body(400_004, "The request body is not a JSON object."),
            );
        };
        let body_reg = obj.get("registrationId").and_then(Value::as_str);
        if !body_reg.is_some_and(|r| r.eq_ignore_ascii_case(&self.reg)) {
            return answer(
                400,
                None,
                error_body(
                    400_004,
                    "registrationId in the body does not match the registration id of the connection.",
                ),
            );
        }
        let payload = obj.get("payload").filter(|p| !p.is_null()).cloned();
        let now = time::OffsetDateTime::now_utc();
        let settings = &self.shared.settings;
        let operation_id = format!("4.{}.{}", random_hex(8), random_uuid());
        let mut state = self.shared.lock();
        let previous = state.registrations.get(&self.reg);
        let reprovisioned = previous.is_some_and(|r| r.status == RegStatus::Assigned)
            || state.devices.contains_key(&self.reg);
        let created = previous.map(|r| r.created).unwrap_or(now);
        let registration = Registration {
            registration_id: self.reg.clone(),
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
        tracing::info!(registration_id = %self.reg, enrollment = %auth.enrollment, "DPS register request");
        state.registrations.insert(self.reg.clone(), registration);
        if settings.dps_polls_before_assign == 0 {
            let body = assign(
                &self.assigned_hub,
                &mut state,
                &self.reg,
                auth.group.as_deref(),
            );
            return answer(200, None, body);
        }
        answer(
            202,
            Some(settings.dps_retry_after_secs),
            json!({"operationId": operation_id, "status": "assigning"}),
        )
    }

    fn poll(&mut self, operation_id: &str) -> DpsAnswer {
        let group = self.auth.as_ref().and_then(|a| a.group.clone());
        let mut state = self.shared.lock();
        let Some(reg) = state.registrations.get_mut(&self.reg) else {
            return answer(404, None, error_body(404_002, "Operation not found."));
        };
        if operation_id.is_empty() || reg.operation_id != operation_id {
            return answer(404, None, error_body(404_002, "Operation not found."));
        }
        if reg.status == RegStatus::Assigning {
            reg.polls_left = reg.polls_left.saturating_sub(1);
            if reg.polls_left > 0 {
                let body = json!({
                    "operationId": reg.operation_id,
                    "status": "assigning",
                    "registrationState": {"registrationId": reg.registration_id, "status": "assigning"},
                });
                return answer(202, Some(self.shared.settings.dps_retry_after_secs), body);
            }
            let reg_id = self.reg.clone();
            let body = assign(&self.assigned_hub, &mut state, &reg_id, group.as_deref());
            return answer(200, None, body);
        }
        answer(200, None, assigned_body(&self.assigned_hub, reg))
    }
}

/// Completes an assignment: marks the registration assigned and creates or updates the device
/// in the hub registry. Returns the `200` body.
fn assign(hub: &str, state: &mut crate::state::State, reg_id: &str, group: Option<&str>) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let Some(reg) = state.registrations.get_mut(reg_id) else {
        return error_body(404_002, "Operation not found.");
    };
    reg.status = RegStatus::Assigned;
    reg.last_updated = now;
    reg.etag = base64_etag();
    let body = assigned_body(hub, reg);
    let model_id = payload_model_id(reg.payload.as_ref());
    let auth = reg.auth.clone();
    tracing::info!(registration_id = reg_id, assigned_hub = %hub, "device assigned");
    match state.devices.get_mut(reg_id) {
        Some(device) => {
            device.auth = auth;
            device.enrollment_group = group.map(str::to_owned);
            if model_id.is_some() {
                device.model_id = model_id;
            }
        }
        None => {
            state.devices.insert(
                reg_id.to_owned(),
                Device {
                    device_id: reg_id.to_owned(),
                    model_id,
                    device_client_type: None,
                    auth,
                    enrollment_group: group.map(str::to_owned),
                    generation_id: format!("63{}", random_hex(8)),
                    desired: serde_json::Map::new(),
                    desired_version: 1,
                    reported: serde_json::Map::new(),
                    reported_version: 1,
                    conn: None,
                    persistent_c2d: false,
                    c2d: Default::default(),
                    recent: Default::default(),
                    unmodeled: Default::default(),
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

/// The `200 assigned` body of protocol.md 2.4.
fn assigned_body(hub: &str, reg: &Registration) -> Value {
    let mut state = json!({
        "registrationId": reg.registration_id,
        "createdDateTimeUtc": service_time(reg.created),
        "assignedHub": hub,
        "deviceId": reg.registration_id,
        "status": "assigned",
        "substatus": if reg.reprovisioned { "reprovisionedToInitialAssignment" } else { "initialAssignment" },
        "lastUpdatedDateTimeUtc": service_time(reg.last_updated),
        "etag": reg.etag,
    });
    if let Value::Object(m) = &mut state {
        match &reg.auth {
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
    fn response_topics() {
        let p = response(202, "a b", Some(3), &json!({}));
        assert_eq!(
            p.topic,
            "$dps/registrations/res/202/?$rid=a%20b&retry-after=3"
        );
        assert_eq!(p.qos, QoS::AtMostOnce);
    }
}
