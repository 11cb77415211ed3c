//! Devices (list, get, create, update, delete), device attestation and relationships.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::app::{json_body, Central};
use super::error::{ApiError, ApiResult};
use super::paging;
use super::store::{etag, DeviceRecord, Relationship};
use crate::RefuseCode;

pub(crate) fn routes() -> Router<Central> {
    Router::new()
        .route("/devices", get(list))
        .route(
            "/devices/{id}",
            get(get_one).put(create).patch(update).delete(remove),
        )
        .route(
            "/devices/{id}/attestation",
            get(attestation).put(super::attestation::put),
        )
        .route("/devices/{id}/relationships", get(relationships))
        .route(
            "/devices/{id}/relationships/{rel}",
            get(relationship)
                .put(put_relationship)
                .patch(put_relationship)
                .delete(delete_relationship),
        )
}

/// IoT Central's device object.
pub(crate) fn device_json(central: &Central, id: &str) -> Option<Value> {
    let record = central.store().devices.get(id).cloned();
    let info = central.emulator.device(id);
    if record.is_none() && info.is_none() {
        return None;
    }
    let record = record.unwrap_or_else(|| DeviceRecord {
        enabled: true,
        etag: format!("\"{}\"", id.len()),
        ..DeviceRecord::default()
    });
    let mut out = json!({
        "id": id,
        "etag": record.etag,
        "displayName": record.display_name.clone().unwrap_or_else(|| id.to_owned()),
        "simulated": record.simulated,
        "provisioned": info.is_some(),
        "enabled": record.enabled,
    });
    if let Some(t) = central.template_of(id) {
        out["template"] = Value::String(t);
    }
    // An emulator extension (IoT Central's device object has none): the transport of the
    // device's last connection.
    if let Some(p) = info.as_ref().and_then(|d| d.protocol) {
        out["protocol"] = Value::String(p.as_str().to_owned());
    }
    Some(out)
}

/// Every device id: made through the API or provisioned (modules excluded), sorted.
pub(crate) fn device_ids(central: &Central) -> Vec<String> {
    let mut ids: Vec<String> = central.store().devices.keys().cloned().collect();
    ids.extend(central.emulator.devices().into_iter().map(|d| d.device_id));
    ids.sort();
    ids.dedup();
    ids
}

async fn list(
    State(c): State<Central>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let items: Vec<Value> = device_ids(&c)
        .iter()
        .filter_map(|id| device_json(&c, id))
        .collect();
    Ok(Json(paging::page(items, "/api/devices", &q, &headers)?).into_response())
}

async fn get_one(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    device_json(&c, &id)
        .map(|d| Json(d).into_response())
        .ok_or_else(|| ApiError::no_device(&id))
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid device id {id:?}: 1 to 128 letters, digits, '-', '.', ':' or '_'"
        )))
    }
}

/// Applies the fields of a device body to a record.
fn apply(c: &Central, record: &mut DeviceRecord, body: &Value) -> Result<(), ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::bad_request(
            "the device body must be a JSON object",
        ));
    };
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("displayName", Value::String(s)) => record.display_name = Some(s.clone()),
            ("template", Value::String(t)) => {
                let known = c.store().templates.contains_key(t)
                    || c.emulator.template_interface(t).is_some();
                if !known {
                    return Err(ApiError::bad_request(format!(
                        "unknown device template {t:?}"
                    )));
                }
                record.template = Some(t.clone());
            }
            ("template", Value::Null) => record.template = None,
            ("simulated", Value::Bool(b)) => record.simulated = *b,
            ("enabled", Value::Bool(b)) => record.enabled = *b,
            ("id" | "etag" | "provisioned" | "organizations", _) => {}
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "invalid device field {other:?} or value"
                )))
            }
        }
    }
    Ok(())
}

/// Blocks or unblocks a device's hub connections (`enabled`).
fn enforce_enabled(c: &Central, id: &str, enabled: bool) {
    if enabled {
        c.emulator.refuse_connections(
            Some(id),
            RefuseCode::NotAuthorized,
            std::time::Duration::ZERO,
        );
    } else {
        c.emulator.refuse_connections(
            Some(id),
            RefuseCode::NotAuthorized,
            std::time::Duration::from_secs(100 * 365 * 24 * 3600),
        );
        c.emulator.disconnect_device(id);
    }
}

async fn create(State(c): State<Central>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    valid_id(&id)?;
    save(c, id, &body).await
}

async fn update(State(c): State<Central>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    c.require_device(&id)?;
    save(c, id, &body).await
}

/// Applies `body` to device `id` (a new record when there is none), stores it with a new etag,
/// connects or disconnects the device when `enabled` changed, and answers with the device.
async fn save(c: Central, id: String, body: &[u8]) -> ApiResult {
    let body = json_body(body)?;
    let mut record = c.store().devices.get(&id).cloned().unwrap_or(DeviceRecord {
        enabled: true,
        ..DeviceRecord::default()
    });
    let was_enabled = record.enabled;
    apply(&c, &mut record, &body)?;
    record.etag = etag();
    let enabled = record.enabled;
    c.store().devices.insert(id.clone(), record);
    if enabled != was_enabled {
        enforce_enabled(&c, &id, enabled);
    }
    c.changed();
    get_one(State(c), Path(id)).await
}

async fn remove(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    c.require_device(&id)?;
    {
        let mut store = c.store();
        store.devices.remove(&id);
        store
            .relationships
            .retain(|r| r.source != id && r.target != id);
        let prefix = format!("{id}|");
        let module_prefix = format!("{id}/");
        store
            .commands
            .retain(|k, _| !k.starts_with(&prefix) && !k.starts_with(&module_prefix));
    }
    c.emulator.remove_device(&id);
    c.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn attestation(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    c.require_device(&id)?;
    let info = c.emulator.device(&id);
    let body = match info.as_ref().map(|d| d.auth) {
        Some(crate::AuthKind::X509) => json!({
            "type": "x509",
            "x509": {"enrollmentGroup": info.and_then(|d| d.enrollment_group)},
        }),
        _ => {
            let key = c
                .emulator
                .device_key(&id)
                .unwrap_or_else(|| c.emulator.derive_device_key(&id));
            json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": key, "secondaryKey": key}})
        }
    };
    Ok(Json(body).into_response())
}

/// The relationships of a device: gateway links recorded at provisioning
/// (`iotcGateway.iotcGatewayId`) and those made through the API.
fn relationships_of(c: &Central, id: &str) -> Vec<Relationship> {
    let mut out: Vec<Relationship> = Vec::new();
    for d in c.emulator.devices() {
        if let Some(gw) = d.gateway_id {
            if gw == id || d.device_id == id {
                out.push(Relationship {
                    id: format!("gateway-{}", d.device_id),
                    name: Some("gateway".into()),
                    source: gw,
                    target: d.device_id,
                });
            }
        }
    }
    for r in &c.store().relationships {
        if (r.source == id || r.target == id) && !out.iter().any(|o| o.id == r.id) {
            out.push(r.clone());
        }
    }
    out
}

fn relationship_json(r: &Relationship) -> Value {
    let mut v = json!({"id": r.id, "source": r.source, "target": r.target});
    if let Some(n) = &r.name {
        v["name"] = Value::String(n.clone());
    }
    v
}

async fn relationships(
    State(c): State<Central>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    c.require_device(&id)?;
    let items = relationships_of(&c, &id)
        .iter()
        .map(relationship_json)
        .collect();
    let path = format!("/api/devices/{id}/relationships");
    Ok(Json(paging::page(items, &path, &q, &headers)?).into_response())
}

async fn relationship(
    State(c): State<Central>,
    Path((id, rel)): Path<(String, String)>,
) -> ApiResult {
    c.require_device(&id)?;
    relationships_of(&c, &id)
        .iter()
        .find(|r| r.id == rel)
        .map(|r| Json(relationship_json(r)).into_response())
        .ok_or_else(|| ApiError::not_found(format!("Could not find relationship {rel:?}")))
}

async fn put_relationship(
    State(c): State<Central>,
    Path((id, rel)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    c.require_device(&id)?;
    let body = json_body(&body)?;
    let target = body
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("a relationship needs a string \"target\""))?
        .to_owned();
    c.require_device(&target)?;
    let r = Relationship {
        id: rel.clone(),
        name: body.get("name").and_then(Value::as_str).map(str::to_owned),
        source: body
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or(&id)
            .to_owned(),
        target,
    };
    {
        let mut store = c.store();
        store.relationships.retain(|x| x.id != rel);
        store.relationships.push(r.clone());
    }
    c.changed();
    Ok(Json(relationship_json(&r)).into_response())
}

async fn delete_relationship(
    State(c): State<Central>,
    Path((id, rel)): Path<(String, String)>,
) -> ApiResult {
    c.require_device(&id)?;
    let removed = {
        let mut store = c.store();
        let before = store.relationships.len();
        store.relationships.retain(|x| x.id != rel);
        before != store.relationships.len()
    };
    if !removed {
        return Err(ApiError::not_found(format!(
            "Could not find relationship {rel:?} made through the API (gateway links made at provisioning stay)"
        )));
    }
    c.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}
