//! IoT Central's data-plane REST API (api-version `2022-07-31`) under `/api` on the service
//! port: devices, device templates, properties, commands, telemetry last known values,
//! relationships, attestation and enrollment groups.
//!
//! | Module | Operations |
//! | --- | --- |
//! | `devices` | devices (list, get, create, update, delete), attestation, relationships |
//! | `templates` | device templates (list, get, create or update, delete) |
//! | `properties` | properties (get, replace, update; per component and module) |
//! | `commands` | commands (run, history; per component and module) |
//! | `telemetry` | telemetry last known values (per component and module) |
//! | `enrollment` | enrollment groups: SAS keys, X.509 certificates |
//!
//! [`Central`] and the helpers every module shares live in `app`, below the handlers.
//!
//! Every request needs `Authorization: <API token>` ([`Central::api_token`]); errors are
//! IoT Central's `{"error":{"code","message","requestId"}}`; lists are
//! `{"value":[…],"nextLink":…}` pages.

mod app;
mod attestation;
mod auth;
mod commands;
mod devices;
mod enrollment;
mod error;
mod paging;
mod persist;
mod properties;
pub(crate) mod store;
mod telemetry;
mod templates;

use axum::Router;

pub use app::{Central, API_VERSION};
pub(crate) use devices::device_ids;
pub(crate) use error::ApiError;
pub use persist::saved_identity;

/// The `/api` routes.
pub(crate) fn router(central: Central) -> Router {
    let api = Router::new()
        .merge(devices::routes())
        .merge(templates::routes())
        .merge(properties::routes())
        .merge(commands::routes())
        .merge(telemetry::routes())
        .merge(enrollment::routes())
        .fallback(auth::no_route)
        .layer(axum::middleware::from_fn_with_state(
            central.clone(),
            auth::require_token,
        ))
        .with_state(central);
    Router::new().nest("/api", api)
}
