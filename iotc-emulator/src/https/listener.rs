//! The HTTPS listener: TLS accept, HTTP/1.1, and routing of each request to the hub API, DPS
//! REST, the blob store or a WebSocket upgrade.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{dps, hub, websocket};
use crate::error::HubError;
use crate::state::Shared;
use crate::tls::{Accepted, PeerCert};

/// Largest request body accepted by the hub and DPS APIs (a 256 KB batch plus JSON framing).
const MAX_API_BODY: usize = 512 * 1024;
/// Largest blob accepted in one `PUT`.
const MAX_BLOB: usize = 64 * 1024 * 1024;

/// What every request of one connection shares.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cert: Option<PeerCert>,
    pub(crate) peer: SocketAddr,
}

/// A response with a whole body.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Runs the accept loop of the HTTPS listener until shutdown.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    crate::tls::serve(shared, listener, "HTTPS", handle).await;
    tracing::debug!("HTTPS listener stopped");
}

/// Serves HTTP/1.1 on one TLS connection.
async fn handle(shared: Arc<Shared>, accepted: Accepted) {
    let Accepted {
        stream, cert, peer, ..
    } = accepted;
    let timeout = shared.settings.handshake_timeout;
    let ctx = Arc::new(ConnCtx { shared, cert, peer });
    let service = hyper::service::service_fn(move |request| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(route(ctx, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    let served = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "HTTPS connection ended");
    }
}

/// Sends a request to its handler by path.
async fn route(ctx: Arc<ConnCtx>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    if path == "/$iothub/websocket" {
        return websocket::upgrade(ctx, request);
    }
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or("").to_owned();
    let segments: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (parts, body) = request.into_parts();
    let limit = if method == Method::PUT && seg.first() == Some(&crate::files::CONTAINER) {
        MAX_BLOB
    } else {
        MAX_API_BODY
    };
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let call = Call {
        ctx: &ctx,
        method: &method,
        query: &query,
        headers: &parts.headers,
        body,
    };
    tracing::debug!(peer = %ctx.peer, %method, %path, "HTTPS request");
    match seg.as_slice() {
        ["devices", device_id, rest @ ..] => hub::handle(call, device_id, rest),
        [container, blob @ ..] if *container == crate::files::CONTAINER && !blob.is_empty() => {
            hub::put_blob(call, &blob.join("/"))
        }
        [scope, "registrations", registration_id, rest @ ..] => {
            dps::handle(call, scope, registration_id, rest)
        }
        _ => plain(StatusCode::NOT_FOUND, "no such resource"),
    }
}

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
