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
//! Inside the SDK, one token source (`TokenSource`) owns the signing of hub tokens for every
//! transport, and one rule (`renewal`) says when a token is renewed (at 80 % of its life).
//!
//! No type of this module prints key material: their `Debug` output hides keys, tokens and
//! signatures, and none of them implements `Display`.

mod connection_string;
mod credentials;
pub(crate) mod renewal;
mod sas;
mod secret;
mod token;
mod x509;

/// A key, token, connection string or certificate that cannot be used (defined beside the
/// SDK's [`Error`](crate::Error), which wraps it).
pub use crate::error::CredentialError;
pub use connection_string::{ConnectionCredential, ConnectionString};
pub use credentials::Credentials;
pub use sas::{
    dps_resource, encode_resource_uri, hub_device_resource, hub_module_resource, SasKey, SasToken,
};
pub use secret::Secret;
#[cfg(feature = "https")]
pub(crate) use token::RequestToken;
pub(crate) use token::TokenSource;
#[cfg(feature = "edge")]
pub(crate) use token::{ExternalSigner, SignFuture};
pub use x509::X509Identity;
