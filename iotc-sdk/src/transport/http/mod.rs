//! HTTPS, on `azure_core`'s HTTP pipeline: the IoT hub device API ([`hub`], protocol.md §6),
//! DPS over REST ([`crate::provisioning`], §3.1) and file upload ([`upload`], §6.4).
//!
//! The pipeline's transport is a `reqwest` client built on the SDK's shared native-tls
//! connector, so the trusted roots of [`TlsConfig`] (an emulator's CA) and an X.509 client
//! certificate apply exactly as they do to MQTT. `azure_core`'s own client (`new_http_client`)
//! cannot take custom roots or a client certificate. The pipeline's retries are off: the
//! connection supervisor retries with the device's [`RetryPolicy`](crate::retry::RetryPolicy).

pub(crate) mod hub;
pub(crate) mod upload;
pub(crate) mod wire;

use std::sync::Arc;
use std::time::Duration;

use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, RetryOptions, Transport, Url,
};
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::auth::{RequestToken, X509Identity};
use crate::proxy::ProxyConfig;
use crate::tls::TlsConfig;
use crate::{Error, Result};

/// Characters kept as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (a device id, a lock token).
pub(crate) fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A response, read whole.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: azure_core::http::headers::Headers,
    pub(crate) body: Bytes,
}

impl Response {
    /// The value of header `name` (lower-case), if present.
    pub(crate) fn header(&self, name: &'static str) -> Option<&str> {
        self.headers.get_optional_str(&name.into())
    }

    /// `Retry-After` in whole seconds, if present.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse().ok())
    }

    /// The error for a status the caller does not handle itself: 401/403 unauthorized, 404
    /// not found, 429 throttled, anything else rejected with the service's message.
    pub(crate) fn error(&self) -> Error {
        let message = wire::error_message(&self.body, self.header("x-ms-error-code"));
        let retry_after = self.retry_after().map(Duration::from_secs);
        Error::for_status(self.status, message, retry_after)
    }
}

/// One HTTPS endpoint (a hub, DPS or a blob store) with its authentication.
pub(crate) struct HttpsClient {
    pipeline: Pipeline,
    timeouts: Timeouts,
    /// `https://host:port`, no trailing slash.
    base: String,
    auth: RequestToken,
    /// The HTTP proxy the requests go through, if any.
    proxy: Option<ProxyConfig>,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Timeouts of an [`HttpsClient`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
}

impl HttpsClient {
    /// A client for `https://{host}:{port}` trusting the roots of `tls`, presenting `identity`
    /// when given, through `proxy` when given.
    pub(crate) fn new(
        host: &str,
        port: u16,
        tls: &TlsConfig,
        identity: Option<&X509Identity>,
        auth: RequestToken,
        timeouts: Timeouts,
        proxy: Option<&ProxyConfig>,
    ) -> Result<Self> {
        let connector = match identity {
            Some(identity) => tls.connector_with_identity(identity)?,
            None => tls.connector()?,
        };
        let mut builder = crate::tls::reqwest(reqwest::Client::builder(), connector);
        if let Some(proxy) = proxy {
            builder = builder.proxy(reqwest_proxy(proxy)?);
        }
        let client = builder
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTPS client: {e}")))?;
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(client))),
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            Vec::new(),
            None,
        );
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Ok(HttpsClient {
            pipeline,
            timeouts,
            base: format!("https://{host}:{port}"),
            auth,
            proxy: proxy.cloned(),
        })
    }

    /// Sends `method path_and_query` with `headers` and `body`; any status comes back as a
    /// [`Response`], transport failures as [`Error::Connection`] or [`Error::Timeout`].
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let url = Url::parse(&format!("{}{path_and_query}", self.base))
            .map_err(|e| Error::Config(format!("invalid request URL: {e}")))?;
        self.send_url(method, url, headers, body).await
    }

    /// As [`send`](Self::send), to an absolute URL (a blob SAS URI).
    pub(crate) async fn send_url(
        &self,
        method: Method,
        url: Url,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let target = (
            url.host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_owned(),
            url.port_or_known_default().unwrap_or(443),
        );
        let mut request = azure_core::http::Request::new(url, method);
        if let Some(token) = self.auth.current() {
            request.insert_header("authorization", token);
        }
        for (name, value) in headers {
            request.insert_header(name, value);
        }
        match body {
            Some(body) => request.set_body(body),
            // HTTP/1.1 servers may refuse a POST or PUT without a length.
            None if matches!(method, Method::Post | Method::Put) => request.set_body(Vec::new()),
            None => {}
        }
        let options = PipelineSendOptions {
            skip_checks: true,
            ..PipelineSendOptions::default()
        };
        let response = match self
            .pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return Err(match &self.proxy {
                    Some(proxy) => proxy_error(e, proxy, &target.0, target.1, self.timeouts).await,
                    None => transport_error(e, self.timeouts.request),
                })
            }
        };
        let (status, headers, body) = response.deconstruct();
        Ok(Response {
            status: u16::from(status),
            headers,
            body: body.into(),
        })
    }
}

/// reqwest's setting for `proxy`: every request (all are HTTPS) through a CONNECT tunnel,
/// with basic authentication when the proxy has credentials.
fn reqwest_proxy(proxy: &ProxyConfig) -> Result<reqwest::Proxy> {
    let mut setting = reqwest::Proxy::all(proxy.url())
        .map_err(|e| Error::Config(format!("invalid proxy {}: {e}", proxy.address())))?;
    if let (Some(username), Some(password)) = (proxy.username(), proxy.password()) {
        setting = setting.basic_auth(username, password.expose());
    }
    Ok(setting)
}

/// Sorts the pipeline's errors for a client with a proxy: reqwest's tunnel errors (which
/// carry no status but for 407) become [`Error::Proxy`]. For a tunnel the proxy refused
/// with another status, one CONNECT of the SDK's own asks the proxy again to learn it.
async fn proxy_error(
    error: azure_core::Error,
    proxy: &ProxyConfig,
    host: &str,
    port: u16,
    timeouts: Timeouts,
) -> Error {
    use crate::proxy::ProxyErrorKind;
    use std::error::Error as _;
    let mut tunnel = None;
    let mut io = None;
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        // hyper-util's tunnel error type is private; its messages are not.
        if let Some(what) = text.strip_prefix("tunnel error: ") {
            tunnel.get_or_insert(what.to_owned());
        }
        if let Some(e) = inner.downcast_ref::<std::io::Error>() {
            io.get_or_insert(std::io::Error::new(e.kind(), e.to_string()));
        }
        source = inner.source();
    }
    let Some(what) = tunnel else {
        return transport_error(error, timeouts.request);
    };
    match what.as_str() {
        "proxy authorization required" => proxy.error(ProxyErrorKind::AuthenticationRequired),
        "unsuccessful" => {
            let probe =
                tokio::time::timeout(timeouts.connect, crate::proxy::tunnel(proxy, host, port));
            match probe.await {
                Ok(Err(e @ Error::Proxy { .. })) => e,
                _ => proxy.error(ProxyErrorKind::InvalidResponse(
                    "the proxy refused the tunnel".into(),
                )),
            }
        }
        "failed to create underlying connection" | "io error establishing tunnel" => {
            proxy.error(ProxyErrorKind::Unreachable(io.unwrap_or_else(|| {
                std::io::Error::other("no connection to the proxy")
            })))
        }
        other => proxy.error(ProxyErrorKind::InvalidResponse(format!(
            "the proxy's tunnel failed: {other}"
        ))),
    }
}

/// Sorts the pipeline's errors into the SDK's.
fn transport_error(error: azure_core::Error, timeout: Duration) -> Error {
    use std::error::Error as _;
    let mut source = error.source();
    let mut timed_out = false;
    while let Some(inner) = source {
        if let Some(e) = inner.downcast_ref::<reqwest::Error>() {
            timed_out |= e.is_timeout();
        }
        source = inner.source();
    }
    if timed_out {
        Error::Timeout(timeout, "an HTTPS response")
    } else {
        Error::connection_caused("HTTPS", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("dev-01_a.b~"), "dev-01_a.b~");
        assert_eq!(segment("a b/c%"), "a%20b%2Fc%25");
    }
}
