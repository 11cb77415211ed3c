//! The HTTPS listener: TLS accept, HTTP/1.1, and routing of each request to the hub API, DPS
//! REST, the blob store or a WebSocket upgrade.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::call::{plain, Call, ConnCtx, Reply};
use super::{dps, hub, websocket};
use crate::state::Shared;
use crate::tls::Accepted;

/// Largest request body accepted by the hub and DPS APIs (a 256 KB batch plus JSON framing).
const MAX_API_BODY: usize = 512 * 1024;
/// Largest blob accepted in one `PUT`.
const MAX_BLOB: usize = 64 * 1024 * 1024;

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
