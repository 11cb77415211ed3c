//! The IoT Edge workload API (protocol.md 8.2) on a Unix socket, for the edge device's modules:
//!
//! | Method | Path | Answer |
//! | --- | --- | --- |
//! | `POST` | `/modules/{moduleId}/genid/{generationId}/sign?api-version=…` | `{"digest": base64(HMAC-SHA256(module key, base64decode(data)))}` for `{"keyId":"primary","algo":"HMACSHA256","data":…}` |
//! | `GET` | `/trust-bundle?api-version=…` | `{"certificate": "<the emulator's CA PEM>"}` |
//!
//! Errors answer `{"message": …}` with `400` (missing `api-version`, bad body), or `404`
//! (unknown module or generation id).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use tokio::net::UnixListener;

use crate::ids::identity_key;
use crate::state::{DeviceAuth, Shared};
use crate::EmulatorError;

#[derive(Clone)]
struct Workload {
    shared: Arc<Shared>,
    edge_device: String,
    ca_pem: Arc<str>,
}

/// Binds `path` (replacing a stale socket left there, never another kind of file) and serves
/// the workload API until the emulator shuts down.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    path: &Path,
    edge_device: String,
    ca_pem: Arc<str>,
) -> Result<(), EmulatorError> {
    {
        use std::os::unix::fs::FileTypeExt as _;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                std::fs::remove_file(path)?;
            }
        }
    }
    let listener = UnixListener::bind(path)?;
    let mut shutdown = shared.shutdown.clone();
    let app = Router::new()
        .route("/modules/{module}/genid/{generation}/sign", post(sign))
        .route("/trust-bundle", get(trust_bundle))
        .with_state(Workload {
            shared,
            edge_device,
            ca_pem,
        });
    let shown = path.display().to_string();
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::warn!(error = %e, "workload API stopped");
        }
    });
    tracing::info!(socket = %shown, "workload API listening");
    Ok(())
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn has_api_version(query: &HashMap<String, String>) -> bool {
    query.get("api-version").is_some_and(|v| !v.is_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignRequest {
    key_id: String,
    algo: String,
    data: String,
}

async fn sign(
    State(w): State<Workload>,
    UrlPath((module, generation)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    if !has_api_version(&query) {
        return error(StatusCode::BAD_REQUEST, "api-version is required");
    }
    let Ok(request) = serde_json::from_slice::<SignRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"keyId\",\"algo\",\"data\"}",
        );
    };
    if request.key_id != "primary" || request.algo != "HMACSHA256" {
        return error(
            StatusCode::BAD_REQUEST,
            "only keyId \"primary\" with algo \"HMACSHA256\" is supported",
        );
    }
    let Ok(data) = B64.decode(&request.data) else {
        return error(StatusCode::BAD_REQUEST, "data is not base64");
    };
    let key = {
        let state = w.shared.lock();
        match state
            .devices
            .get(&identity_key(&w.edge_device, Some(&module)))
        {
            Some(d) if d.generation_id == generation => match &d.auth {
                DeviceAuth::Sas { key } => Some(key.clone()),
                DeviceAuth::X509 { .. } => None,
            },
            _ => None,
        }
    };
    let Some(key) = key.and_then(|k| B64.decode(k).ok()) else {
        return error(StatusCode::NOT_FOUND, "module or generation id not found");
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "unusable module key");
    };
    mac.update(&data);
    let digest = B64.encode(mac.finalize().into_bytes());
    tracing::debug!(module, "workload API signed a token");
    Json(json!({ "digest": digest })).into_response()
}

async fn trust_bundle(
    State(w): State<Workload>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !has_api_version(&query) {
        return error(StatusCode::BAD_REQUEST, "api-version is required");
    }
    Json(json!({ "certificate": &*w.ca_pem })).into_response()
}
