//! The workload API client (protocol.md 8.2): HTTP/1.1 on hyper, over the Unix socket or TCP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{WorkloadSettings, WorkloadUri};
use crate::auth::SasToken;
use crate::{Error, Result};

/// Path-segment encoding of module and generation ids (`$edgeAgent` → `%24edgeAgent`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The largest answer read from the workload API (a trust bundle of a few certificates).
const MAX_BODY: usize = 1024 * 1024;

/// How long one workload API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs tokens and fetches the trust bundle for one module.
#[derive(Debug)]
pub(crate) struct WorkloadClient {
    settings: WorkloadSettings,
}

#[derive(Deserialize)]
struct SignResponse {
    digest: String,
}

#[derive(Deserialize)]
struct TrustBundle {
    certificate: String,
}

impl crate::auth::ExternalSigner for WorkloadClient {
    fn sign<'a>(&'a self, resource: &'a str, ttl: Duration) -> crate::auth::SignFuture<'a> {
        Box::pin(self.token(resource, ttl))
    }
}

impl WorkloadClient {
    pub(crate) fn new(settings: WorkloadSettings) -> WorkloadClient {
        WorkloadClient { settings }
    }

    /// A SAS token for `resource_uri` valid for `ttl`, signed by the workload API with the
    /// module's primary key (no `skn`).
    pub(crate) async fn token(&self, resource_uri: &str, ttl: Duration) -> Result<SasToken> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expiry = now.saturating_add(ttl.as_secs());
        let to_sign = SasToken::string_to_sign(resource_uri, expiry);
        let body = serde_json::json!({
            "keyId": "primary",
            "algo": "HMACSHA256",
            "data": STANDARD.encode(to_sign.as_bytes()),
        });
        let path = format!(
            "/modules/{}/genid/{}/sign?api-version={}",
            utf8_percent_encode(&self.settings.module_id, SEGMENT),
            utf8_percent_encode(&self.settings.generation_id, SEGMENT),
            utf8_percent_encode(&self.settings.api_version, SEGMENT),
        );
        let answer = self
            .call(Method::POST, &path, Some(serde_json::to_vec(&body)?))
            .await?;
        let signed: SignResponse = serde_json::from_slice(&answer).map_err(|e| {
            Error::Serialization(format!(
                "workload API sign answer is not {{\"digest\"}}: {e}"
            ))
        })?;
        if STANDARD.decode(&signed.digest).is_err() {
            return Err(Error::Serialization(
                "workload API sign answer: the digest is not base64".into(),
            ));
        }
        Ok(SasToken::from_signature(
            resource_uri,
            expiry,
            &signed.digest,
        ))
    }

    /// The trust bundle: the PEM certificates to trust for the edge hub.
    pub(crate) async fn trust_bundle(&self) -> Result<Vec<u8>> {
        let path = format!(
            "/trust-bundle?api-version={}",
            utf8_percent_encode(&self.settings.api_version, SEGMENT)
        );
        let answer = self.call(Method::GET, &path, None).await?;
        let bundle: TrustBundle = serde_json::from_slice(&answer).map_err(|e| {
            Error::Serialization(format!(
                "workload API trust bundle is not {{\"certificate\"}}: {e}"
            ))
        })?;
        Ok(bundle.certificate.into_bytes())
    }

    /// One request on a new connection; the body of a `2xx` answer.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let host = match &self.settings.workload_uri {
            WorkloadUri::Unix(_) => "localhost".to_owned(),
            WorkloadUri::Http { host, port } => format!("{host}:{port}"),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, host);
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Config(format!("workload API request: {e}")))?;
        let exchange = async {
            match &self.settings.workload_uri {
                WorkloadUri::Unix(socket) => {
                    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
                        Error::connection_caused(
                            format!("workload API socket {}", socket.display()),
                            e,
                        )
                    })?;
                    send(stream, request).await
                }
                WorkloadUri::Http { host, port } => {
                    let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|e| {
                            Error::connection_caused(format!("workload API {host}:{port}"), e)
                        })?;
                    send(stream, request).await
                }
            }
        };
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(CALL_TIMEOUT, "the workload API")))?;
        if !status.is_success() {
            return Err(Error::Rejected {
                status: status.as_u16(),
                message: format!(
                    "workload API: {}",
                    String::from_utf8_lossy(&body[..body.len().min(512)])
                ),
            });
        }
        Ok(body)
    }
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| Error::connection_caused("workload API", e);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(failed)?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(failed)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| Error::connection_caused("workload API answer", e))?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}
