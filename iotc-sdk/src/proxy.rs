//! HTTP proxies: [`ProxyConfig`] (an `http://[user:pass@]host:port` proxy with optional basic
//! authentication) and the HTTP CONNECT tunnel the SDK opens through one.
//!
//! A proxy carries the protocols that run on TLS over a plain byte stream to port 443: MQTT and
//! AMQP over WebSockets, HTTPS (the hub, file upload) and DPS over each of them. The SDK asks
//! the proxy for a tunnel to the service's host and port (`CONNECT host:port`), then runs TLS
//! end to end through it: the proxy sees only the host name and encrypted bytes. MQTT on 8883
//! and AMQP on 5671 do not go through a proxy (nor do they in Azure's official SDKs); asking
//! for one is [`Error::Unsupported`].
//!
//! Failures of the proxy itself are [`Error::Proxy`], with the proxy's
//! `host:port` (never its password) and a [`ProxyErrorKind`].
// The tunnel is for AMQP over WebSockets and HTTPS; without either only the configuration
// and its check are left (MQTT over WebSockets tunnels with rumqttc's own CONNECT).
#![cfg_attr(not(any(feature = "amqp", feature = "https")), allow(dead_code))]

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth::Secret;
pub use crate::error::ProxyErrorKind;
use crate::{Error, Result};

/// The most a proxy's answer to CONNECT (status line and headers) may take.
const MAX_RESPONSE: usize = 8 * 1024;

/// The most headers read from a proxy's answer.
const MAX_HEADERS: usize = 32;

/// An HTTP proxy that tunnels the device's connections with `CONNECT`, with optional basic
/// authentication (`Proxy-Authorization: Basic …`).
///
/// ```
/// use iotc_sdk::ProxyConfig;
/// let proxy: ProxyConfig = "http://user:secret@proxy.example:3128".parse()?;
/// assert_eq!(proxy.address(), "proxy.example:3128");
/// assert_eq!(proxy.username(), Some("user"));
/// // The password never shows in `Debug` or `Display`.
/// assert!(!format!("{proxy:?} {proxy}").contains("secret"));
/// # Ok::<(), iotc_sdk::Error>(())
/// ```
#[derive(Clone)]
pub struct ProxyConfig {
    host: String,
    port: u16,
    credentials: Option<(String, Secret)>,
}

impl ProxyConfig {
    /// The proxy at `host:port`, without authentication.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ProxyConfig {
            host: host.into(),
            port,
            credentials: None,
        }
    }

    /// Authenticates to the proxy with `username` and `password` (HTTP basic authentication).
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), Secret::new(password)));
        self
    }

    /// Parses `http://[user:pass@]host[:port]` (port 80 when not given). User name and password
    /// may be percent-encoded.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for anything else: another scheme (an `https://` proxy is not
    /// supported), a path or query, no host, a user name with `:`. The message never repeats
    /// the password.
    pub fn from_url(url: &str) -> Result<Self> {
        let invalid = |why: &str| Error::Config(format!("invalid proxy URL: {why}"));
        let parsed = url::Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(invalid(&format!(
                "the scheme is `{}`; only `http://` proxies are supported",
                parsed.scheme()
            )));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("no host")),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(invalid("a proxy URL has no path or query"));
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        let mut proxy = ProxyConfig::new(host, port);
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid("the user name or password is not UTF-8"))
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            let username = decode(parsed.username())?;
            if username.contains(':') {
                return Err(invalid("the user name contains `:`"));
            }
            let password = decode(parsed.password().unwrap_or_default())?;
            proxy = proxy.basic_auth(username, password);
        }
        Ok(proxy)
    }

    /// The proxy's host name or IP address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` (an IPv6 address in brackets), as errors name the proxy.
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The user name of basic authentication, if any.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }

    /// The password of basic authentication, if any. A secret: do not log it.
    pub fn password(&self) -> Option<&Secret> {
        self.credentials.as_ref().map(|(_, password)| password)
    }

    /// The proxy's URL without credentials: `http://host:port`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// The error for `kind`, naming this proxy.
    pub(crate) fn error(&self, kind: ProxyErrorKind) -> Error {
        Error::Proxy {
            proxy: self.address(),
            kind,
        }
    }

    /// The value of the `Proxy-Authorization` header, if the proxy has credentials.
    fn authorization(&self) -> Option<String> {
        self.credentials.as_ref().map(|(user, password)| {
            let pair = format!("{user}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username())
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `http://host:port`, without user name or password.
impl fmt::Display for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

impl FromStr for ProxyConfig {
    type Err = Error;

    /// As [`ProxyConfig::from_url`].
    fn from_str(s: &str) -> Result<Self> {
        ProxyConfig::from_url(s)
    }
}

/// `host:port`, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Opens TCP to `proxy` and a CONNECT tunnel through it to `host:port`; the returned stream
/// carries the bytes to `host:port` (the caller runs TLS on it). The caller bounds the time.
///
/// # Errors
///
/// [`Error::Proxy`] when the proxy cannot be reached, asks for (other) credentials (407),
/// refuses the tunnel (any other status) or does not answer in HTTP; [`Error::Config`] for a
/// host name a request line cannot carry.
pub(crate) async fn tunnel(proxy: &ProxyConfig, host: &str, port: u16) -> Result<TcpStream> {
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Config(format!(
            "cannot ask a proxy for a tunnel to host {host:?}"
        )));
    }
    let mut tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .map_err(|e| proxy.error(ProxyErrorKind::Unreachable(e)))?;
    let _ = tcp.set_nodelay(true);
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = proxy.authorization() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&authorization);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| proxy.error(ProxyErrorKind::Unreachable(e)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| proxy.error(ProxyErrorKind::Unreachable(e)))?;
        if n == 0 {
            return Err(proxy.error(ProxyErrorKind::InvalidResponse(
                "the proxy closed the connection before answering CONNECT".into(),
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf).map_err(|kind| proxy.error(kind))? {
            None => continue,
            Some((status, length)) => {
                return match status {
                    200..=299 if length == buf.len() => {
                        tracing::debug!(proxy = %proxy.address(), %target, "proxy tunnel open");
                        Ok(tcp)
                    }
                    // Nothing may follow the answer before the client speaks (TLS first).
                    200..=299 => Err(proxy.error(ProxyErrorKind::InvalidResponse(
                        "the proxy sent data after its answer to CONNECT".into(),
                    ))),
                    // A 401 to CONNECT is the proxy's too: the service has not been reached.
                    401 | 407 => Err(proxy.error(ProxyErrorKind::AuthenticationRequired)),
                    status => Err(proxy.error(ProxyErrorKind::Refused(status))),
                };
            }
        }
    }
}

/// Reads a proxy's answer to CONNECT: `Some((status, header length))` once the status line and
/// headers are complete, `None` while more bytes are needed.
fn parse_response(buf: &[u8]) -> Result<Option<(u16, usize)>, ProxyErrorKind> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(length)) => {
            let status = response.code.ok_or_else(|| {
                ProxyErrorKind::InvalidResponse("no status in the proxy's answer".into())
            })?;
            Ok(Some((status, length)))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE => Ok(None),
        Ok(httparse::Status::Partial) => Err(ProxyErrorKind::InvalidResponse(format!(
            "the proxy's answer to CONNECT is longer than {MAX_RESPONSE} bytes"
        ))),
        Err(e) => Err(ProxyErrorKind::InvalidResponse(format!(
            "the proxy's answer to CONNECT is not HTTP: {e}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn urls_parse_with_and_without_credentials() {
        let plain = ProxyConfig::from_url("http://127.0.0.1:3128").unwrap();
        assert_eq!(
            (plain.host(), plain.port(), plain.username()),
            ("127.0.0.1", 3128, None)
        );
        assert!(plain.password().is_none());
        assert_eq!(plain.to_string(), "http://127.0.0.1:3128");

        let auth: ProxyConfig = "http://us%40er:p%3Ass@proxy.example:8080/".parse().unwrap();
        assert_eq!(auth.host(), "proxy.example");
        assert_eq!(auth.port(), 8080);
        assert_eq!(auth.username(), Some("us@er"));
        assert_eq!(auth.password().map(Secret::expose), Some("p:ss"));
        assert_eq!(
            auth.authorization().as_deref(),
            Some("Basic dXNAZXI6cDpzcw==")
        );

        let default_port = ProxyConfig::from_url("http://proxy.example").unwrap();
        assert_eq!(default_port.port(), 80);
        let ipv6 = ProxyConfig::from_url("http://[::1]:3128").unwrap();
        assert_eq!(ipv6.host(), "::1");
        assert_eq!(ipv6.address(), "[::1]:3128");
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_password() {
        for url in [
            "https://user:hunter2@proxy.example:443",
            "socks5://proxy.example:1080",
            "http://user:hunter2@proxy.example:3128/path",
            "http://proxy.example:3128/?q=1",
            "proxy.example:3128",
            "http://user:hunter2@:3128",
            "http://us%3Aer:hunter2@proxy.example:3128",
        ] {
            let error = ProxyConfig::from_url(url).expect_err(url);
            assert!(matches!(error, Error::Config(_)), "{url}: {error:?}");
            assert!(!error.to_string().contains("hunter2"), "{url}: {error}");
        }
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let proxy = ProxyConfig::new("proxy.example", 3128).basic_auth("user", "hunter2");
        let shown = format!("{proxy:?} {proxy} {}", proxy.address());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("user") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn connect_answers_parse() {
        assert_eq!(
            parse_response(b"HTTP/1.0 200 Connection established\r\n\r\n").unwrap(),
            Some((200, 39))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nProxy-Agent: x\r\n\r\n").unwrap(),
            Some((200, 35))
        );
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert_eq!(parse_response(b"HTTP/1.").unwrap(), None);
        assert_eq!(
            parse_response(
                b"HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            )
            .unwrap()
            .map(|(status, _)| status),
            Some(407)
        );
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProxyErrorKind::InvalidResponse(_))
        ));
        let endless = [b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'a'; MAX_RESPONSE]].concat();
        assert!(matches!(
            parse_response(&endless),
            Err(ProxyErrorKind::InvalidResponse(_))
        ));
    }

    /// A one-shot proxy on loopback: reads the CONNECT request, answers `answer`, and returns
    /// the request it read.
    async fn one_shot(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client closed before the end of its request");
                request.extend_from_slice(&chunk[..n]);
            }
            socket.write_all(answer).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_tunnel_sends_connect_with_basic_auth() {
        let (port, server) = one_shot(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
        let proxy = ProxyConfig::new("127.0.0.1", port).basic_auth("user", "pass");
        tunnel(&proxy, "hub.example", 443).await.unwrap();
        let request = server.await.unwrap();
        assert_eq!(
            request,
            "CONNECT hub.example:443 HTTP/1.1\r\nHost: hub.example:443\r\n\
             Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn refusals_and_an_unreachable_proxy_are_typed() {
        let (port, _server) = one_shot(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let proxy = ProxyConfig::new("127.0.0.1", port);
        let error = tunnel(&proxy, "hub.example", 443).await.unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Proxy { proxy, kind: ProxyErrorKind::AuthenticationRequired }
                    if *proxy == format!("127.0.0.1:{port}")
            ),
            "{error:?}"
        );
        assert!(!error.is_retryable());
        assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));

        // tinyproxy answers wrong credentials with 401: still the proxy's refusal.
        let (port, _server) = one_shot(b"HTTP/1.0 401 Unauthorized\r\n\r\n").await;
        let error = tunnel(&ProxyConfig::new("127.0.0.1", port), "hub.example", 443)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Proxy {
                    kind: ProxyErrorKind::AuthenticationRequired,
                    ..
                }
            ),
            "{error:?}"
        );

        let (port, _server) = one_shot(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
        let error = tunnel(&ProxyConfig::new("127.0.0.1", port), "hub.example", 443)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Proxy {
                    kind: ProxyErrorKind::Refused(403),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.is_retryable());

        let (port, _server) = one_shot(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        let error = tunnel(&ProxyConfig::new("127.0.0.1", port), "hub.example", 443)
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error:?}");

        // A port nobody listens on: bind one, learn its number, close it.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = tunnel(&ProxyConfig::new("127.0.0.1", closed), "hub.example", 443)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Proxy {
                    kind: ProxyErrorKind::Unreachable(_),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.is_retryable());
    }

    #[tokio::test]
    async fn a_host_with_line_breaks_is_refused_before_sending() {
        let proxy = ProxyConfig::new("127.0.0.1", 9);
        let error = tunnel(&proxy, "hub\r\nX: y", 443).await.unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
    }
}
