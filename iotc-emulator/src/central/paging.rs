//! `{"value": [...], "nextLink": "..."}` collections with IoT Central's `maxpagesize` and a
//! continuation token.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::error::ApiError;

/// Items per page when the request does not say (`maxpagesize`).
pub(crate) const DEFAULT_PAGE: usize = 100;
/// The largest page a request may ask for.
pub(crate) const MAX_PAGE: usize = 1000;
/// The continuation parameter of a `nextLink`.
const SKIP: &str = "$skiptoken";

/// One page of `items` for a request to `path` with `query`; `nextLink` (absolute, on the host
/// the request named) when items remain.
pub(crate) fn page(
    items: Vec<Value>,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Value, ApiError> {
    let size = match query.get("maxpagesize") {
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("maxpagesize must be from 1 to {MAX_PAGE}"))
            })?,
        None => DEFAULT_PAGE,
    };
    let skip = match query.get(SKIP) {
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("invalid continuation token"))?,
        None => 0,
    };
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
    let mut out = json!({ "value": value });
    if skip + size < total {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let version = query
            .get("api-version")
            .map_or(super::app::API_VERSION, String::as_str);
        out["nextLink"] = Value::String(format!(
            "http://{host}{path}?api-version={version}&maxpagesize={size}&{SKIP}={}",
            skip + size
        ));
    }
    Ok(out)
}
