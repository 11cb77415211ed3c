//! Error types of the emulator (start-up) and of the service-side API.

/// Errors starting or configuring the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A socket could not be bound or a file could not be written.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS server could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// A certificate could not be generated or parsed (for example an enrollment CA PEM).
    #[error("certificate error: {0}")]
    Certificate(String),
    /// A configuration value or argument is invalid (for example a key that is not base64).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An edge route is malformed or uses what the emulator does not support.
    #[error(transparent)]
    Route(#[from] crate::RouteError),
}

/// Errors of the service-side operations (twin update, command invoke, C2D send), mirroring the
/// IoT hub service API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The device is not in the hub registry (`404001 DeviceNotFound`).
    #[error("device {0} not found")]
    DeviceNotFound(String),
    /// The device is not connected or has not subscribed to the needed topic
    /// (`404103 DeviceNotOnline`).
    #[error("device {0} is not online")]
    DeviceNotOnline(String),
    /// The device did not answer the direct method in time (`504`).
    #[error("timed out waiting for the device to answer")]
    Timeout,
    /// The request is invalid (bad method name, patch not an object, limits exceeded; `400`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The device's C2D queue already holds 50 messages (`403004
    /// DeviceMaximumQueueDepthExceeded`).
    #[error("C2D queue of device {0} is full")]
    QueueFull(String),
}

impl ServiceError {
    /// The HTTP status the IoT hub service API would answer with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::DeviceNotFound(_) | ServiceError::DeviceNotOnline(_) => 404,
            ServiceError::Timeout => 504,
            ServiceError::InvalidRequest(_) => 400,
            ServiceError::QueueFull(_) => 403,
        }
    }

    /// The detailed IoT hub error code (`status * 1000 + n`, e.g. `404103`).
    pub fn error_code(&self) -> u32 {
        match self {
            ServiceError::DeviceNotFound(_) => 404_001,
            ServiceError::DeviceNotOnline(_) => 404_103,
            ServiceError::Timeout => 504_101,
            ServiceError::InvalidRequest(_) => 400_004,
            ServiceError::QueueFull(_) => 403_004,
        }
    }
}

/// An IoT hub error: HTTP-style status, hub error code and message (protocol.md 4.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HubError {
    pub(crate) status: u16,
    pub(crate) code: u32,
    pub(crate) message: String,
}

impl HubError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> HubError {
        HubError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The error body IoT hub sends: `{"errorCode": …, "message": …}`.
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({"errorCode": self.code, "message": self.message})
    }
}
