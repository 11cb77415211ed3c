//! Device credentials: symmetric keys and SAS tokens, connection strings and X.509 identities.
//!
//! - [`SasKey`] holds a base64 symmetric key (device, module, group enrollment or policy key)
//!   and signs with HMAC-SHA256; [`SasKey::derive_device_key`] derives a device key from a
//!   group enrollment key.
//! - [`SasToken`] builds (or parses) a `SharedAccessSignature sr=…&sig=…&se=…` token for a
//!   resource URI such as [`hub_device_resource`] or [`dps_resource`].
//! - [`ConnectionString`] parses `HostName=…;DeviceId=…;SharedAccessKey=…` strings.
//! - [`X509Identity`] holds a PEM certificate chain and PKCS#8 private key.
//! - [`Credentials`] says how a device proves who it is.
//!
//! No type of this module prints key material: their `Debug` output hides keys, tokens and
//! signatures, and none of them implements `Display`.

mod connection_string;
mod credentials;
mod sas;
mod secret;
mod x509;

pub use connection_string::{ConnectionCredential, ConnectionString};
pub use credentials::Credentials;
pub use sas::{
    dps_resource, encode_resource_uri, hub_device_resource, hub_module_resource, SasKey, SasToken,
};
pub use secret::Secret;
pub use x509::X509Identity;

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
}
