//! `PUT /devices/{id}/attestation`: a device's credentials replaced, as IoT Central's REST API
//! does when keys are regenerated or certificates rotated. A symmetric key becomes the device's
//! individual SAS enrollment and hub key ([`Emulator::set_device_key`](crate::Emulator::set_device_key));
//! X.509 client certificates become its individual X.509 enrollment
//! ([`Emulator::set_x509_device_certificates`](crate::Emulator::set_x509_device_certificates)).
//! DPS and the hub refuse the old credential from then on.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use serde_json::{json, Value};

use super::app::{json_body, Central};
use super::error::{ApiError, ApiResult};

/// `PUT /devices/{id}/attestation` with `{"type":"symmetricKey","symmetricKey":{"primaryKey"}}`
/// or `{"type":"x509","x509":{"clientCertificates":{"primary":{"certificate"},"secondary":{…}}}}`
/// (a certificate as PEM or base64 DER). Answers with the attestation set.
pub(crate) async fn put(
    State(c): State<Central>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    c.require_device(&id)?;
    let body = json_body(&body)?;
    let answer = match body.get("type").and_then(Value::as_str) {
        Some("symmetricKey") => {
            let keys = body.get("symmetricKey");
            let primary = keys
                .and_then(|k| k.get("primaryKey"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("symmetricKey.primaryKey is required"))?;
            c.emulator
                .set_device_key(&id, primary)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            // The emulator checks one key per device: the primary one.
            json!({"type": "symmetricKey", "symmetricKey": {"primaryKey": primary, "secondaryKey": primary}})
        }
        Some("x509") => {
            let certs = body
                .get("x509")
                .and_then(|x| x.get("clientCertificates"))
                .ok_or_else(|| ApiError::bad_request("x509.clientCertificates is required"))?;
            let pem = |entry: &str| -> Result<Option<String>, ApiError> {
                certs
                    .get(entry)
                    .and_then(|e| e.get("certificate"))
                    .and_then(Value::as_str)
                    .map(to_pem)
                    .transpose()
            };
            let primary = pem("primary")?.ok_or_else(|| {
                ApiError::bad_request("x509.clientCertificates.primary.certificate is required")
            })?;
            let secondary = pem("secondary")?;
            c.emulator
                .set_x509_device_certificates(&id, &primary, secondary.as_deref())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let mut entries = serde_json::Map::new();
            for (entry, pem) in [
                ("primary", Some(&primary)),
                ("secondary", secondary.as_ref()),
            ] {
                if let Some(info) = pem.and_then(|p| sha1_thumbprint(p)) {
                    entries.insert(entry.into(), json!({"info": {"sha1Thumbprint": info}}));
                }
            }
            json!({"type": "x509", "x509": {"clientCertificates": entries}})
        }
        _ => {
            return Err(ApiError::bad_request(
                "type must be \"symmetricKey\" or \"x509\"",
            ))
        }
    };
    c.changed();
    Ok(Json(answer).into_response())
}

/// A certificate given as PEM, or as base64 DER, as PEM.
fn to_pem(text: &str) -> Result<String, ApiError> {
    if text.trim_start().starts_with("-----BEGIN") {
        return Ok(text.to_owned());
    }
    let der = B64
        .decode(text.trim())
        .map_err(|_| ApiError::bad_request("the certificate is neither PEM nor base64 DER"))?;
    let cert = X509::from_der(&der)
        .map_err(|_| ApiError::bad_request("the certificate cannot be parsed"))?;
    let pem = cert
        .to_pem()
        .map_err(|_| ApiError::bad_request("the certificate cannot be encoded"))?;
    String::from_utf8(pem).map_err(|_| ApiError::bad_request("the certificate cannot be encoded"))
}

/// The upper-case hex SHA-1 thumbprint IoT Central shows for a certificate.
fn sha1_thumbprint(pem: &str) -> Option<String> {
    let cert = X509::from_pem(pem.as_bytes()).ok()?;
    let digest = cert.digest(MessageDigest::sha1()).ok()?;
    Some(digest.iter().map(|b| format!("{b:02X}")).collect())
}
