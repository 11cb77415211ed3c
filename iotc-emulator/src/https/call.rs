//! What the HTTPS handlers share: the connection's context, one request ([`Call`]), and the
//! answers they build ([`Reply`], IoT hub's error shape).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::error::HubError;
use crate::state::Shared;
use crate::tls::PeerCert;

/// What every request of one connection shares.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cert: Option<PeerCert>,
    pub(crate) peer: SocketAddr,
}

/// A response with a whole body.
pub(crate) type Reply = Response<Full<Bytes>>;

/// One request, its body read.
pub(crate) struct Call<'a> {
    pub(crate) ctx: &'a ConnCtx,
    pub(crate) method: &'a Method,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a hyper::HeaderMap,
    pub(crate) body: Bytes,
}

impl Call<'_> {
    /// A header's value as text, if present and valid UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of query parameter `name`: `Some("")` for a bare `name`.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        crate::wire::parse_query(self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.unwrap_or_default())
    }

    /// Whether a non-empty `api-version` was given (the service requires one).
    pub(crate) fn has_api_version(&self) -> bool {
        self.query_param("api-version")
            .is_some_and(|v| !v.is_empty())
    }
}

/// A plain-text answer.
pub(crate) fn plain(status: StatusCode, text: &str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    set(&mut response, "content-type", "text/plain; charset=utf-8");
    response
}

/// A JSON answer.
pub(crate) fn json(status: u16, body: &serde_json::Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    set(
        &mut response,
        "content-type",
        "application/json; charset=utf-8",
    );
    response
}

/// An empty answer.
pub(crate) fn empty(status: StatusCode) -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// IoT hub's error answer: the status, `iothub-errorcode`, and `{"Message": "ErrorCode:…;…"}`.
pub(crate) fn hub_error(error: &HubError) -> Reply {
    let body = serde_json::json!({
        "Message": format!("ErrorCode:{};{}", error.code, error.message),
        "ExceptionMessage": format!("Tracking ID:{}-TimeStamp:{}", crate::ids::random_hex(16),
            crate::ids::service_time(time::OffsetDateTime::now_utc())),
    });
    let mut response = json(error.status, &body);
    set(&mut response, "iothub-errorcode", &error.code.to_string());
    response
}

/// Sets a header, skipping values HTTP cannot carry.
pub(crate) fn set(response: &mut Reply, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        response.headers_mut().insert(name, value);
    }
}
