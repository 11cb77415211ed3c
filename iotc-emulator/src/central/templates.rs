//! Device templates (list, get, create or update, delete): IoT Central's template document,
//! which wraps the DTDL model in `capabilityModel`, or a plain DTDL model (one interface, or
//! an array with its component interfaces), which the emulator wraps.

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
use super::store::{capability_model_id, etag};

pub(crate) fn routes() -> Router<Central> {
    Router::new().route("/deviceTemplates", get(list)).route(
        "/deviceTemplates/{id}",
        get(get_one).put(put).delete(remove),
    )
}

/// The template document IoT Central would hold for a plain interface the emulator knows:
/// components referenced by `@id` are inlined.
fn synthesize(c: &Central, model_id: &str) -> Option<Value> {
    let mut model = c.emulator.template_interface(model_id)?;
    if let Some(contents) = model.get_mut("contents").and_then(Value::as_array_mut) {
        for item in contents {
            let is_component = crate::templates::is_type(item, "Component");
            let schema_id = item
                .get("schema")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let (true, Some(id)) = (is_component, schema_id) {
                if let Some(inner) = c.emulator.template_interface(&id) {
                    item["schema"] = inner;
                }
            }
        }
    }
    let name = model
        .get("displayName")
        .cloned()
        .unwrap_or_else(|| Value::String(model_id.to_owned()));
    Some(json!({
        "@id": model_id,
        "@type": ["ModelDefinition", "DeviceModel"],
        "@context": ["dtmi:iotcentral:context;2", "dtmi:dtdl:context;2"],
        "displayName": name,
        "capabilityModel": model,
        "etag": format!("\"{}\"", model_id.len()),
    }))
}

/// Interfaces the emulator knows that no other interface uses as a component and no stored
/// template wraps: the models added from Rust or as plain DTDL.
fn root_interfaces(c: &Central) -> Vec<String> {
    let ids = c.emulator.template_interface_ids();
    let mut used = std::collections::BTreeSet::new();
    for id in &ids {
        if let Some(i) = c.emulator.template_interface(id) {
            for item in i
                .get("contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if crate::templates::is_type(item, "Component") {
                    match item.get("schema") {
                        Some(Value::String(s)) => {
                            used.insert(s.clone());
                        }
                        Some(inline) => {
                            if let Some(s) = inline.get("@id").and_then(Value::as_str) {
                                used.insert(s.to_owned());
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }
    let store = c.store();
    let wrapped: Vec<&str> = store
        .templates
        .values()
        .filter_map(capability_model_id)
        .collect();
    ids.into_iter()
        .filter(|id| !used.contains(id) && !wrapped.contains(&id.as_str()))
        .filter(|id| !store.templates.contains_key(id))
        .collect()
}

/// A template by id: stored, or synthesized from a known root interface.
pub(crate) fn template(c: &Central, id: &str) -> Option<Value> {
    if let Some(doc) = c.store().templates.get(id) {
        return Some(doc.clone());
    }
    synthesize(c, id)
}

async fn list(
    State(c): State<Central>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let mut items: Vec<Value> = c.store().templates.values().cloned().collect();
    items.extend(
        root_interfaces(&c)
            .iter()
            .filter_map(|id| synthesize(&c, id)),
    );
    Ok(Json(paging::page(items, "/api/deviceTemplates", &q, &headers)?).into_response())
}

async fn get_one(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    template(&c, &id)
        .map(|t| Json(t).into_response())
        .ok_or_else(|| ApiError::not_found(format!("Could not find device template {id:?}")))
}

/// Imports a template document or plain DTDL under `id`; returns the stored document. The
/// model is checked first: a malformed one is refused with the reason and nothing changes.
pub(crate) fn import(c: &Central, id: &str, body: &Value) -> Result<Value, ApiError> {
    if id.is_empty() {
        return Err(ApiError::bad_request("empty device template id"));
    }
    let (model, wrapper) = match body.get("capabilityModel") {
        Some(model) => (model.clone(), Some(body)),
        None => (body.clone(), None),
    };
    crate::model_check::validate_document(&model)
        .map_err(|reason| ApiError::bad_request(format!("invalid device template: {reason}")))?;
    let model_id = c
        .emulator
        .add_template(&model.to_string())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut doc = match wrapper {
        Some(w) => w.clone(),
        None => synthesize(c, &model_id)
            .ok_or_else(|| ApiError::bad_request("the model holds no interface"))?,
    };
    doc["@id"] = Value::String(id.to_owned());
    if doc.get("@type").is_none() {
        doc["@type"] = json!(["ModelDefinition", "DeviceModel"]);
    }
    if doc.get("displayName").is_none() {
        doc["displayName"] = Value::String(id.to_owned());
    }
    doc["etag"] = Value::String(etag());
    c.store().templates.insert(id.to_owned(), doc.clone());
    Ok(doc)
}

async fn put(State(c): State<Central>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let doc = import(&c, &id, &body)?;
    c.changed();
    Ok(Json(doc).into_response())
}

async fn remove(State(c): State<Central>, Path(id): Path<String>) -> ApiResult {
    let in_use = c
        .store()
        .devices
        .iter()
        .any(|(_, d)| d.template.as_deref() == Some(id.as_str()));
    if in_use {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("device template {id:?} is assigned to devices"),
        ));
    }
    let stored = c.store().templates.remove(&id);
    let model_id = match &stored {
        Some(doc) => capability_model_id(doc).map(str::to_owned),
        None if c.emulator.template_interface(&id).is_some() => Some(id.clone()),
        None => {
            return Err(ApiError::not_found(format!(
                "Could not find device template {id:?}"
            )))
        }
    };
    if let Some(model_id) = model_id {
        let still_wrapped = c
            .store()
            .templates
            .values()
            .any(|d| capability_model_id(d) == Some(model_id.as_str()));
        if !still_wrapped {
            c.emulator.remove_template_interfaces(&[model_id]);
        }
    }
    c.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Central {
    /// Imports a device template: IoT Central's template document (its `@id` is the template
    /// id, else the capability model's) or a plain DTDL model (one interface or an array;
    /// the first interface's `@id` is the template id). Returns the template id.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::InvalidConfig`](crate::EmulatorError::InvalidConfig) with the reason
    /// when the text is not JSON or not a valid model; nothing is changed then.
    pub fn import_template(&self, json_text: &str) -> Result<String, crate::EmulatorError> {
        let invalid = |m: String| crate::EmulatorError::InvalidConfig(m);
        let body: Value = serde_json::from_str(json_text)
            .map_err(|e| invalid(format!("template is not JSON: {e}")))?;
        let id = if let Some(model) = body.get("capabilityModel") {
            body.get("@id")
                .or_else(|| model.get("@id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            match &body {
                Value::Array(items) => items.first().and_then(|i| i.get("@id")),
                one => one.get("@id"),
            }
            .and_then(Value::as_str)
            .map(str::to_owned)
        }
        .ok_or_else(|| invalid("the template has no string \"@id\"".into()))?;
        import(self, &id, &body).map_err(|e| invalid(e.message))?;
        self.changed();
        Ok(id)
    }
}
