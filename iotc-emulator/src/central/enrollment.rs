//! Enrollment groups (list, get, create, update, delete) and their X.509 CA certificates.
//! `SAS-IoT-Devices` is the emulator's own SAS group (key from `--group-key`). Groups made
//! through the API are SAS groups with their own keys (given, or generated as IoT Central
//! does; a device whose registration token is signed with a key derived from one of them
//! provisions through that group) or X.509 groups: devices whose certificate chains to the
//! group's primary or secondary certificate (set with `PUT …/certificates/{entry}`) provision.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use serde_json::{json, Value};

use super::app::{json_body, Central};
use super::error::{ApiError, ApiResult};
use super::paging;
use super::store::{etag, GroupRecord};
use crate::state::DEFAULT_SAS_GROUP;

pub(crate) fn routes() -> Router<Central> {
    Router::new()
        .route("/enrollmentGroups", get(list))
        .route(
            "/enrollmentGroups/{id}",
            get(get_one).put(create).patch(update).delete(remove),
        )
        .route(
            "/enrollmentGroups/{id}/certificates/{entry}",
            get(get_cert).put(put_cert).delete(delete_cert),
        )
}

fn sas_group(c: &Central) -> Value {
    let key = c.emulator.group_key();
    json!({
        "id": DEFAULT_SAS_GROUP,
        "displayName": DEFAULT_SAS_GROUP,
        "enabled": true,
        "type": "iot",
        "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": key, "secondaryKey": key}},
        "etag": "\"0\"",
    })
}

fn group_json(g: &GroupRecord) -> Value {
    if let Some((primary, secondary)) = &g.symmetric_key {
        return json!({
            "id": g.id,
            "displayName": g.display_name,
            "enabled": g.enabled,
            "type": g.kind,
            "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": primary, "secondaryKey": secondary}},
            "etag": g.etag,
        });
    }
    let mut certs = serde_json::Map::new();
    for (entry, pem) in &g.certificates {
        certs.insert(entry.clone(), cert_info(pem).unwrap_or(Value::Null));
    }
    json!({
        "id": g.id,
        "displayName": g.display_name,
        "enabled": g.enabled,
        "type": g.kind,
        "attestation": {"type": "x509", "x509": {"signingCertificates": certs}},
        "etag": g.etag,
    })
}

fn cert_info(pem: &str) -> Option<Value> {
    let cert = X509::from_pem(pem.as_bytes()).ok()?;
    let sha1 = cert.digest(MessageDigest::sha1()).ok()?;
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    Some(json!({"verified": true, "info": {"sha1Thumbprint": hex}}))
}

/// Groups added from Rust ([`Emulator::add_x509_enrollment_group`](crate::Emulator::add_x509_enrollment_group),
/// [`Emulator::add_sas_enrollment_group`](crate::Emulator::add_sas_enrollment_group)) or
/// synced from the API: id, and the keys of a SAS group.
fn rust_groups(c: &Central) -> Vec<(String, Option<Vec<String>>)> {
    let state = c.emulator.shared.lock();
    let x509 = state.x509_groups.iter().map(|g| (g.id.clone(), None));
    let sas = state
        .sas_groups
        .iter()
        .map(|g| (g.id.clone(), Some(g.keys.clone())));
    x509.chain(sas).collect()
}

fn find(c: &Central, id: &str) -> Option<Value> {
    if id == DEFAULT_SAS_GROUP {
        return Some(sas_group(c));
    }
    if let Some(g) = c.store().groups.get(id) {
        return Some(group_json(g));
    }
    rust_groups(c)
        .into_iter()
        .find(|(g, _)| g == id)
        .map(|(g, keys)| {
            let attestation = match keys {
                Some(keys) => {
                    let primary = keys.first().cloned().unwrap_or_default();
                    let secondary = keys.get(1).cloned().unwrap_or_else(|| primary.clone());
                    json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": primary, "secondaryKey": secondary}})
                }
                None => json!({"type": "x509"}),
            };
            json!({"id": g, "displayName": g, "enabled": true, "type": "iot", "attestation": attestation})
        })
}

async fn list(
    State(c): State<Central>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let mut ids = vec![DEFAULT_SAS_GROUP.to_owned()];
    ids.extend(c.store().groups.keys().cloned());
    for (g, _) in rust_groups(&c) {
        if !ids.contains(&g) {
            ids.push(g);
        }
    }
    let items = ids.iter().filter_map(|id| find(&c, id)).collect();
    Ok(Json(paging::page(items, "/api/enrollmentGroups", &q, &headers)?).into_response())
}

async fn get_one(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    find(&c, &id)
        .map(|g| Json(g).into_response())
        .ok_or_else(|| ApiError::not_found(format!("Could not find enrollment group {id:?}")))
}

/// Gives the emulator's DPS the group's current keys or CA certificates (none, or disabled:
/// removed).
fn sync(c: &Central, id: &str) -> Result<(), ApiError> {
    let group = c.store().groups.get(id).cloned();
    c.emulator.remove_enrollment_group(id);
    if let Some((g, (primary, secondary))) = group
        .as_ref()
        .filter(|g| g.enabled)
        .and_then(|g| Some((g, g.symmetric_key.clone()?)))
    {
        return c
            .emulator
            .add_sas_enrollment_group(&g.id, &primary, Some(&secondary))
            .map_err(|e| ApiError::bad_request(e.to_string()));
    }
    if let Some(g) = group.filter(|g| g.enabled && !g.certificates.is_empty()) {
        let pems: String = g.certificates.values().cloned().collect();
        c.emulator
            .add_x509_enrollment_group(id, &pems)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(())
}

/// A certificate as PEM: PEM text, or base64 DER / base64 PEM.
fn to_pem(text: &str) -> Result<String, ApiError> {
    let bad =
        || ApiError::bad_request("\"certificate\" is neither PEM nor a base64 DER certificate");
    let text = text.trim();
    let cert = if text.starts_with("-----BEGIN") {
        X509::from_pem(text.as_bytes()).map_err(|_| bad())?
    } else {
        let raw = B64.decode(text).map_err(|_| bad())?;
        X509::from_der(&raw)
            .or_else(|_| X509::from_pem(&raw))
            .map_err(|_| bad())?
    };
    let pem = cert.to_pem().map_err(|_| bad())?;
    String::from_utf8(pem).map_err(|_| bad())
}

fn apply(g: &mut GroupRecord, body: &Value) -> Result<(), ApiError> {
    if let Some(n) = body.get("displayName") {
        g.display_name = n
            .as_str()
            .ok_or_else(|| ApiError::bad_request("\"displayName\" must be a string"))?
            .to_owned();
    }
    if let Some(e) = body.get("enabled") {
        g.enabled = e
            .as_bool()
            .ok_or_else(|| ApiError::bad_request("\"enabled\" must be a boolean"))?;
    }
    if let Some(t) = body.get("type") {
        match t.as_str() {
            Some(k @ ("iot" | "iotEdge")) => g.kind = k.to_owned(),
            _ => {
                return Err(ApiError::bad_request(
                    "\"type\" must be \"iot\" or \"iotEdge\"",
                ))
            }
        }
    }
    if let Some(a) = body.get("attestation") {
        match a.get("type").and_then(Value::as_str) {
            Some("x509") if g.symmetric_key.is_none() => {}
            Some("symmetricKey") if g.certificates.is_empty() => {
                let given = |name: &str| {
                    a.get("symmetricKey")
                        .and_then(|s| s.get(name))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let old = g.symmetric_key.clone();
                let key = |name: &str, old: Option<String>| -> Result<String, ApiError> {
                    let key = match given(name).or(old) {
                        Some(k) => k,
                        None => crate::emulator::generate_key()
                            .map_err(|e| ApiError::bad_request(e.to_string()))?,
                    };
                    if B64.decode(&key).map(|b| b.is_empty()).unwrap_or(true) {
                        return Err(ApiError::bad_request(format!(
                            "\"attestation.symmetricKey.{name}\" is not a base64 key"
                        )));
                    }
                    Ok(key)
                };
                let (old_primary, old_secondary) = old.unzip();
                g.symmetric_key = Some((
                    key("primaryKey", old_primary)?,
                    key("secondaryKey", old_secondary)?,
                ));
                return Ok(());
            }
            Some("x509" | "symmetricKey") => {
                return Err(ApiError::bad_request(
                    "an enrollment group's attestation type cannot change",
                ))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "\"attestation.type\" must be \"symmetricKey\" or \"x509\"",
                ))
            }
        }
        let signing = a.get("x509").and_then(|x| x.get("signingCertificates"));
        for entry in ["primary", "secondary"] {
            if let Some(cert) = signing
                .and_then(|s| s.get(entry))
                .and_then(|e| e.get("certificate"))
                .and_then(Value::as_str)
            {
                g.certificates.insert(entry.to_owned(), to_pem(cert)?);
            }
        }
    }
    Ok(())
}

fn not_sas(id: &str) -> Result<(), ApiError> {
    if id == DEFAULT_SAS_GROUP {
        return Err(ApiError::bad_request(format!(
            "{DEFAULT_SAS_GROUP} is the emulator's SAS group and cannot be changed through the API"
        )));
    }
    if id.is_empty() || id.contains('/') {
        return Err(ApiError::bad_request(format!(
            "invalid enrollment group id {id:?}"
        )));
    }
    Ok(())
}

async fn create(State(c): State<Central>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    not_sas(&id)?;
    let body = json_body(&body)?;
    if body.get("displayName").and_then(Value::as_str).is_none() {
        return Err(ApiError::bad_request(
            "an enrollment group needs a \"displayName\"",
        ));
    }
    if body.get("attestation").is_none() {
        return Err(ApiError::bad_request(
            "an enrollment group needs an \"attestation\"",
        ));
    }
    let mut g = GroupRecord {
        id: id.clone(),
        display_name: id.clone(),
        kind: "iot".into(),
        enabled: true,
        certificates: Default::default(),
        symmetric_key: None,
        etag: etag(),
    };
    apply(&mut g, &body)?;
    c.store().groups.insert(id.clone(), g.clone());
    sync(&c, &id)?;
    c.changed();
    Ok(Json(group_json(&g)).into_response())
}

async fn update(State(c): State<Central>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    not_sas(&id)?;
    let body = json_body(&body)?;
    let mut g =
        c.store().groups.get(&id).cloned().ok_or_else(|| {
            ApiError::not_found(format!("Could not find enrollment group {id:?}"))
        })?;
    apply(&mut g, &body)?;
    g.etag = etag();
    c.store().groups.insert(id.clone(), g.clone());
    sync(&c, &id)?;
    c.changed();
    Ok(Json(group_json(&g)).into_response())
}

async fn remove(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    not_sas(&id)?;
    let had =
        c.store().groups.remove(&id).is_some() || rust_groups(&c).iter().any(|(g, _)| *g == id);
    if !had {
        return Err(ApiError::not_found(format!(
            "Could not find enrollment group {id:?}"
        )));
    }
    sync(&c, &id)?;
    c.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn check_entry(entry: &str) -> Result<(), ApiError> {
    if matches!(entry, "primary" | "secondary") {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the certificate entry is \"primary\" or \"secondary\"",
        ))
    }
}

async fn get_cert(
    State(c): State<Central>,
    Path((id, entry)): Path<(String, String)>,
) -> ApiResult {
    check_entry(&entry)?;
    let store = c.store();
    let g = store
        .groups
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("Could not find enrollment group {id:?}")))?;
    let pem = g
        .certificates
        .get(&entry)
        .ok_or_else(|| ApiError::not_found(format!("The group has no {entry} certificate")))?;
    let mut info = cert_info(pem).unwrap_or_else(|| json!({}));
    info["etag"] = Value::String(g.etag.clone());
    Ok(Json(info).into_response())
}

async fn put_cert(
    State(c): State<Central>,
    Path((id, entry)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    check_entry(&entry)?;
    not_sas(&id)?;
    let body = json_body(&body)?;
    let cert = body
        .get("certificate")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("the body needs a string \"certificate\""))?;
    let pem = to_pem(cert)?;
    let etag = {
        let mut store = c.store();
        let g = store.groups.get_mut(&id).ok_or_else(|| {
            ApiError::not_found(format!("Could not find enrollment group {id:?}"))
        })?;
        if g.symmetric_key.is_some() {
            return Err(ApiError::bad_request(
                "a SAS enrollment group has no certificates",
            ));
        }
        g.certificates.insert(entry.clone(), pem.clone());
        g.etag = etag();
        g.etag.clone()
    };
    sync(&c, &id)?;
    c.changed();
    let mut info = cert_info(&pem).unwrap_or_else(|| json!({}));
    info["etag"] = Value::String(etag);
    Ok(Json(info).into_response())
}

async fn delete_cert(
    State(c): State<Central>,
    Path((id, entry)): Path<(String, String)>,
) -> ApiResult {
    check_entry(&entry)?;
    let removed = c
        .store()
        .groups
        .get_mut(&id)
        .and_then(|g| g.certificates.remove(&entry))
        .is_some();
    if !removed {
        return Err(ApiError::not_found(format!(
            "The group {id:?} has no {entry} certificate"
        )));
    }
    sync(&c, &id)?;
    c.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}
