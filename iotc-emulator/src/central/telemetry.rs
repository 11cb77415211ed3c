//! Telemetry last known values (per component and module).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::app::Central;
use super::error::{ApiError, ApiResult};
use super::properties::Target;

pub(crate) fn routes() -> Router<Central> {
    Router::new()
        .route("/devices/{device}/telemetry/{telemetry}", get(last_value))
        .route(
            "/devices/{device}/components/{component}/telemetry/{telemetry}",
            get(last_value),
        )
        .route(
            "/devices/{device}/modules/{module}/telemetry/{telemetry}",
            get(last_value),
        )
        .route(
            "/devices/{device}/modules/{module}/components/{component}/telemetry/{telemetry}",
            get(last_value),
        )
}

#[derive(Debug, serde::Deserialize)]
struct Request {
    device: String,
    module: Option<String>,
    component: Option<String>,
    telemetry: String,
}

/// The newest value of `name` the target sent (of the last 100 messages kept), with its time.
pub(crate) fn last_known(c: &Central, t: &Target, name: &str) -> Option<Value> {
    c.emulator
        .recent_telemetry(&t.key())
        .iter()
        .rev()
        .filter(|m| m.component.as_deref() == t.component.as_deref())
        .find_map(|m| {
            let v = m.body_json()?.get(name)?.clone();
            Some(json!({"timestamp": crate::ids::service_time(m.enqueued_time), "value": v}))
        })
}

async fn last_value(State(c): State<Central>, Path(r): Path<Request>) -> ApiResult {
    let t = Target {
        device: r.device,
        module: r.module,
        component: r.component,
    };
    t.check(&c)?;
    last_known(&c, &t, &r.telemetry)
        .map(|v| Json(v).into_response())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No value of telemetry {:?} among the device's recent messages",
                r.telemetry
            ))
        })
}
