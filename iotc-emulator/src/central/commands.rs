//! Commands (run, history; per component and module). A command runs as a direct method
//! (`{component}*{name}` for a component's); the device must be online within
//! `connectionTimeout` seconds and answer within `responseTimeout` (both 0 to 30, default 0
//! and 30). A "Queue if offline" command (`"durable": true` in the template) to an offline
//! device is sent as a cloud-to-device message with the `method-name` property and answered
//! `responseCode` 202.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::app::{json_body, Central};
use super::error::{ApiError, ApiResult};
use super::properties::Target;
use crate::{C2dMessage, ServiceError};

/// IoT Central's largest `connectionTimeout` / `responseTimeout` (seconds).
const MAX_TIMEOUT: u64 = 30;

pub(crate) fn routes() -> Router<Central> {
    let ops = || get(history).post(run);
    Router::new()
        .route("/devices/{device}/commands/{command}", ops())
        .route(
            "/devices/{device}/components/{component}/commands/{command}",
            ops(),
        )
        .route(
            "/devices/{device}/modules/{module}/commands/{command}",
            ops(),
        )
        .route(
            "/devices/{device}/modules/{module}/components/{component}/commands/{command}",
            ops(),
        )
}

#[derive(Debug, serde::Deserialize)]
struct Request {
    device: String,
    module: Option<String>,
    component: Option<String>,
    command: String,
}

impl Request {
    fn split(self) -> (Target, String) {
        (
            Target {
                device: self.device,
                module: self.module,
                component: self.component,
            },
            self.command,
        )
    }
}

fn history_key(t: &Target, command: &str) -> String {
    format!(
        "{}|{}|{command}",
        t.key(),
        t.component.as_deref().unwrap_or("")
    )
}

/// The command's definition in the device's template: `Ok(None)` when the device has no
/// template (anything may be sent), a 404 when the template lacks it.
fn definition(c: &Central, t: &Target, command: &str) -> Result<Option<Value>, ApiError> {
    if t.module.is_some() {
        return Ok(None);
    }
    let Some(root) = c.model_of(&t.device) else {
        return Ok(None);
    };
    let interface = match &t.component {
        None => root,
        Some(comp) => {
            let schema = root
                .get("contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|x| {
                    crate::templates::is_type(x, "Component")
                        && x.get("name").and_then(Value::as_str) == Some(comp.as_str())
                })
                .and_then(|x| x.get("schema"))
                .ok_or_else(|| {
                    ApiError::not_found(format!("The device template has no component {comp:?}"))
                })?;
            match schema {
                Value::String(id) => c
                    .emulator
                    .template_interface(id)
                    .ok_or_else(|| ApiError::not_found(format!("Interface {id:?} is not known")))?,
                inline => inline.clone(),
            }
        }
    };
    interface
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|x| {
            crate::templates::is_type(x, "Command")
                && x.get("name").and_then(Value::as_str) == Some(command)
        })
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            ApiError::not_found(format!("The device template has no command {command:?}"))
        })
}

fn timeout_field(body: &Value, name: &str, default: u64) -> Result<u64, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().filter(|s| *s <= MAX_TIMEOUT).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be 0 to {MAX_TIMEOUT} seconds"))
        }),
    }
}

/// The body of a "Queue if offline" cloud-to-device message: the raw request value (`@`
/// when there is none; a string unquoted).
fn offline_body(request: &Value) -> Vec<u8> {
    match request {
        Value::Null => b"@".to_vec(),
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

async fn run(State(c): State<Central>, Path(r): Path<Request>, body: Bytes) -> ApiResult {
    let (t, command) = r.split();
    t.check(&c)?;
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the command body must be a JSON object",
        ));
    }
    let def = definition(&c, &t, &command)?;
    let connection_timeout = timeout_field(&body, "connectionTimeout", 0)?;
    let response_timeout = timeout_field(&body, "responseTimeout", MAX_TIMEOUT)?;
    let request = body.get("request").cloned().unwrap_or(Value::Null);
    let method = match &t.component {
        Some(comp) => format!("{comp}*{command}"),
        None => command.clone(),
    };
    let mut record = json!({
        "id": crate::ids::random_uuid(),
        "connectionTimeout": connection_timeout,
        "responseTimeout": response_timeout,
    });
    if !request.is_null() {
        record["request"] = request.clone();
    }
    let durable = def
        .as_ref()
        .and_then(|d| d.get("durable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let online = c.emulator.device(&t.key()).is_some_and(|d| d.connected);
    if durable && !online {
        let mut message = C2dMessage::new(offline_body(&request));
        message.properties.insert("method-name".into(), method);
        message
            .properties
            .insert("iothub-ack".into(), "none".into());
        c.emulator.send_c2d(&t.key(), message).await?;
        record["responseCode"] = json!(202);
    } else {
        let deadline = Instant::now() + Duration::from_secs(connection_timeout);
        let answer = loop {
            let r = c
                .emulator
                .invoke_command(
                    &t.key(),
                    &method,
                    request.clone(),
                    Duration::from_secs(response_timeout.max(1)),
                )
                .await;
            match r {
                Err(ServiceError::DeviceNotOnline(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => break other,
            }
        };
        match answer {
            Ok(a) => {
                record["responseCode"] = json!(a.status);
                if !a.payload.is_null() {
                    record["response"] = a.payload;
                }
            }
            Err(ServiceError::Timeout) => record["responseCode"] = json!(504),
            Err(ServiceError::DeviceNotOnline(_)) => record["responseCode"] = json!(404),
            Err(e) => return Err(e.into()),
        }
    }
    c.store()
        .record_command(history_key(&t, &command), record.clone());
    c.changed();
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn history(State(c): State<Central>, Path(r): Path<Request>) -> ApiResult {
    let (t, command) = r.split();
    t.check(&c)?;
    definition(&c, &t, &command)?;
    let mut value = c
        .store()
        .commands
        .get(&history_key(&t, &command))
        .cloned()
        .unwrap_or_default();
    value.reverse();
    Ok(Json(json!({ "value": value })).into_response())
}
