//! The IoT hub device REST API (protocol.md 6): telemetry (6.1), batches (6.2), polled
//! cloud-to-device messages with lock tokens (6.3), file upload and the blob store (6.4).
//! Authentication is a SAS token in `Authorization` or the TLS client certificate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{empty, hub_error, json, plain, set, Call, Reply};
use crate::device::faults::{self, Operation};
use crate::device::hub::{self as device_hub, AuthType};
use crate::error::HubError;
use crate::fault::{ConnectFault, OpFault, RefuseCode, Transport};

/// How long a message handed out over HTTPS stays locked (IoT hub's default lock timeout).
const LOCK: Duration = Duration::from_secs(60);

/// Prefix of application properties in headers and batch property maps.
const APP_PREFIX: &str = "iothub-app-";

/// Serves `/devices/{device_id}/{rest…}`.
pub(super) fn handle(call: Call<'_>, device_id: &str, rest: &[&str]) -> Reply {
    if !call.has_api_version() {
        return hub_error(&HubError::new(400, 400_001, "api-version is required"));
    }
    let auth = match authenticate(&call, device_id) {
        Ok(auth) => auth,
        Err(e) => return hub_error(&e),
    };
    device_hub::note_https(&call.ctx.shared, device_id);
    if let Some(reply) = fault_reply(&call, device_id) {
        return reply;
    }
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let result = match (call.method, lower.as_slice()) {
        (&Method::POST, ["messages", "events"]) => telemetry(&call, device_id, auth),
        (&Method::GET, ["messages", "devicebound"]) => return receive(device_id, &call),
        (&Method::DELETE, ["messages", "devicebound", _]) => {
            let reject = call.query_param("reject").is_some();
            settle(
                &call,
                device_id,
                rest[2],
                if reject {
                    Settle::Reject
                } else {
                    Settle::Complete
                },
            )
        }
        (&Method::POST, ["messages", "devicebound", _, "abandon"]) => {
            settle(&call, device_id, rest[2], Settle::Abandon)
        }
        (&Method::POST, ["files"] | ["files", ""]) => return start_upload(&call, device_id),
        (&Method::POST, ["files", "notifications"] | ["files", "notifications", _]) => {
            notify_upload(&call, device_id, rest.get(2).copied())
        }
        _ => return plain(StatusCode::NOT_FOUND, "no such resource"),
    };
    match result {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(e) => hub_error(&e),
    }
}

/// The answer of a request that meets a fault (the device core decides): a refusal
/// (`refuse_connections`: 401 or 503), the service throttle (429 with `Retry-After`), or a
/// fault the device asked for (429 throttling, 403 quota, 401 auth). `None`: proceed.
fn fault_reply(call: &Call<'_>, device_id: &str) -> Option<Reply> {
    let shared = &call.ctx.shared;
    if let Some(fault) = faults::admit(shared, device_id, Transport::Https) {
        let error = match fault {
            ConnectFault::Refuse(RefuseCode::NotAuthorized, reason) => {
                HubError::new(401, 401_002, format!("IotHubUnauthorizedAccess: {reason}"))
            }
            ConnectFault::Refuse(RefuseCode::ServerUnavailable, reason)
            | ConnectFault::Close(reason) => {
                HubError::new(503, 503_001, format!("ServiceUnavailable: {reason}"))
            }
            ConnectFault::Cut => HubError::new(503, 503_001, "ServiceUnavailable: connection cut"),
        };
        tracing::info!(peer = %call.ctx.peer, device_id, status = error.status, "HTTPS request refused (fault injection)");
        return Some(hub_error(&error));
    }
    let fault = faults::operation(shared, device_id, Operation::Https).err()?;
    let (status, code, message) = fault.twin_error();
    tracing::info!(peer = %call.ctx.peer, device_id, status, "HTTPS request failed (fault injection)");
    let mut reply = hub_error(&HubError::new(status, code, message));
    if fault == OpFault::Throttled {
        let secs = faults::throttle_retry_after(shared)
            .map_or(1, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        set(&mut reply, "retry-after", &secs.max(1).to_string());
    }
    Some(reply)
}

/// Checks the SAS token or the client certificate; 401 (IotHubUnauthorizedAccess) otherwise.
fn authenticate(call: &Call<'_>, device_id: &str) -> Result<AuthType, HubError> {
    let shared = &call.ctx.shared;
    let host = call.header("host").unwrap_or(&shared.settings.hub_hostname);
    let password = call.header("authorization").unwrap_or("");
    match device_hub::authenticate(shared, device_id, host, password, call.ctx.cert.as_ref()) {
        Ok(a) => Ok(a.auth_type),
        Err(reason) => {
            tracing::info!(peer = %call.ctx.peer, device_id, reason, "HTTPS request refused");
            Err(HubError::new(
                401,
                401_002,
                format!("IotHubUnauthorizedAccess: {reason}"),
            ))
        }
    }
}

/// Sorts message properties (header names or batch property keys) into the hub's system and
/// application properties.
fn sort_properties<'a>(
    pairs: impl Iterator<Item = (&'a str, String)>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut system = BTreeMap::new();
    let mut application = BTreeMap::new();
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        let key = match lower.as_str() {
            "iothub-messageid" => "mid",
            "iothub-correlationid" => "cid",
            "iothub-userid" => "uid",
            "iothub-contenttype" => "ct",
            "iothub-contentencoding" => "ce",
            "iothub-expiry" => "exp",
            "iothub-ack" => "ack",
            "dt-subject" => "sub",
            "iothub-interface-id" => "ifid",
            _ => {
                if let Some(app) = name
                    .get(APP_PREFIX.len()..)
                    .filter(|_| lower.starts_with(APP_PREFIX))
                {
                    application.insert(app.to_owned(), value);
                }
                continue;
            }
        };
        system.insert(key.to_owned(), value);
    }
    (system, application)
}

/// `POST /devices/{id}/messages/events`: one message, or a batch
/// (`application/vnd.microsoft.iothub.json`).
fn telemetry(call: &Call<'_>, device_id: &str, auth: AuthType) -> Result<(), HubError> {
    let shared = &call.ctx.shared;
    let is_batch = call.header("content-type").is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/vnd.microsoft.iothub.json")
    });
    let messages = if is_batch {
        batch(&call.body)?
    } else {
        let pairs = call.headers.iter().map(|(k, v)| {
            (
                k.as_str(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        });
        let (system, application) = sort_properties(pairs);
        vec![(system, application, call.body.clone())]
    };
    let total: usize = messages.iter().map(|(_, _, b)| b.len()).sum();
    if total > device_hub::MAX_TELEMETRY {
        return Err(HubError::new(
            413,
            413_001,
            format!("batch of {total} bytes exceeds 256 KB"),
        ));
    }
    let mut built = Vec::with_capacity(messages.len());
    for (system, application, body) in messages {
        built.push(device_hub::telemetry(
            shared,
            device_id,
            auth,
            system,
            application,
            body,
        )?);
    }
    for message in built {
        faults::request(
            shared,
            device_id,
            &message.application_properties,
            Transport::Https,
        );
        device_hub::publish_telemetry(shared, message);
    }
    Ok(())
}

type Parsed = (BTreeMap<String, String>, BTreeMap<String, String>, Bytes);

/// One message of a batch (protocol.md 6.2).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchItem {
    body: String,
    #[serde(default)]
    base64_encoded: Option<bool>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

fn batch(body: &[u8]) -> Result<Vec<Parsed>, HubError> {
    let bad = |m: &str| HubError::new(400, 400_006, format!("IotHubFormatError: {m}"));
    let items: Vec<BatchItem> = serde_json::from_slice(body)
        .map_err(|e| bad(&format!("batch is not a JSON array of messages: {e}")))?;
    if items.is_empty() {
        return Err(bad("empty batch"));
    }
    items
        .into_iter()
        .map(|item| {
            let body = if item.base64_encoded == Some(false) {
                item.body.into_bytes()
            } else {
                B64.decode(item.body.as_bytes())
                    .map_err(|_| bad("body is not base64"))?
            };
            let pairs = item.properties.iter().map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.as_str(), text)
            });
            let (system, application) = sort_properties(pairs);
            Ok((system, application, Bytes::from(body)))
        })
        .collect()
}

/// `GET /devices/{id}/messages/deviceBound`: the next message, locked (204 when none).
fn receive(device_id: &str, call: &Call<'_>) -> Reply {
    let Some(locked) = device_hub::lock_next_c2d(&call.ctx.shared, device_id, LOCK) else {
        return empty(StatusCode::NO_CONTENT);
    };
    let message = &locked.message;
    let mut reply = Reply::new(http_body_util::Full::new(Bytes::from(message.body.clone())));
    set(&mut reply, "etag", &format!("\"{}\"", locked.lock_token));
    set(
        &mut reply,
        "iothub-to",
        &format!("/devices/{device_id}/messages/deviceBound"),
    );
    set(&mut reply, "iothub-sequencenumber", &locked.id.to_string());
    set(
        &mut reply,
        "iothub-deliverycount",
        &locked.delivery_count.to_string(),
    );
    let ttl = locked.expires.saturating_duration_since(Instant::now());
    let expiry = time::OffsetDateTime::now_utc() + ttl;
    set(
        &mut reply,
        "iothub-expiry",
        &crate::ids::service_time(expiry),
    );
    if let Some(id) = &message.message_id {
        set(&mut reply, "iothub-messageid", id);
    }
    if let Some(id) = &message.correlation_id {
        set(&mut reply, "iothub-correlationid", id);
    }
    if let Some(ct) = &message.content_type {
        set(&mut reply, "iothub-contenttype", ct);
        set(&mut reply, "contenttype", ct);
    }
    if let Some(ce) = &message.content_encoding {
        set(&mut reply, "iothub-contentencoding", ce);
        set(&mut reply, "contentencoding", ce);
    }
    for (name, value) in &message.properties {
        set(&mut reply, &format!("{APP_PREFIX}{name}"), value);
    }
    reply
}

/// How a message is settled.
#[derive(Clone, Copy)]
enum Settle {
    Complete,
    Abandon,
    Reject,
}

/// Settles the message locked with `lock_token` (412 `DeviceMessageLockLost` when the lock
/// is unknown or has ended).
fn settle(call: &Call<'_>, device_id: &str, lock_token: &str, how: Settle) -> Result<(), HubError> {
    let shared = &call.ctx.shared;
    let token = lock_token.trim().trim_matches('"');
    let lost = || {
        HubError::new(
            412,
            412_002,
            "DeviceMessageLockLost: the lock token is not valid",
        )
    };
    let id = device_hub::c2d_by_lock(shared, device_id, token).ok_or_else(lost)?;
    let done = match how {
        Settle::Complete => device_hub::complete_c2d(shared, device_id, id),
        Settle::Abandon => device_hub::abandon_c2d(shared, device_id, id),
        Settle::Reject => device_hub::reject_c2d(shared, device_id, id),
    };
    if done {
        Ok(())
    } else {
        Err(lost())
    }
}

/// `POST /devices/{id}/files`: a SAS URI for a blob in the emulator's store.
fn start_upload(call: &Call<'_>, device_id: &str) -> Reply {
    let shared = &call.ctx.shared;
    let name = serde_json::from_slice::<Value>(&call.body)
        .ok()
        .and_then(|v| v.get("blobName").and_then(Value::as_str).map(str::to_owned));
    let Some(name) = name else {
        return hub_error(&HubError::new(400, 400_004, "blobName is required"));
    };
    let started = shared.lock().files.start(device_id, &name);
    match started {
        Ok(sas) => json(
            200,
            &json!({
                "correlationId": sas.correlation_id,
                "hostName": shared.settings.https_assigned_hub,
                "containerName": crate::files::CONTAINER,
                "blobName": sas.blob_name,
                "sasToken": sas.sas_token,
            }),
        ),
        Err(e) => hub_error(&e),
    }
}

/// `POST /devices/{id}/files/notifications[/{correlationId}]`.
fn notify_upload(call: &Call<'_>, device_id: &str, path_id: Option<&str>) -> Result<(), HubError> {
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|_| HubError::new(400, 400_004, "notification is not JSON"))?;
    let correlation_id = body
        .get("correlationId")
        .and_then(Value::as_str)
        .or(path_id.filter(|s| !s.is_empty()))
        .ok_or_else(|| HubError::new(400, 400_004, "correlationId is required"))?
        .to_owned();
    let is_success = body
        .get("isSuccess")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = body.get("statusCode").and_then(Value::as_i64).unwrap_or(0);
    let description = body
        .get("statusDescription")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    call.ctx
        .shared
        .lock()
        .files
        .notify(device_id, &correlation_id, is_success, status, description)
}

/// `PUT /{container}/{blob}?{sas}` (Azure Storage Put Blob): stores the body.
pub(super) fn put_blob(call: Call<'_>, blob_name: &str) -> Reply {
    if call.method != Method::PUT {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only Put Blob is emulated");
    }
    let signature = call.query_param("sig").unwrap_or_default();
    let stored = call.ctx.shared.lock().files.put(
        crate::files::CONTAINER,
        blob_name,
        &signature,
        call.body.to_vec(),
    );
    match stored {
        Ok(()) => {
            let mut reply = empty(StatusCode::CREATED);
            set(
                &mut reply,
                "etag",
                &format!("\"0x{}\"", crate::ids::random_hex(8).to_ascii_uppercase()),
            );
            set(&mut reply, "x-ms-request-server-encrypted", "true");
            reply
        }
        Err((status, code)) => {
            let mut reply = plain(
                StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                code,
            );
            set(&mut reply, "x-ms-error-code", code);
            reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_sorted_into_system_and_application() {
        let (system, application) = sort_properties(
            [
                ("iothub-messageid", "m".to_owned()),
                ("IoTHub-CorrelationId", "c".to_owned()),
                ("dt-subject", "thermostat1".to_owned()),
                ("iothub-app-alert", "yes".to_owned()),
                ("authorization", "secret".to_owned()),
            ]
            .into_iter(),
        );
        assert_eq!(system.get("mid").map(String::as_str), Some("m"));
        assert_eq!(system.get("cid").map(String::as_str), Some("c"));
        assert_eq!(system.get("sub").map(String::as_str), Some("thermostat1"));
        assert_eq!(application.get("alert").map(String::as_str), Some("yes"));
        assert_eq!(application.len(), 1);
    }

    #[test]
    fn batches_decode() {
        let body = br#"[{"body":"eyJ0IjoyMX0=","base64Encoded":true,"properties":{"iothub-app-alert":"true"}},
                        {"body":"{\"t\":22}","base64Encoded":false}, {"body":"AAE="}]"#;
        let items = batch(body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(&items[0].2[..], b"{\"t\":21}");
        assert_eq!(items[0].1.get("alert").map(String::as_str), Some("true"));
        assert_eq!(&items[1].2[..], b"{\"t\":22}");
        assert_eq!(&items[2].2[..], b"\x00\x01");
        assert!(batch(b"{}").is_err());
        assert!(batch(b"[]").is_err());
        assert!(batch(br#"[{"body":"%%%"}]"#).is_err());
    }
}
