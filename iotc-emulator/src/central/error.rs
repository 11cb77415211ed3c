//! IoT Central's error body: `{"error":{"code","message","requestId","time"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ServiceError;

/// An error answer of the IoT Central API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400 BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// `404 NotFound`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// `404` for a device id nobody created or provisioned.
    pub(crate) fn no_device(id: &str) -> Self {
        ApiError::not_found(format!("Could not find device with id {id:?}"))
    }

    /// `401 Unauthorized`.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match &e {
            ServiceError::DeviceNotFound(id) => ApiError::no_device(id),
            ServiceError::InvalidRequest(_) => ApiError::bad_request(e.to_string()),
            _ => ApiError::new(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "ServiceError",
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "requestId": crate::ids::random_uuid(),
            "time": crate::ids::service_time(time::OffsetDateTime::now_utc()),
        }});
        (self.status, Json(body)).into_response()
    }
}

/// What the handlers return.
pub(crate) type ApiResult = Result<Response, ApiError>;
