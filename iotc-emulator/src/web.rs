//! The web app at `/` on the service port: devices, a device's live telemetry, properties,
//! commands, cloud-to-device messages and faults, and templates, built on IoT Central's API
//! under `/api` and the service routes. Its assets (plain HTML, JS and CSS under
//! `iotc-emulator/web/`) are compiled into the binary: no CDN, no build step.
//!
//! Besides the assets it serves two routes of its own, behind the same API token (in
//! `Authorization`, or `?token=` for `EventSource`, which cannot set headers):
//! `GET /ui/state` (the device list with what IoT Central's API does not carry: connection
//! state, last activity, client, gateway) and `GET /ui/events` (server-sent events: `state`
//! when that list changes, `telemetry` for every message).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::central::ApiError;
use crate::{Central, TelemetryReceiver};

const INDEX: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");

/// Whether a request for `/` comes from a browser (asks for HTML).
pub(crate) fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The page itself.
pub(crate) fn index() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        INDEX,
    )
        .into_response()
}

/// The `/ui` routes.
pub(crate) fn router(central: Central) -> Router {
    let data = Router::new()
        .route("/ui/state", get(state))
        .route("/ui/events", get(events))
        .layer(axum::middleware::from_fn_with_state(
            central.clone(),
            token_or_query,
        ))
        .with_state(central);
    Router::new()
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .merge(data)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-store")],
        body,
    )
        .into_response()
}

async fn token_or_query(State(c): State<Central>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = request.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    });
    let expected = c.api_token().as_bytes();
    let ok = [header, query].into_iter().flatten().any(|given| {
        given.len() == expected.len() && openssl::memcmp::eq(given.as_bytes(), expected)
    });
    if !ok {
        return ApiError::unauthorized("missing or invalid API token").into_response();
    }
    next.run(request).await
}

/// The device list the web app shows.
fn snapshot(c: &Central) -> Value {
    let store_devices = c.store().devices.clone();
    let devices: Vec<Value> = crate::central::device_ids(c)
        .into_iter()
        .map(|id| {
            let info = c.emulator.device(&id);
            let twin = c.emulator.twin(&id);
            let last = c
                .emulator
                .recent_telemetry(&id)
                .last()
                .map(|m| crate::ids::service_time(m.enqueued_time));
            let record = store_devices.get(&id);
            json!({
                "id": id,
                "displayName": record.and_then(|r| r.display_name.clone()).unwrap_or_else(|| id.clone()),
                "template": c.template_of(&id),
                "modelId": info.as_ref().and_then(|d| d.model_id.clone()),
                "provisioned": info.is_some(),
                "enabled": record.is_none_or(|r| r.enabled),
                "connected": info.as_ref().is_some_and(|d| d.connected),
                "client": info.as_ref().and_then(|d| d.device_client_type.clone()),
                "protocol": info.as_ref().and_then(|d| d.protocol),
                "auth": info.as_ref().map(|d| d.auth),
                "gatewayId": info.as_ref().and_then(|d| d.gateway_id.clone()),
                "pendingC2d": info.as_ref().map_or(0, |d| d.pending_c2d),
                "lastActivity": last,
                "reportedVersion": twin.as_ref().and_then(|t| t.reported.get("$version").cloned()),
                "desiredVersion": twin.as_ref().and_then(|t| t.desired.get("$version").cloned()),
                "unmodeled": c.emulator.unmodeled(&id).len(),
            })
        })
        .collect();
    json!({
        "devices": devices,
        "idScope": c.emulator.id_scope(),
        "dpsEndpoint": c.emulator.dps_endpoint(),
    })
}

async fn state(State(c): State<Central>) -> Response {
    Json(snapshot(&c)).into_response()
}

struct Feed {
    central: Central,
    telemetry: TelemetryReceiver,
    tick: tokio::time::Interval,
    last: Option<Value>,
}

async fn events(State(c): State<Central>) -> Response {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let feed = Feed {
        telemetry: c.emulator.telemetry(),
        central: c,
        tick,
        last: None,
    };
    let stream = futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            tokio::select! {
                msg = f.telemetry.recv() => {
                    let m = msg?;
                    let body = m
                        .body_json()
                        .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&m.body).into_owned()));
                    let data = json!({
                        "deviceId": m.device_id,
                        "moduleId": m.module_id,
                        "component": m.component,
                        "enqueuedTime": crate::ids::service_time(m.enqueued_time),
                        "body": body,
                    });
                    let event = Event::default().event("telemetry").data(data.to_string());
                    return Some((Ok::<Event, Infallible>(event), f));
                }
                _ = f.tick.tick() => {
                    let now = snapshot(&f.central);
                    if f.last.as_ref() != Some(&now) {
                        let event = Event::default().event("state").data(now.to_string());
                        f.last = Some(now);
                        return Some((Ok(event), f));
                    }
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
