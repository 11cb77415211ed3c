//! API tokens: every `/api` request carries `Authorization: <token>`.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::Central;
use super::error::ApiError;

/// Refuses a request without the API token (`401`), in IoT Central's error shape.
pub(crate) async fn require_token(
    State(central): State<Central>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let expected = central.api_token().as_bytes();
    let ok = given.len() == expected.len() && openssl::memcmp::eq(given, expected);
    if !ok {
        return ApiError::unauthorized("missing or invalid API token in Authorization")
            .into_response();
    }
    next.run(request).await
}

/// `404` for a path the API does not have.
pub(crate) async fn no_route() -> Response {
    ApiError::not_found("no such API operation").into_response()
}
