//! X.509 device identities (protocol.md 1.6).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

use super::{CredentialError, Secret};

const CONVERT_HINT: &str =
    "convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem`";

/// A device's X.509 identity: a PEM certificate chain (leaf first) and its PEM PKCS#8
/// private key.
///
/// For IoT Central and DPS the leaf's subject CN is the registration (device) ID. `Debug`
/// prints the CN and validity only, never the key.
///
/// # Examples
///
/// ```no_run
/// use iotc_sdk::auth::X509Identity;
///
/// let identity = X509Identity::from_files("thermostat-01.cert.pem", "thermostat-01.key.pem")?;
/// println!("{} expires {}", identity.common_name(), identity.not_after());
/// # Ok::<(), iotc_sdk::auth::CredentialError>(())
/// ```
#[derive(Clone)]
pub struct X509Identity {
    /// The certificates, re-encoded as canonical PEM (CERTIFICATE blocks only), leaf first.
    chain_pem: String,
    /// The private key, re-encoded as canonical `BEGIN PRIVATE KEY` PEM.
    key_pem: Secret,
    leaf_der: Vec<u8>,
    common_name: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

fn invalid(msg: impl Into<String>) -> CredentialError {
    CredentialError::InvalidCertificate(msg.into())
}

/// Canonical PEM text of one DER block, 64 base64 characters a line.
fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 text is ASCII, so chunking bytes keeps valid UTF-8.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// All PEM blocks of `input`, as (label, DER contents). `what` names the input in errors.
fn pem_blocks(input: &[u8], what: &str) -> Result<Vec<Pem>, CredentialError> {
    let mut blocks = Vec::new();
    for block in Pem::iter_from_buffer(input) {
        match block {
            Ok(pem) => blocks.push(pem),
            Err(e) => return Err(invalid(format!("the {what} PEM is malformed: {e}"))),
        }
    }
    Ok(blocks)
}

impl X509Identity {
    /// Reads an identity from PEM text: `cert_chain_pem` holds one or more `CERTIFICATE`
    /// blocks, the device's (leaf) certificate first; `private_key_pem` holds the leaf's
    /// unencrypted PKCS#8 key (`BEGIN PRIVATE KEY`). Other PEM blocks are ignored.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidCertificate`] when the PEM is malformed, there is no
    /// certificate, a certificate cannot be parsed, the leaf has no subject CN, the key is
    /// missing, encrypted or not PKCS#8 (`BEGIN EC PRIVATE KEY` and `BEGIN RSA PRIVATE KEY`
    /// keys must be converted with `openssl pkcs8 -topk8 -nocrypt`), or the TLS library
    /// cannot load the certificate and key.
    pub fn from_pem(
        cert_chain_pem: &[u8],
        private_key_pem: &[u8],
    ) -> Result<X509Identity, CredentialError> {
        // Certificates.
        let certs: Vec<Vec<u8>> = pem_blocks(cert_chain_pem, "certificate")?
            .into_iter()
            .filter(|pem| pem.label == "CERTIFICATE")
            .map(|pem| pem.contents)
            .collect();
        let leaf_der = certs
            .first()
            .ok_or_else(|| invalid("no `BEGIN CERTIFICATE` block found in the certificate PEM"))?
            .clone();
        for (index, der) in certs.iter().enumerate() {
            X509Certificate::from_der(der).map_err(|e| {
                invalid(format!(
                    "certificate {} of the chain cannot be parsed: {e}",
                    index + 1
                ))
            })?;
        }
        let (_, leaf) = X509Certificate::from_der(&leaf_der)
            .map_err(|e| invalid(format!("the leaf certificate cannot be parsed: {e}")))?;
        let common_name = leaf
            .subject()
            .iter_common_name()
            .next()
            .ok_or_else(|| invalid("the leaf certificate's subject has no common name (CN)"))?
            .as_str()
            .map_err(|_| invalid("the leaf certificate's common name (CN) is not a string"))?
            .to_owned();
        if common_name.is_empty() {
            return Err(invalid("the leaf certificate's common name (CN) is empty"));
        }
        let validity = leaf.validity();
        let not_before = validity.not_before.to_datetime();
        let not_after = validity.not_after.to_datetime();

        // Private key.
        let mut key_der = None;
        for pem in pem_blocks(private_key_pem, "private key")? {
            match pem.label.as_str() {
                "PRIVATE KEY" => {
                    if key_der.is_some() {
                        return Err(invalid(
                            "the private key PEM holds more than one `BEGIN PRIVATE KEY` block",
                        ));
                    }
                    key_der = Some(pem.contents);
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(invalid(format!(
                        "the private key is encrypted; decrypt it and {CONVERT_HINT}"
                    )))
                }
                "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                    return Err(invalid(format!(
                        "the private key is a `BEGIN {}` key, not PKCS#8; {CONVERT_HINT}",
                        pem.label
                    )))
                }
                _ => {}
            }
        }
        let key_der = key_der.ok_or_else(|| {
            invalid("no `BEGIN PRIVATE KEY` (PKCS#8) block found in the private key PEM")
        })?;
        if key_der.is_empty() {
            return Err(invalid("the private key PEM block is empty"));
        }

        let identity = X509Identity {
            chain_pem: certs.iter().map(|der| to_pem("CERTIFICATE", der)).collect(),
            key_pem: Secret::new(to_pem("PRIVATE KEY", &key_der)),
            leaf_der,
            common_name,
            not_before,
            not_after,
        };
        // Fail now rather than at connect time if a TLS library of the build cannot use them
        // (rustls is in with `tls-rustls`, and with `websocket` for MQTT over WebSockets).
        #[cfg(all(feature = "tls-native", not(feature = "tls-rustls")))]
        identity.to_native_identity()?;
        #[cfg(any(feature = "tls-rustls", feature = "websocket"))]
        {
            let (_, key) = identity.to_rustls()?;
            rustls::crypto::ring::sign::any_supported_type(&key)
                .map_err(|_| invalid("the TLS library (rustls) cannot use the private key"))?;
        }
        Ok(identity)
    }

    /// Reads an identity from a certificate chain file and a private key file (see
    /// [`X509Identity::from_pem`]).
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidCertificate`] naming the path when a file cannot be read,
    /// and the errors of [`X509Identity::from_pem`].
    pub fn from_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<X509Identity, CredentialError> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                invalid(format!(
                    "cannot read the {what} file {}: {e}",
                    path.display()
                ))
            })
        };
        let cert = read(cert_path.as_ref(), "certificate")?;
        let key = read(key_path.as_ref(), "private key")?;
        X509Identity::from_pem(&cert, &key)
    }

    /// The leaf certificate's subject common name (the device / registration ID).
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// When the leaf certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// When the leaf certificate becomes valid.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// The SHA-256 thumbprint of the leaf certificate: upper-case hex of the SHA-256 hash of
    /// its DER encoding (64 characters), as IoT hub stores for self-signed devices.
    pub fn thumbprint_sha256(&self) -> String {
        Sha256::digest(&self.leaf_der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// The leaf certificate, DER encoded.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// The certificate chain as PEM (leaf first).
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The identity for the TLS layer: `native_tls::Identity::from_pkcs8(chain, key)`.
    #[cfg(all(feature = "tls-native", not(feature = "tls-rustls")))]
    pub(crate) fn to_native_identity(&self) -> Result<native_tls::Identity, CredentialError> {
        native_tls::Identity::from_pkcs8(
            self.chain_pem.as_bytes(),
            self.key_pem.expose().as_bytes(),
        )
        .map_err(|e| {
            invalid(format!(
                "the TLS library cannot load the certificate and private key: {e}"
            ))
        })
    }
}

impl X509Identity {
    /// The chain and key for rustls (MQTT over WebSockets; every transport with `tls-rustls`).
    #[cfg(any(feature = "tls-rustls", feature = "websocket"))]
    pub(crate) fn to_rustls(
        &self,
    ) -> Result<
        (
            Vec<rustls::pki_types::CertificateDer<'static>>,
            rustls::pki_types::PrivateKeyDer<'static>,
        ),
        CredentialError,
    > {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("the certificate chain cannot be read: {e}")))?;
        // The key's PEM error is not shown: it could quote the key.
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.expose().as_bytes())
            .map_err(|_| invalid("the private key cannot be read"))?;
        Ok((chain, key))
    }
}

impl fmt::Debug for X509Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Identity")
            .field("common_name", &self.common_name)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const LEAF: &str = include_str!("testdata/thermostat-01.cert.pem");
    const CHAIN: &str = include_str!("testdata/thermostat-01.chain.pem");
    const KEY: &str = include_str!("testdata/thermostat-01.key.pem");
    const SEC1_KEY: &str = include_str!("testdata/thermostat-01.sec1-key.pem");
    const SELF_SIGNED: &str = include_str!("testdata/self-signed-01.cert.pem");
    const SELF_SIGNED_KEY: &str = include_str!("testdata/self-signed-01.key.pem");
    const NO_CN: &str = include_str!("testdata/no-cn.cert.pem");

    // From `openssl x509 -noout -startdate -enddate -fingerprint -sha256` (testdata/README.md).
    const NOT_BEFORE: i64 = 1_795_757_180; // Nov 27 05:26:20 2026 GMT
    const NOT_AFTER: i64 = 2_111_117_180; // Nov 24 05:26:20 2036 GMT
    const LEAF_SHA256: &str = "8E168BD686FA768747C1168A166563E60E191D98E43E02F2AB1E7A4A3D0EBF6F";
    const SELF_SIGNED_SHA256: &str =
        "C97CC5C3BA0684F8A51F8F3C97B9B09B1FD15C4160516C79CCDFBBDAC685F71C";

    fn err(cert: &str, key: &str) -> String {
        match X509Identity::from_pem(cert.as_bytes(), key.as_bytes()) {
            Err(CredentialError::InvalidCertificate(msg)) => msg,
            Err(other) => panic!("unexpected error kind {other:?}"),
            Ok(id) => panic!("accepted: {id:?}"),
        }
    }

    /// Whether the build's TLS stacks can load the identity.
    fn tls_accepts(id: &X509Identity) -> bool {
        #[cfg(all(feature = "tls-native", not(feature = "tls-rustls")))]
        if id.to_native_identity().is_err() {
            return false;
        }
        #[cfg(any(feature = "tls-rustls", feature = "websocket"))]
        if !id.to_rustls().is_ok_and(|(chain, _)| {
            chain.len() == id.chain_pem().matches("BEGIN CERTIFICATE").count()
        }) {
            return false;
        }
        true
    }

    #[test]
    fn leaf_only() {
        let id = X509Identity::from_pem(LEAF.as_bytes(), KEY.as_bytes()).unwrap();
        assert_eq!(id.common_name(), "thermostat-01");
        assert_eq!(id.not_after().unix_timestamp(), NOT_AFTER);
        assert_eq!(id.not_before().unix_timestamp(), NOT_BEFORE);
        assert_eq!(id.thumbprint_sha256(), LEAF_SHA256);
        assert!(tls_accepts(&id));
    }

    #[test]
    fn chain_leaf_first() {
        let id = X509Identity::from_pem(CHAIN.as_bytes(), KEY.as_bytes()).unwrap();
        assert_eq!(id.common_name(), "thermostat-01");
        assert_eq!(id.thumbprint_sha256(), LEAF_SHA256);
        assert_eq!(id.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
        assert!(tls_accepts(&id));
    }

    #[test]
    fn self_signed() {
        let id =
            X509Identity::from_pem(SELF_SIGNED.as_bytes(), SELF_SIGNED_KEY.as_bytes()).unwrap();
        assert_eq!(id.common_name(), "self-signed-01");
        assert_eq!(id.thumbprint_sha256(), SELF_SIGNED_SHA256);
        assert_eq!(id.thumbprint_sha256().len(), 64);
    }

    #[test]
    fn tolerates_comments_and_crlf() {
        let cert = format!(
            "subject=CN = thermostat-01\r\n{}",
            LEAF.replace('\n', "\r\n")
        );
        let key = format!("\n\n{}", KEY.replace('\n', "\r\n"));
        let id = X509Identity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(id.common_name(), "thermostat-01");
        assert!(tls_accepts(&id));
    }

    #[test]
    fn from_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata");
        let id = X509Identity::from_files(
            dir.join("thermostat-01.chain.pem"),
            dir.join("thermostat-01.key.pem"),
        )
        .unwrap();
        assert_eq!(id.common_name(), "thermostat-01");

        let missing = dir.join("does-not-exist.pem");
        match X509Identity::from_files(&missing, dir.join("thermostat-01.key.pem")) {
            Err(CredentialError::InvalidCertificate(msg)) => {
                assert!(msg.contains("does-not-exist.pem"), "{msg}");
                assert!(msg.contains("certificate file"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        match X509Identity::from_files(dir.join("thermostat-01.cert.pem"), &missing) {
            Err(CredentialError::InvalidCertificate(msg)) => {
                assert!(msg.contains("private key file"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_shows_cn_and_expiry_only() {
        let id = X509Identity::from_pem(LEAF.as_bytes(), KEY.as_bytes()).unwrap();
        let dbg = format!("{id:?}");
        assert!(dbg.contains("thermostat-01"), "{dbg}");
        assert!(dbg.contains("2036"), "{dbg}");
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
        let key_body = KEY.lines().nth(1).unwrap();
        assert!(!dbg.contains(key_body), "{dbg}");
    }

    #[test]
    fn garbage_pem() {
        let msg = err("this is not a certificate", KEY);
        assert!(msg.contains("no `BEGIN CERTIFICATE`"), "{msg}");
        let msg = err(
            "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n",
            KEY,
        );
        assert!(msg.contains("malformed"), "{msg}");
        let msg = err(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            KEY,
        );
        assert!(msg.contains("cannot be parsed"), "{msg}");
        let msg = err("-----BEGIN CERTIFICATE-----\nMIIB\n", KEY);
        assert!(msg.contains("malformed"), "{msg}");
        // Binary junk must not panic.
        let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(X509Identity::from_pem(&junk, &junk).is_err());
        assert!(X509Identity::from_pem(LEAF.as_bytes(), &junk).is_err());
    }

    #[test]
    fn cert_missing() {
        let msg = err("", KEY);
        assert!(msg.contains("no `BEGIN CERTIFICATE`"), "{msg}");
        // A key where the certificate should be.
        let msg = err(KEY, KEY);
        assert!(msg.contains("no `BEGIN CERTIFICATE`"), "{msg}");
    }

    #[test]
    fn key_missing() {
        let msg = err(LEAF, "");
        assert!(msg.contains("no `BEGIN PRIVATE KEY`"), "{msg}");
        let msg = err(LEAF, LEAF);
        assert!(msg.contains("no `BEGIN PRIVATE KEY`"), "{msg}");
    }

    #[test]
    fn sec1_and_rsa_keys_get_conversion_hint() {
        let msg = err(LEAF, SEC1_KEY);
        assert!(msg.contains("BEGIN EC PRIVATE KEY"), "{msg}");
        assert!(msg.contains("openssl pkcs8 -topk8 -nocrypt"), "{msg}");
        let rsa = SEC1_KEY.replace("EC PRIVATE KEY", "RSA PRIVATE KEY");
        let msg = err(LEAF, &rsa);
        assert!(msg.contains("openssl pkcs8 -topk8 -nocrypt"), "{msg}");
        let enc = KEY.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
        let msg = err(LEAF, &enc);
        assert!(msg.contains("encrypted"), "{msg}");
    }

    #[test]
    fn key_that_is_not_a_key() {
        let bogus = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let msg = err(LEAF, bogus);
        assert!(msg.contains("TLS library"), "{msg}");
    }

    #[test]
    fn no_common_name() {
        let msg = err(NO_CN, KEY);
        assert!(msg.contains("no common name"), "{msg}");
    }
}
