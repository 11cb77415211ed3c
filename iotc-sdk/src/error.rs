//! The one error type of the SDK, and the error types of credentials and of the IoT Edge
//! environment it wraps (re-exported by `auth` and `edge`). It uses no other module of the
//! crate: every layer may use it.

use std::time::Duration;

/// Result alias used across the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of a layer below the SDK, kept as the cause of an [`Error`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the SDK.
///
/// Variants say whether an operation reached the service: [`Error::Config`] and
/// [`Error::Credentials`] never left the process, [`Error::Connection`] failed before or while
/// talking to the service, [`Error::Rejected`] carries the status the service answered with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SDK was configured wrongly (a missing or invalid option). Nothing was sent.
    #[error("configuration error: {0}")]
    Config(String),

    /// A key, token, connection string or certificate could not be used.
    #[error(transparent)]
    Credentials(#[from] CredentialError),

    /// The IoT Edge module environment is missing or invalid. Nothing was sent.
    #[cfg(feature = "edge")]
    #[error(transparent)]
    Edge(#[from] EdgeError),

    /// The service refused the credentials (bad key, expired token, unknown device,
    /// certificate not trusted). Retrying with the same credentials will not help.
    #[error("unauthorized: {0}")]
    Unauthorized(String),

    /// The service does not know the ID scope, enrollment or device.
    #[error("not found: {0}")]
    NotFound(String),

    /// The service is throttling this client; retry after the given delay.
    #[error("throttled by the service; retry after {retry_after:?}")]
    Throttled {
        /// How long the service asked the client to wait.
        retry_after: Duration,
    },

    /// DPS finished the registration without assigning the device.
    #[error("registration {status}: {message} (error code {error_code:?})")]
    RegistrationFailed {
        /// The registration status DPS reported (`failed`, `disabled`, ...).
        status: String,
        /// The service's error code, such as `400209` for a device IoT Central has not approved.
        error_code: Option<u64>,
        /// The service's message.
        message: String,
    },

    /// The service answered a request with an error status (twin, provisioning request).
    #[error("service returned status {status}: {message}")]
    Rejected {
        /// The HTTP-like status code from the service.
        status: u16,
        /// The body of the service's answer, or a description.
        message: String,
    },

    /// The message is larger than IoT hub accepts (256 KB for telemetry, body and properties
    /// together). Nothing was sent.
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// The size of the message (body plus encoded properties).
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// No answer arrived in time. The request may or may not have reached the service.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),

    /// The network connection could not be made, or broke. The transport, TLS or I/O error
    /// behind it, if any, is the [`source`](std::error::Error::source).
    #[error("connection error: {message}")]
    Connection {
        /// What failed, in the SDK's words.
        message: String,
        /// The error of the layer below (I/O, TLS, WebSocket, MQTT, AMQP, HTTP), if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// A payload could not be serialized or a service answer could not be parsed.
    #[error("serialization error: {0}")]
    Serialization(String),

    /// The transport does not offer this operation (for example twin access over HTTPS).
    #[error("{operation} is not supported by the {transport} transport")]
    Unsupported {
        /// What was asked for.
        operation: &'static str,
        /// The transport in use.
        transport: &'static str,
    },

    /// The HTTP proxy could not be reached, asked for credentials (407), or refused the tunnel
    /// to the service (see [`ProxyConfig`](crate::ProxyConfig)). Nothing reached the service.
    #[error("HTTP proxy {proxy}: {kind}")]
    Proxy {
        /// The proxy's `host:port` (never its credentials).
        proxy: String,
        /// What went wrong.
        #[source]
        kind: ProxyErrorKind,
    },

    /// The device handle was closed, or its connection task has ended.
    #[error("the device connection is closed")]
    Closed,

    /// The offline queue is full (see [`OfflineQueue`](crate::device::OfflineQueue)).
    #[error("the offline queue is full")]
    QueueFull,

    /// [`Device::close`](crate::Device::close) could not deliver everything queued: these
    /// telemetry messages were not sent.
    #[error("closed with {messages} telemetry messages unsent")]
    Unsent {
        /// How many messages were not sent.
        messages: usize,
    },
}

impl Error {
    /// Whether retrying the same operation later may succeed (network errors, throttling,
    /// timeouts and 5xx/429 statuses). Authorization and configuration errors are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::Timeout(..) | Error::Connection { .. } => true,
            Error::Rejected { status, .. } => *status == 429 || *status >= 500,
            Error::Proxy { kind, .. } => kind.is_retryable(),
            _ => false,
        }
    }

    /// The error for a failure status the service answered with, the same on every transport
    /// (HTTP status, MQTT twin/method status, AMQP `status-code`): 401/403 unauthorized, 404 not
    /// found, 429 throttled (after `retry_after`, 1 s when the service gave none), anything else
    /// rejected with the service's message.
    pub(crate) fn for_status(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        match status {
            401 | 403 => Error::Unauthorized(message),
            404 => Error::NotFound(message),
            429 => Error::Throttled {
                retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
            },
            status => Error::Rejected { status, message },
        }
    }

    /// A connection error described by `message`, with no cause below it.
    pub(crate) fn connection(message: impl Into<String>) -> Self {
        Error::Connection {
            message: message.into(),
            source: None,
        }
    }

    /// A connection error described by `message`, caused by `source` (kept as the
    /// [`source`](std::error::Error::source), not formatted away).
    pub(crate) fn connection_caused(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Connection {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The error and every cause below it, `: `-separated, for logs and state reasons.
    pub(crate) fn chain(&self) -> String {
        use std::error::Error as _;
        let mut text = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// Whether this error means the service refused the credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized(_))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serialization(e.to_string())
    }
}

/// What went wrong with an HTTP proxy ([`Error::Proxy`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy could not be reached (no TCP connection), or dropped the connection before
    /// answering. Retryable.
    #[error("cannot reach the proxy")]
    Unreachable(#[source] std::io::Error),

    /// The proxy answered `407 Proxy Authentication Required` (or `401`, which some proxies,
    /// tinyproxy among them, answer to wrong credentials): it needs credentials, or other ones
    /// than those given. Not retryable.
    #[error("the proxy requires other credentials (proxy authentication required)")]
    AuthenticationRequired,

    /// The proxy refused the tunnel with this status: 403 (the proxy's rules forbid the host or
    /// port, not retryable), 502/503/504 (the proxy could not reach the service, retryable).
    #[error("the proxy refused the tunnel with status {0}")]
    Refused(u16),

    /// The proxy's answer to `CONNECT` was not a valid HTTP answer. Retryable.
    #[error("{0}")]
    InvalidResponse(String),
}

impl ProxyErrorKind {
    /// Whether a later attempt through the same proxy may succeed: not after a 407 or 4xx
    /// refusal.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProxyErrorKind::Unreachable(_) | ProxyErrorKind::InvalidResponse(_) => true,
            ProxyErrorKind::AuthenticationRequired => false,
            ProxyErrorKind::Refused(status) => *status == 429 || *status >= 500,
        }
    }
}

/// A key, token, connection string or certificate that cannot be used.
///
/// Messages name what is wrong (which connection-string key is missing, which PEM block is
/// malformed) but never repeat key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A symmetric key is empty or not valid base64 (standard alphabet with `=` padding).
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// A connection string is malformed: a key is missing, duplicated or has a bad value.
    #[error("invalid connection string: {0}")]
    InvalidConnectionString(String),

    /// A certificate or private key could not be read or used.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),

    /// A SAS token could not be parsed.
    #[error("invalid SAS token: {0}")]
    InvalidToken(String),

    /// These credentials cannot replace the device's
    /// ([`Device::update_credentials`](crate::Device::update_credentials)): their kind cannot
    /// work for how the device's identity is fixed (the message says why).
    #[error("credentials cannot be rotated: {0}")]
    NotRotatable(String),
}

#[cfg(feature = "edge")]
/// Why the IoT Edge environment cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// A required variable is not set (or is empty).
    #[error("IoT Edge environment: {0} is not set")]
    MissingVariable(&'static str),
    /// A variable has a value the SDK cannot use.
    #[error("IoT Edge environment: {name} is invalid: {reason}")]
    InvalidVariable {
        /// The variable.
        name: &'static str,
        /// What is wrong (never the value of a secret).
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::Error;

    /// One status, one error, whatever the transport: only 401/403 are refusals of the
    /// credentials (which send a device back to DPS), 404 is "not found", 429 and 5xx are the
    /// hub's passing troubles (retryable, waited out).
    #[test]
    fn statuses_map_to_the_same_errors_on_every_transport() {
        use std::time::Duration;
        let of = |status| Error::for_status(status, "m".into(), None);
        assert!(matches!(of(401), Error::Unauthorized(_)));
        assert!(matches!(of(403), Error::Unauthorized(_)));
        assert!(matches!(of(404), Error::NotFound(_)));
        assert!(matches!(
            of(429),
            Error::Throttled { retry_after } if retry_after == Duration::from_secs(1)
        ));
        assert!(matches!(
            Error::for_status(429, "m".into(), Some(Duration::from_secs(7))),
            Error::Throttled { retry_after } if retry_after == Duration::from_secs(7)
        ));
        for status in [500, 503] {
            let error = of(status);
            assert!(matches!(error, Error::Rejected { status: s, .. } if s == status));
            assert!(error.is_retryable());
            assert!(!error.is_unauthorized());
        }
        assert!(!of(400).is_retryable());
    }

    /// A connection error keeps the I/O, TLS or protocol error below it as its source, and
    /// stays retryable.
    #[test]
    fn connection_errors_keep_their_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let error = Error::connection_caused("I/O", io);
        assert!(error.is_retryable());
        assert_eq!(error.to_string(), "connection error: I/O");
        let source = error.source().expect("the cause is kept");
        assert_eq!(
            source
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::ConnectionReset)
        );
        assert_eq!(error.chain(), "connection error: I/O: reset by peer");
        let plain = Error::connection("the hub closed the connection");
        assert!(plain.source().is_none());
        assert!(plain.is_retryable());
        assert_eq!(plain.chain(), plain.to_string());
    }
}
