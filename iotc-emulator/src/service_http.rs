//! REST service API (plain HTTP, meant for loopback) over an [`Emulator`].
//!
//! Routes (bodies are JSON unless noted; errors are `{"errorCode": <hub code>, "message": …}`
//! with the matching HTTP status):
//!
//! | Method | Path | Does |
//! | --- | --- | --- |
//! | `GET` | `/` | emulator info: DPS endpoint, ID scope, hub host, assigned hub |
//! | `GET` | `/devices` | the device registry ([`DeviceInfo`](crate::DeviceInfo) list) |
//! | `GET` | `/devices/{id}` | one device |
//! | `GET` | `/registrations` | DPS registrations |
//! | `GET` | `/devices/{id}/downstream` | a gateway's downstream devices ([`DeviceInfo`](crate::DeviceInfo) list) |
//! | `GET` | `/devices/{id}/telemetry` | last 100 messages, body as JSON when possible |
//! | `POST` | `/devices/{id}/messages/devicebound` | send C2D: raw body; headers `iothub-messageid`, `iothub-correlationid`, `content-type`, `content-encoding`, `iothub-app-{name}` |
//! | `GET` | `/twins/{id}` | twin in the IoT hub service shape |
//! | `PATCH` | `/twins/{id}` | `{"properties":{"desired":{…}}}` merge patch; answers the twin |
//! | `POST` | `/twins/{id}/methods` | `{"methodName","payload","responseTimeoutInSeconds"}` → `{"status","payload"}` |
//! | `GET` | `/files` | blobs stored through file upload: `[{"blobName","containerName","deviceId","size","uploadedAt"}]` |
//! | `GET` | `/files/{blobName}` | one blob's content (`application/octet-stream`) |
//! | `GET` | `/hubs` | the IoT hubs ([`HubInfo`](crate::HubInfo) list: `index`, `hostname`, `assignedHub`, `assignedHubAmqp`, `assignedHubHttps`, listen addresses) |
//! | `POST` | `/devices/{id}/failover` | [`manual_failover`](Emulator::manual_failover) → `{"deviceId","hub","assignedHub"}` (`400` with one hub, `404` unknown device) |
//! | `POST` | `/devices/{id}/failback` | [`manual_failback`](Emulator::manual_failback) → `{"deviceId","hub","assignedHub"}` |
//! | `GET` | `/files-notifications` | file-upload notifications: `[{"deviceId","correlationId","blobName","isSuccess","statusCode","statusDescription"}]` |
//!
//! Fault injection (the [`Emulator`] methods of the same names; durations in milliseconds;
//! `204` on success, `400` + `400004` for a bad body):
//!
//! | Method | Path | Does |
//! | --- | --- | --- |
//! | `POST` | `/faults/devices/{id}/disconnect` | [`disconnect_device`](Emulator::disconnect_device) → `{"disconnected": bool}` |
//! | `POST` | `/faults/refuse-connections` | `{"deviceId"?: "…", "code": 3 \| 5 \| "serverUnavailable" \| "notAuthorized", "durationMs"}`: [`refuse_connections`](Emulator::refuse_connections) (no `deviceId`: every device) |
//! | `POST` | `/faults/throttle` | `{"durationMs", "retryAfterMs"}`: [`throttle`](Emulator::throttle) |
//! | `POST` | `/faults/expire-tokens` | `{"deviceId"?: "…", "maxAgeMs"}`: [`expire_tokens_after`](Emulator::expire_tokens_after) |
//! | `POST` | `/faults/devices/{id}/delay-acks` | `{"delayMs"}`: [`delay_acks`](Emulator::delay_acks) (0 removes) |
//! | `POST` | `/faults/devices/{id}/drop-acks` | `{"count"}`: [`drop_acks`](Emulator::drop_acks) |
//! | `GET` | `/faults/devices/{id}/connection-attempts` | `{"deviceId","attempts"}`: [`connection_attempts`](Emulator::connection_attempts) |
//! | `GET` | `/faults/registrations/{id}/dps-attempts` | `{"registrationId","attempts","registrations"}`: [`dps_attempts`](Emulator::dps_attempts), [`dps_registrations`](Emulator::dps_registrations) |
//! | `DELETE` | `/faults` | [`clear_faults`](Emulator::clear_faults) |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::{
    C2dMessage, Central, Emulator, EmulatorError, RefuseCode, ServiceError, TelemetryMessage, Twin,
};

/// A running REST server; dropping it stops the server.
#[derive(Debug)]
pub struct ServiceServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
    central: Central,
}

impl ServiceServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token IoT Central's API under `/api` wants in `Authorization`.
    pub fn api_token(&self) -> &str {
        self.central.api_token()
    }

    /// The IoT Central side this server answers for.
    pub fn central(&self) -> &Central {
        &self.central
    }
}

impl Drop for ServiceServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves the REST API for `emulator` (which it keeps alive) until the
/// returned [`ServiceServer`] is dropped, with IoT Central's API under `/api` (a generated
/// API token, [`ServiceServer::api_token`]). The IoT hub-shaped routes have no
/// authentication: bind to loopback.
///
/// # Errors
///
/// [`EmulatorError::Io`] if the address cannot be bound.
pub async fn serve(emulator: Emulator, addr: SocketAddr) -> Result<ServiceServer, EmulatorError> {
    serve_central(Central::new(emulator, None), addr).await
}

/// As [`serve`], for a [`Central`] made beforehand (its API token, templates and records).
///
/// # Errors
///
/// [`EmulatorError::Io`] if the address cannot be bound.
pub async fn serve_central(
    central: Central,
    addr: SocketAddr,
) -> Result<ServiceServer, EmulatorError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "service API has no authentication and listens beyond loopback");
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(central.emulator().clone()).merge(crate::central::router(central.clone()));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "service API stopped");
        }
    });
    tracing::info!(%addr, "service API listening");
    Ok(ServiceServer {
        addr,
        task,
        central,
    })
}

fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/devices", get(devices))
        .route("/devices/{id}", get(device))
        .route("/devices/{id}/downstream", get(downstream))
        .route("/devices/{id}/telemetry", get(telemetry))
        .route("/devices/{id}/unmodeled", get(unmodeled))
        .route("/devices/{id}/messages/devicebound", post(send_c2d))
        .route("/registrations", get(registrations))
        .route("/hubs", get(hubs))
        .route("/devices/{id}/failover", post(failover))
        .route("/devices/{id}/failback", post(failback))
        .route("/files", get(files))
        .route("/files/{*name}", get(file))
        .route("/files-notifications", get(file_notifications))
        .route("/twins/{id}", get(get_twin).patch(patch_twin))
        .route("/twins/{id}/methods", post(invoke))
        .route("/faults", delete(clear_faults))
        .route("/faults/devices/{id}/disconnect", post(fault_disconnect))
        .route("/faults/refuse-connections", post(fault_refuse))
        .route("/faults/throttle", post(fault_throttle))
        .route("/faults/expire-tokens", post(fault_expire_tokens))
        .route("/faults/devices/{id}/delay-acks", post(fault_delay_acks))
        .route("/faults/devices/{id}/drop-acks", post(fault_drop_acks))
        .route(
            "/faults/devices/{id}/connection-attempts",
            get(fault_connection_attempts),
        )
        .route(
            "/faults/registrations/{id}/dps-attempts",
            get(fault_dps_attempts),
        )
        .with_state(emulator)
}

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"errorCode": code, "message": message.into()})),
    )
        .into_response()
}

fn service_error(e: &ServiceError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, e.error_code(), e.to_string())
}

fn not_found(id: &str) -> Response {
    service_error(&ServiceError::DeviceNotFound(id.to_owned()))
}

async fn info(State(em): State<Emulator>) -> Response {
    Json(json!({
        "dpsEndpoint": em.dps_endpoint(),
        "idScope": em.id_scope(),
        "hubHostName": em.hub_hostname(),
        "assignedHub": em.assigned_hub(),
        "dpsAddress": em.dps_addr().to_string(),
        "hubAddress": em.hub_addr().to_string(),
        "httpsEndpoint": em.dps_https_endpoint(),
        "httpsAssignedHub": em.https_assigned_hub(),
        "amqpPort": em.amqp_port(),
        "openAmqpConnections": em.open_amqp_connections(),
    }))
    .into_response()
}

async fn devices(State(em): State<Emulator>) -> Response {
    Json(em.devices()).into_response()
}

async fn device(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    match em.device(&id) {
        Some(d) => Json(d).into_response(),
        None => not_found(&id),
    }
}

async fn downstream(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    Json(em.downstream_devices(&id)).into_response()
}

async fn files(State(em): State<Emulator>) -> Response {
    Json(em.uploaded_files()).into_response()
}

async fn file(State(em): State<Emulator>, Path(name): Path<String>) -> Response {
    match em.uploaded_file(&name) {
        Some(blob) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            blob.content,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "no such blob"})),
        )
            .into_response(),
    }
}

async fn file_notifications(State(em): State<Emulator>) -> Response {
    Json(em.file_upload_notifications()).into_response()
}

async fn registrations(State(em): State<Emulator>) -> Response {
    Json(em.registrations()).into_response()
}

/// The JSON form of a telemetry message in `GET /devices/{id}/telemetry`.
fn telemetry_json(m: &TelemetryMessage) -> Value {
    let body = m
        .body_json()
        .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&m.body).into_owned()));
    json!({
        "deviceId": m.device_id,
        "component": m.component,
        "enqueuedTime": crate::ids::service_time(m.enqueued_time),
        "systemProperties": m.system_properties,
        "applicationProperties": m.application_properties,
        "body": body,
    })
}

async fn telemetry(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    if em.twin(&id).is_none() {
        return not_found(&id);
    }
    let list: Vec<Value> = em
        .recent_telemetry(&id)
        .iter()
        .map(telemetry_json)
        .collect();
    Json(list).into_response()
}

async fn unmodeled(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    if em.twin(&id).is_none() {
        return not_found(&id);
    }
    Json(em.unmodeled(&id)).into_response()
}

async fn send_c2d(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut properties = BTreeMap::new();
    for (name, value) in &headers {
        if let Some(prop) = name.as_str().strip_prefix("iothub-app-") {
            if let Ok(v) = value.to_str() {
                properties.insert(prop.to_owned(), v.to_owned());
            }
        }
    }
    let msg = C2dMessage {
        body: body.to_vec(),
        message_id: header("iothub-messageid"),
        correlation_id: header("iothub-correlationid"),
        content_type: header("content-type"),
        content_encoding: header("content-encoding"),
        properties,
    };
    match em.send_c2d(&id, msg).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => service_error(&e),
    }
}

/// The IoT hub service twin shape.
fn twin_json(t: &Twin) -> Value {
    let dv = t
        .desired
        .get("$version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let rv = t
        .reported
        .get("$version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "deviceId": t.device_id,
        "modelId": t.model_id.clone().unwrap_or_default(),
        "version": dv + rv,
        "status": "enabled",
        "properties": {"desired": t.desired, "reported": t.reported},
    })
}

async fn get_twin(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    match em.twin(&id) {
        Some(t) => Json(twin_json(&t)).into_response(),
        None => not_found(&id),
    }
}

async fn patch_twin(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, 400_004, "body is not JSON");
    };
    let Some(desired) = value.get("properties").and_then(|p| p.get("desired")) else {
        return error(
            StatusCode::BAD_REQUEST,
            400_004,
            "expected {\"properties\":{\"desired\":{…}}}",
        );
    };
    match em.update_desired(&id, desired.clone()).await {
        Ok(_) => match em.twin(&id) {
            Some(t) => Json(twin_json(&t)).into_response(),
            None => not_found(&id),
        },
        Err(e) => service_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodRequest {
    method_name: String,
    #[serde(default)]
    payload: Value,
    response_timeout_in_seconds: Option<u64>,
}

async fn invoke(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> Response {
    let req: MethodRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                400_004,
                format!("bad request: {e}"),
            )
        }
    };
    let secs = req.response_timeout_in_seconds.unwrap_or(30);
    if !(5..=300).contains(&secs) {
        return error(
            StatusCode::BAD_REQUEST,
            400_004,
            "responseTimeoutInSeconds must be between 5 and 300",
        );
    }
    match em
        .invoke_command(
            &id,
            &req.method_name,
            req.payload,
            Duration::from_secs(secs),
        )
        .await
    {
        Ok(r) => Json(json!({"status": r.status, "payload": r.payload})).into_response(),
        Err(e) => service_error(&e),
    }
}

/// Parses a JSON request body.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The `400` answer to a body that does not parse.
fn bad_body(e: &serde_json::Error) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        400_004,
        format!("bad request: {e}"),
    )
}

async fn clear_faults(State(em): State<Emulator>) -> Response {
    em.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn fault_disconnect(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    Json(json!({"disconnected": em.disconnect_device(&id)})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefuseRequest {
    device_id: Option<String>,
    code: Value,
    duration_ms: u64,
}

/// `3`, `5`, `"serverUnavailable"` or `"notAuthorized"` (any case).
fn refuse_code(v: &Value) -> Option<RefuseCode> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|c| u8::try_from(c).ok())
            .and_then(RefuseCode::from_connack_code),
        Value::String(s) if s.eq_ignore_ascii_case("serverUnavailable") => {
            Some(RefuseCode::ServerUnavailable)
        }
        Value::String(s) if s.eq_ignore_ascii_case("notAuthorized") => {
            Some(RefuseCode::NotAuthorized)
        }
        _ => None,
    }
}

async fn fault_refuse(State(em): State<Emulator>, body: Bytes) -> Response {
    let req: RefuseRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return bad_body(&e),
    };
    let Some(code) = refuse_code(&req.code) else {
        return error(
            StatusCode::BAD_REQUEST,
            400_004,
            "code must be 3, 5, \"serverUnavailable\" or \"notAuthorized\"",
        );
    };
    em.refuse_connections(
        req.device_id.as_deref(),
        code,
        Duration::from_millis(req.duration_ms),
    );
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ThrottleRequest {
    duration_ms: u64,
    #[serde(default)]
    retry_after_ms: u64,
}

async fn fault_throttle(State(em): State<Emulator>, body: Bytes) -> Response {
    match parse_body::<ThrottleRequest>(&body) {
        Ok(req) => {
            em.throttle(
                Duration::from_millis(req.duration_ms),
                Duration::from_millis(req.retry_after_ms),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_body(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExpireTokensRequest {
    device_id: Option<String>,
    max_age_ms: u64,
}

async fn fault_expire_tokens(State(em): State<Emulator>, body: Bytes) -> Response {
    match parse_body::<ExpireTokensRequest>(&body) {
        Ok(req) => {
            em.expire_tokens_after(
                req.device_id.as_deref(),
                Duration::from_millis(req.max_age_ms),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_body(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DelayAcksRequest {
    delay_ms: u64,
}

async fn fault_delay_acks(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match parse_body::<DelayAcksRequest>(&body) {
        Ok(req) => {
            em.delay_acks(&id, Duration::from_millis(req.delay_ms));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_body(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DropAcksRequest {
    count: u64,
}

async fn fault_drop_acks(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match parse_body::<DropAcksRequest>(&body) {
        Ok(req) => {
            em.drop_acks(&id, req.count);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_body(&e),
    }
}

async fn fault_connection_attempts(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    let attempts = em.connection_attempts(&id);
    Json(json!({"deviceId": id, "attempts": attempts})).into_response()
}

async fn fault_dps_attempts(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    let attempts = em.dps_attempts(&id);
    let registrations = em.dps_registrations(&id);
    Json(json!({"registrationId": id, "attempts": attempts, "registrations": registrations}))
        .into_response()
}

async fn hubs(State(em): State<Emulator>) -> Response {
    Json(em.hubs()).into_response()
}

/// The answer to a failover or failback: the device's hub now.
fn moved(em: &Emulator, id: &str, result: Result<usize, ServiceError>) -> Response {
    match result {
        Ok(hub) => {
            let assigned_hub = em.hubs().get(hub).map(|h| h.assigned_hub.clone());
            Json(json!({"deviceId": id, "hub": hub, "assignedHub": assigned_hub})).into_response()
        }
        Err(e) => service_error(&e),
    }
}

async fn failover(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    let result = em.manual_failover(&id);
    moved(&em, &id, result)
}

async fn failback(State(em): State<Emulator>, Path(id): Path<String>) -> Response {
    let result = em.manual_failback(&id);
    moved(&em, &id, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_codes_from_json() {
        assert_eq!(refuse_code(&json!(3)), Some(RefuseCode::ServerUnavailable));
        assert_eq!(refuse_code(&json!(5)), Some(RefuseCode::NotAuthorized));
        assert_eq!(
            refuse_code(&json!("NotAuthorized")),
            Some(RefuseCode::NotAuthorized)
        );
        assert_eq!(
            refuse_code(&json!("serverunavailable")),
            Some(RefuseCode::ServerUnavailable)
        );
        assert_eq!(refuse_code(&json!(4)), None);
        assert_eq!(refuse_code(&json!(261)), None);
        assert_eq!(refuse_code(&json!("busy")), None);
        assert_eq!(refuse_code(&Value::Null), None);
    }
}
