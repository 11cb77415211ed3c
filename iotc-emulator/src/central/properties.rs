//! Device and module properties (get, replace, update; per component): reported values with
//! their `$metadata` (the device's acknowledgement of writable ones and the desired value).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::app::{json_body, Central};
use super::error::{ApiError, ApiResult};
use crate::ids::identity_key;

pub(crate) fn routes() -> Router<Central> {
    let ops = || get(get_props).put(replace).patch(update);
    Router::new()
        .route("/devices/{device}/properties", ops())
        .route("/devices/{device}/components/{component}/properties", ops())
        .route("/devices/{device}/modules/{module}/properties", ops())
        .route(
            "/devices/{device}/modules/{module}/components/{component}/properties",
            ops(),
        )
}

/// The device, module and component a request is for.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Target {
    pub(crate) device: String,
    pub(crate) module: Option<String>,
    pub(crate) component: Option<String>,
}

impl Target {
    /// The registry key (`device` or `device/module`).
    pub(crate) fn key(&self) -> String {
        identity_key(&self.device, self.module.as_deref())
    }

    /// `Ok` when the device (and module) exist.
    pub(crate) fn check(&self, c: &Central) -> Result<(), ApiError> {
        c.require_device(&self.device)?;
        if let Some(m) = &self.module {
            if c.emulator.twin(&self.key()).is_none() {
                return Err(ApiError::not_found(format!(
                    "Could not find module {m:?} of device {:?}",
                    self.device
                )));
            }
        }
        Ok(())
    }
}

fn without_meta(v: Option<&Value>) -> Map<String, Value> {
    let mut m = v.and_then(Value::as_object).cloned().unwrap_or_default();
    m.remove("$version");
    m.remove("__t");
    m
}

fn is_component(v: &Value) -> bool {
    v.get("__t").and_then(Value::as_str) == Some("c")
}

/// IoT Central's view of one level of properties (root or a component).
fn section(
    reported: &Map<String, Value>,
    desired: &Map<String, Value>,
    version: u64,
    top: bool,
) -> Value {
    let mut out = Map::new();
    let mut meta = Map::new();
    for (k, v) in reported
        .iter()
        .filter(|(k, _)| !k.starts_with('$') && *k != "__t")
    {
        if top && is_component(v) {
            let d = without_meta(desired.get(k));
            out.insert(
                k.clone(),
                section(&without_meta(Some(v)), &d, version, false),
            );
            continue;
        }
        let mut m = Map::new();
        let value = match (v.get("value"), v.get("ac"), v.get("av")) {
            (Some(value), Some(ac), Some(av)) if v.as_object().is_some_and(|o| o.len() <= 4) => {
                m.insert("ackCode".into(), ac.clone());
                m.insert("ackVersion".into(), av.clone());
                if let Some(ad) = v.get("ad") {
                    m.insert("ackDescription".into(), ad.clone());
                }
                value.clone()
            }
            _ => v.clone(),
        };
        if let Some(d) = desired.get(k) {
            m.insert("desiredValue".into(), d.clone());
            m.insert("desiredVersion".into(), Value::from(version));
        }
        out.insert(k.clone(), value);
        meta.insert(k.clone(), Value::Object(m));
    }
    for (k, d) in desired
        .iter()
        .filter(|(k, _)| !k.starts_with('$') && *k != "__t")
    {
        if reported.contains_key(k) {
            continue;
        }
        if top && is_component(d) {
            out.insert(
                k.clone(),
                section(&Map::new(), &without_meta(Some(d)), version, false),
            );
            continue;
        }
        out.insert(k.clone(), d.clone());
        meta.insert(
            k.clone(),
            json!({"desiredValue": d, "desiredVersion": version}),
        );
    }
    if !meta.is_empty() {
        out.insert("$metadata".into(), Value::Object(meta));
    }
    Value::Object(out)
}

/// The properties of a target as IoT Central shows them.
pub(crate) fn view(c: &Central, t: &Target) -> Result<Value, ApiError> {
    t.check(c)?;
    let twin = c
        .emulator
        .twin(&t.key())
        .ok_or_else(|| ApiError::no_device(&t.device))?;
    let version = twin
        .desired
        .get("$version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let reported = without_meta(Some(&twin.reported));
    let desired = without_meta(Some(&twin.desired));
    let all = section(&reported, &desired, version, true);
    Ok(match &t.component {
        None => all,
        Some(comp) => all.get(comp).cloned().unwrap_or_else(|| json!({})),
    })
}

/// Whether `name` is a component of the device's template.
fn template_component(c: &Central, t: &Target, name: &str) -> bool {
    if t.module.is_some() {
        return false;
    }
    c.model_of(&t.device).is_some_and(|m| {
        m.get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|x| {
                crate::templates::is_type(x, "Component")
                    && x.get("name").and_then(Value::as_str) == Some(name)
            })
    })
}

/// The desired patch for a request body: component members marked `"__t":"c"`.
fn patch_for(c: &Central, t: &Target, body: Value, replace: bool) -> Result<Value, ApiError> {
    let Value::Object(mut members) = body else {
        return Err(ApiError::bad_request(
            "the properties body must be a JSON object",
        ));
    };
    members.remove("$metadata");
    let twin = c
        .emulator
        .twin(&t.key())
        .ok_or_else(|| ApiError::no_device(&t.device))?;
    let current = without_meta(Some(&twin.desired));
    match &t.component {
        Some(comp) => {
            if replace {
                let old = without_meta(current.get(comp));
                for k in old.keys() {
                    members.entry(k.clone()).or_insert(Value::Null);
                }
            }
            members.insert("__t".into(), Value::String("c".into()));
            Ok(json!({ comp.clone(): members }))
        }
        None => {
            for (k, v) in members.iter_mut() {
                if let Value::Object(inner) = v {
                    if template_component(c, t, k) || current.get(k).is_some_and(is_component) {
                        inner.insert("__t".into(), Value::String("c".into()));
                    }
                }
            }
            if replace {
                for k in current.keys() {
                    members.entry(k.clone()).or_insert(Value::Null);
                }
            }
            Ok(Value::Object(members))
        }
    }
}

async fn get_props(State(c): State<Central>, Path(t): Path<Target>) -> ApiResult {
    Ok(Json(view(&c, &t)?).into_response())
}

async fn write(c: Central, t: Target, body: Bytes, replace: bool) -> ApiResult {
    t.check(&c)?;
    let body = json_body(&body)?;
    let patch = patch_for(&c, &t, body, replace)?;
    c.emulator.update_desired(&t.key(), patch).await?;
    Ok(Json(view(&c, &t)?).into_response())
}

async fn replace(State(c): State<Central>, Path(t): Path<Target>, body: Bytes) -> ApiResult {
    write(c, t, body, true).await
}

async fn update(State(c): State<Central>, Path(t): Path<Target>, body: Bytes) -> ApiResult {
    write(c, t, body, false).await
}
