//! Device and module connection strings (protocol.md 9.1).

use std::fmt;
use std::str::FromStr;

use super::{CredentialError, SasKey, SasToken, Secret};

const HOST_NAME: &str = "HostName";
const DEVICE_ID: &str = "DeviceId";
const MODULE_ID: &str = "ModuleId";
const SHARED_ACCESS_KEY: &str = "SharedAccessKey";
const SHARED_ACCESS_KEY_NAME: &str = "SharedAccessKeyName";
const SHARED_ACCESS_SIGNATURE: &str = "SharedAccessSignature";
const GATEWAY_HOST_NAME: &str = "GatewayHostName";
const X509: &str = "x509";
const USE_PROVISIONING: &str = "UseProvisioning";

/// The credential carried by a [`ConnectionString`]: exactly one of them.
///
/// `Debug` never prints key material.
#[derive(Clone, Debug)]
pub enum ConnectionCredential {
    /// `SharedAccessKey=…`: the device's (or module's) base64 key, or a policy key when the
    /// string also has `SharedAccessKeyName`.
    SharedAccessKey(SasKey),
    /// `SharedAccessSignature=SharedAccessSignature sr=…`: a ready-made token. The SDK cannot
    /// renew it; the connection fails once it expires.
    SharedAccessSignature(SasToken),
    /// `x509=true`: authenticate with a client certificate given separately.
    X509,
}

/// A parsed IoT hub connection string,
/// `HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…[;GatewayHostName=…]`.
///
/// Parse one with [`str::parse`]; build one with [`ConnectionString::new`]. There is no
/// `Display` (the string holds a key): use [`ConnectionString::to_redacted_string`] for logs
/// and [`ConnectionString::to_secret`] for the full text. `Debug` never prints key material.
///
/// # Examples
///
/// ```
/// use iotc_sdk::auth::{ConnectionCredential, ConnectionString};
///
/// let cs: ConnectionString = "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;\
///     SharedAccessKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
///     .parse()?;
/// assert_eq!(cs.host_name(), "contoso-hub.azure-devices.net");
/// assert_eq!(cs.device_id(), "thermostat-01");
/// assert!(matches!(cs.credential(), ConnectionCredential::SharedAccessKey(_)));
/// assert_eq!(
///     cs.to_redacted_string(),
///     "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;SharedAccessKey=***"
/// );
/// # Ok::<(), iotc_sdk::auth::CredentialError>(())
/// ```
#[derive(Clone)]
pub struct ConnectionString {
    host_name: String,
    device_id: String,
    module_id: Option<String>,
    gateway_host_name: Option<String>,
    shared_access_key_name: Option<String>,
    credential: ConnectionCredential,
}

impl ConnectionString {
    /// A connection string for a device. The values are not validated.
    pub fn new(
        host_name: impl Into<String>,
        device_id: impl Into<String>,
        credential: ConnectionCredential,
    ) -> Self {
        ConnectionString {
            host_name: host_name.into(),
            device_id: device_id.into(),
            module_id: None,
            gateway_host_name: None,
            shared_access_key_name: None,
            credential,
        }
    }

    /// Makes this a module identity's connection string (`ModuleId`).
    pub fn with_module_id(mut self, module_id: impl Into<String>) -> Self {
        self.module_id = Some(module_id.into());
        self
    }

    /// Connects through this edge gateway (`GatewayHostName`).
    pub fn with_gateway_host_name(mut self, gateway_host_name: impl Into<String>) -> Self {
        self.gateway_host_name = Some(gateway_host_name.into());
        self
    }

    /// Names the shared access policy the key belongs to (`SharedAccessKeyName`).
    pub fn with_shared_access_key_name(mut self, name: impl Into<String>) -> Self {
        self.shared_access_key_name = Some(name.into());
        self
    }

    /// The IoT hub host (`HostName`).
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The device ID (`DeviceId`).
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The module ID (`ModuleId`), for module identities.
    pub fn module_id(&self) -> Option<&str> {
        self.module_id.as_deref()
    }

    /// The edge gateway to connect through (`GatewayHostName`), if any.
    pub fn gateway_host_name(&self) -> Option<&str> {
        self.gateway_host_name.as_deref()
    }

    /// The shared access policy name (`SharedAccessKeyName`), when the key is a policy key.
    pub fn shared_access_key_name(&self) -> Option<&str> {
        self.shared_access_key_name.as_deref()
    }

    /// The credential.
    pub fn credential(&self) -> &ConnectionCredential {
        &self.credential
    }

    fn write(&self, redact: bool) -> String {
        let mut out = format!(
            "{HOST_NAME}={};{DEVICE_ID}={}",
            self.host_name, self.device_id
        );
        if let Some(module_id) = &self.module_id {
            out.push_str(&format!(";{MODULE_ID}={module_id}"));
        }
        if let Some(name) = &self.shared_access_key_name {
            out.push_str(&format!(";{SHARED_ACCESS_KEY_NAME}={name}"));
        }
        match &self.credential {
            ConnectionCredential::SharedAccessKey(key) => {
                out.push_str(&format!(";{SHARED_ACCESS_KEY}="));
                if redact {
                    out.push_str("***");
                } else {
                    out.push_str(key.to_base64().expose());
                }
            }
            ConnectionCredential::SharedAccessSignature(token) => {
                out.push_str(&format!(";{SHARED_ACCESS_SIGNATURE}="));
                if redact {
                    out.push_str("***");
                } else {
                    out.push_str(token.as_secret().expose());
                }
            }
            ConnectionCredential::X509 => out.push_str(&format!(";{X509}=true")),
        }
        if let Some(gateway) = &self.gateway_host_name {
            out.push_str(&format!(";{GATEWAY_HOST_NAME}={gateway}"));
        }
        out
    }

    /// The connection string with the key or token replaced by `***`, for logs:
    /// `HostName=…;DeviceId=…;SharedAccessKey=***`.
    pub fn to_redacted_string(&self) -> String {
        self.write(true)
    }

    /// The full connection string, key included (it parses back to the same value).
    pub fn to_secret(&self) -> Secret {
        Secret::new(self.write(false))
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host_name", &self.host_name)
            .field("device_id", &self.device_id)
            .field("module_id", &self.module_id)
            .field("gateway_host_name", &self.gateway_host_name)
            .field("shared_access_key_name", &self.shared_access_key_name)
            .field("credential", &self.credential)
            .finish()
    }
}

fn invalid(msg: impl Into<String>) -> CredentialError {
    CredentialError::InvalidConnectionString(msg.into())
}

/// Sets `slot` once; a second occurrence of the key is an error.
fn set_once<'a>(
    slot: &mut Option<&'a str>,
    key: &'static str,
    value: &'a str,
) -> Result<(), CredentialError> {
    if slot.is_some() {
        return Err(invalid(format!("`{key}` appears more than once")));
    }
    *slot = Some(value);
    Ok(())
}

/// Checks a device or module ID: not empty, no `/`; warns about MQTT wildcards.
fn check_id(key: &'static str, value: &str) -> Result<(), CredentialError> {
    if value.is_empty() {
        return Err(invalid(format!("`{key}` is empty")));
    }
    if value.contains('/') {
        return Err(invalid(format!(
            "`{key}` contains `/`, which IoT Hub does not allow in identities"
        )));
    }
    if value.contains(['+', '#']) {
        tracing::warn!(
            "{key} {value:?} contains `+` or `#`; these are MQTT topic wildcards and may break \
             some transports"
        );
    }
    Ok(())
}

impl FromStr for ConnectionString {
    type Err = CredentialError;

    /// Parses `Key=Value` pairs separated by `;` (protocol.md 9.1).
    ///
    /// Each pair is split at its first `=`; keys are case-sensitive; empty segments (such as a
    /// trailing `;`) are skipped and whitespace around keys and values is trimmed. `HostName`
    /// and `DeviceId` are required, and exactly one credential: `SharedAccessKey`,
    /// `SharedAccessSignature` or `x509=true`. `ModuleId`, `GatewayHostName` and
    /// `SharedAccessKeyName` are kept; `UseProvisioning` is rejected; other keys are ignored.
    ///
    /// # Errors
    ///
    /// [`CredentialError::InvalidConnectionString`] naming the key that is missing, duplicated
    /// or invalid; [`CredentialError::InvalidKey`] / [`CredentialError::InvalidToken`] (wrapped
    /// in the same variant's message) when the key or token is malformed. Messages never
    /// contain the key or the token.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid("the connection string is empty"));
        }

        let mut host_name = None;
        let mut device_id = None;
        let mut module_id = None;
        let mut key = None;
        let mut key_name = None;
        let mut signature = None;
        let mut gateway = None;
        let mut x509 = None;
        let mut unknown_keys = 0_usize;

        for (index, segment) in s.split(';').enumerate() {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            let (name, value) = segment.split_once('=').ok_or_else(|| {
                invalid(format!(
                    "segment {} has no `=` (expected `Key=Value` pairs separated by `;`)",
                    index + 1
                ))
            })?;
            let (name, value) = (name.trim(), value.trim());
            match name {
                HOST_NAME => set_once(&mut host_name, HOST_NAME, value)?,
                DEVICE_ID => set_once(&mut device_id, DEVICE_ID, value)?,
                MODULE_ID => set_once(&mut module_id, MODULE_ID, value)?,
                SHARED_ACCESS_KEY => set_once(&mut key, SHARED_ACCESS_KEY, value)?,
                SHARED_ACCESS_KEY_NAME => set_once(&mut key_name, SHARED_ACCESS_KEY_NAME, value)?,
                SHARED_ACCESS_SIGNATURE => {
                    set_once(&mut signature, SHARED_ACCESS_SIGNATURE, value)?
                }
                GATEWAY_HOST_NAME => set_once(&mut gateway, GATEWAY_HOST_NAME, value)?,
                X509 => set_once(&mut x509, X509, value)?,
                USE_PROVISIONING => {
                    return Err(invalid(
                        "`UseProvisioning` (a C SDK feature) is not supported; provision the \
                         device with DPS through this SDK instead",
                    ))
                }
                // Not logged by name: a stray key fragment would land here.
                _ => unknown_keys += 1,
            }
        }

        let host_name = host_name.ok_or_else(|| invalid("`HostName` is missing"))?;
        if host_name.is_empty() {
            return Err(invalid("`HostName` is empty"));
        }
        let device_id = device_id.ok_or_else(|| invalid("`DeviceId` is missing"))?;
        check_id(DEVICE_ID, device_id)?;
        if let Some(module_id) = module_id {
            check_id(MODULE_ID, module_id)?;
        }
        if gateway.is_some_and(str::is_empty) {
            return Err(invalid("`GatewayHostName` is empty"));
        }
        if key_name.is_some_and(str::is_empty) {
            return Err(invalid("`SharedAccessKeyName` is empty"));
        }
        if let Some(value) = x509 {
            if value != "true" {
                return Err(invalid(
                    "`x509` must be exactly `true` (omit it for key or token authentication)",
                ));
            }
        }

        let present: Vec<&str> = [
            (SHARED_ACCESS_KEY, key.is_some()),
            (SHARED_ACCESS_SIGNATURE, signature.is_some()),
            ("x509=true", x509.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        if present.len() > 1 {
            return Err(invalid(format!(
                "more than one credential ({}); give exactly one of `SharedAccessKey`, \
                 `SharedAccessSignature` or `x509=true`",
                present.join(", ")
            )));
        }

        let credential = if let Some(key) = key {
            let key =
                SasKey::new(key).map_err(|e| invalid(format!("`{SHARED_ACCESS_KEY}`: {e}")))?;
            ConnectionCredential::SharedAccessKey(key)
        } else if let Some(token) = signature {
            let token = SasToken::parse(token)
                .map_err(|e| invalid(format!("`{SHARED_ACCESS_SIGNATURE}`: {e}")))?;
            ConnectionCredential::SharedAccessSignature(token)
        } else if x509.is_some() {
            ConnectionCredential::X509
        } else {
            let hint = if unknown_keys > 0 {
                " (some keys were not recognised; keys are case-sensitive)"
            } else {
                ""
            };
            return Err(invalid(format!(
                "no credential; give exactly one of `SharedAccessKey`, `SharedAccessSignature` \
                 or `x509=true`{hint}"
            )));
        };
        if unknown_keys > 0 {
            tracing::debug!(unknown_keys, "ignored unknown connection string keys");
        }

        Ok(ConnectionString {
            host_name: host_name.to_owned(),
            device_id: device_id.to_owned(),
            module_id: module_id.map(str::to_owned),
            gateway_host_name: gateway.map(str::to_owned),
            shared_access_key_name: key_name.map(str::to_owned),
            credential,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const KEY1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const MODULE_KEY: &str = "OYNYTFau0TRmYkT+U43KYKo68NF3L1+cgexcwCJPadc=";

    fn parse(s: &str) -> Result<ConnectionString, CredentialError> {
        s.parse()
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Err(CredentialError::InvalidConnectionString(msg)) => msg,
            Err(other) => panic!("{s:?}: unexpected error kind {other:?}"),
            Ok(cs) => panic!("{s:?} accepted: {cs:?}"),
        }
    }

    fn sign_with(cs: &ConnectionString) -> String {
        match cs.credential() {
            ConnectionCredential::SharedAccessKey(k) => k.sign(b"x"),
            other => panic!("not a key: {other:?}"),
        }
    }

    // ---- protocol.md 9.1 examples ----

    #[test]
    fn example_device_key() {
        let cs = parse(&format!(
            "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;SharedAccessKey={KEY1}"
        ))
        .unwrap();
        assert_eq!(cs.host_name(), "contoso-hub.azure-devices.net");
        assert_eq!(cs.device_id(), "thermostat-01");
        assert_eq!(cs.module_id(), None);
        assert_eq!(cs.gateway_host_name(), None);
        assert_eq!(cs.shared_access_key_name(), None);
        // The trailing `=` of the key survives the split at the first `=`.
        assert_eq!(sign_with(&cs), SasKey::new(KEY1).unwrap().sign(b"x"));
        assert_eq!(
            cs.to_redacted_string(),
            "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;SharedAccessKey=***"
        );
    }

    #[test]
    fn example_module_key() {
        let cs = parse(&format!(
            "HostName=contoso-hub.azure-devices.net;DeviceId=edge-gw-01;ModuleId=tempSensor;SharedAccessKey={MODULE_KEY}"
        ))
        .unwrap();
        assert_eq!(cs.device_id(), "edge-gw-01");
        assert_eq!(cs.module_id(), Some("tempSensor"));
        assert_eq!(sign_with(&cs), SasKey::new(MODULE_KEY).unwrap().sign(b"x"));
    }

    #[test]
    fn example_gateway() {
        let cs = parse(&format!(
            "HostName=contoso-hub.azure-devices.net;DeviceId=leaf-01;SharedAccessKey={KEY1};GatewayHostName=edge-gw-01.local"
        ))
        .unwrap();
        assert_eq!(cs.device_id(), "leaf-01");
        assert_eq!(cs.gateway_host_name(), Some("edge-gw-01.local"));
        assert_eq!(
            cs.to_redacted_string(),
            "HostName=contoso-hub.azure-devices.net;DeviceId=leaf-01;SharedAccessKey=***;GatewayHostName=edge-gw-01.local"
        );
    }

    #[test]
    fn example_x509() {
        let cs = parse("HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;x509=true")
            .unwrap();
        assert!(matches!(cs.credential(), ConnectionCredential::X509));
        assert_eq!(
            cs.to_redacted_string(),
            "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;x509=true"
        );
        assert_eq!(
            cs.to_secret().expose(),
            "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;x509=true"
        );
    }

    #[test]
    fn shared_access_signature_credential() {
        let token =
            "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01\
                     &sig=oDD5WZvfIa6c4%2FST4BdlHTlWE9s3fhe6PUi%2FKGS1NVM%3D&se=1700000000";
        let cs = parse(&format!(
            "HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;SharedAccessSignature={token}"
        ))
        .unwrap();
        match cs.credential() {
            ConnectionCredential::SharedAccessSignature(t) => {
                assert_eq!(t.as_secret().expose(), token);
                assert_eq!(t.expiry_unix(), 1_700_000_000);
                assert_eq!(
                    t.resource_uri(),
                    "contoso-hub.azure-devices.net/devices/thermostat-01"
                );
            }
            other => panic!("{other:?}"),
        }
        let redacted = cs.to_redacted_string();
        assert!(
            redacted.ends_with(";SharedAccessSignature=***"),
            "{redacted}"
        );
        assert!(!redacted.contains("oDD5"));
        let dbg = format!("{cs:?}");
        assert!(!dbg.contains("oDD5"), "{dbg}");
    }

    #[test]
    fn key_name_is_kept_and_unknown_keys_ignored() {
        let cs = parse(&format!(
            "HostName=h.azure-devices.net;DeviceId=d1;SharedAccessKeyName=device;SharedAccessKey={KEY1};Foo=bar;;"
        ))
        .unwrap();
        assert_eq!(cs.shared_access_key_name(), Some("device"));
        assert_eq!(
            cs.to_redacted_string(),
            "HostName=h.azure-devices.net;DeviceId=d1;SharedAccessKeyName=device;SharedAccessKey=***"
        );
    }

    #[test]
    fn round_trip_through_to_secret() {
        let cs = ConnectionString::new(
            "h.azure-devices.net",
            "d1",
            ConnectionCredential::SharedAccessKey(SasKey::new(KEY1).unwrap()),
        )
        .with_module_id("m1")
        .with_gateway_host_name("gw.local")
        .with_shared_access_key_name("device");
        let text = cs.to_secret();
        let back = parse(text.expose()).unwrap();
        assert_eq!(back.host_name(), "h.azure-devices.net");
        assert_eq!(back.device_id(), "d1");
        assert_eq!(back.module_id(), Some("m1"));
        assert_eq!(back.gateway_host_name(), Some("gw.local"));
        assert_eq!(back.shared_access_key_name(), Some("device"));
        assert_eq!(sign_with(&back), sign_with(&cs));
        assert_eq!(back.to_secret(), text);
    }

    #[test]
    fn whitespace_and_order() {
        let cs = parse(&format!(
            "  SharedAccessKey={KEY1} ; DeviceId = d1;HostName=h.azure-devices.net;\n"
        ))
        .unwrap();
        assert_eq!(cs.device_id(), "d1");
        assert_eq!(cs.host_name(), "h.azure-devices.net");
    }

    #[test]
    fn debug_has_no_secrets() {
        let cs = parse(&format!(
            "HostName=h.azure-devices.net;DeviceId=d1;SharedAccessKey={KEY1}"
        ))
        .unwrap();
        let dbg = format!("{cs:?} {cs:#?}");
        assert!(!dbg.contains(KEY1), "{dbg}");
        assert!(!dbg.contains("MDEy"), "{dbg}");
        assert!(dbg.contains("d1"), "{dbg}");
    }

    // ---- errors ----

    #[test]
    fn empty() {
        assert!(err("").contains("empty"));
        assert!(err("   ").contains("empty"));
        assert!(err(";;").contains("HostName"));
    }

    #[test]
    fn missing_host_name() {
        let msg = err(&format!("DeviceId=d1;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`HostName` is missing"), "{msg}");
        let msg = err(&format!("HostName=;DeviceId=d1;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`HostName` is empty"), "{msg}");
        // Keys are case-sensitive.
        let msg = err(&format!("hostname=h;DeviceId=d1;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`HostName` is missing"), "{msg}");
    }

    #[test]
    fn missing_or_bad_device_id() {
        let msg = err(&format!("HostName=h;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`DeviceId` is missing"), "{msg}");
        let msg = err(&format!("HostName=h;DeviceId=;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`DeviceId` is empty"), "{msg}");
        let msg = err(&format!("HostName=h;DeviceId=a/b;SharedAccessKey={KEY1}"));
        assert!(msg.contains("`DeviceId` contains `/`"), "{msg}");
        let msg = err(&format!(
            "HostName=h;DeviceId=d;ModuleId=a/b;SharedAccessKey={KEY1}"
        ));
        assert!(msg.contains("`ModuleId` contains `/`"), "{msg}");
    }

    #[test]
    fn two_credentials() {
        let msg = err(&format!(
            "HostName=h;DeviceId=d1;SharedAccessKey={KEY1};x509=true"
        ));
        assert!(msg.contains("more than one credential"), "{msg}");
        assert!(!msg.contains(KEY1), "{msg}");
        let msg = err(&format!(
            "HostName=h;DeviceId=d1;SharedAccessKey={KEY1};SharedAccessSignature=SharedAccessSignature sr=a&sig=b&se=1"
        ));
        assert!(msg.contains("more than one credential"), "{msg}");
    }

    #[test]
    fn no_credential() {
        let msg = err("HostName=h;DeviceId=d1");
        assert!(msg.contains("no credential"), "{msg}");
    }

    #[test]
    fn x509_must_be_true() {
        for v in ["false", "True", "TRUE", "1", ""] {
            let msg = err(&format!("HostName=h;DeviceId=d1;x509={v}"));
            assert!(msg.contains("exactly `true`"), "{v}: {msg}");
        }
    }

    #[test]
    fn duplicate_key() {
        let msg = err(&format!(
            "HostName=h;DeviceId=d1;SharedAccessKey={KEY1};SharedAccessKey={KEY1}"
        ));
        assert!(
            msg.contains("`SharedAccessKey` appears more than once"),
            "{msg}"
        );
        assert!(!msg.contains(KEY1), "{msg}");
        let msg = err(&format!(
            "HostName=h;HostName=h2;DeviceId=d1;SharedAccessKey={KEY1}"
        ));
        assert!(msg.contains("`HostName` appears more than once"), "{msg}");
    }

    #[test]
    fn use_provisioning_rejected() {
        let msg = err("HostName=h;DeviceId=d1;UseProvisioning=true");
        assert!(msg.contains("UseProvisioning"), "{msg}");
    }

    #[test]
    fn segment_without_equals() {
        let msg = err(&format!(
            "HostName=h;DeviceId=d1;SharedAccessKey={KEY1};garbage"
        ));
        assert!(msg.contains("segment 4 has no `=`"), "{msg}");
        assert!(!msg.contains("garbage"), "{msg}");
        // A bare key (it ends with `=`) is an unknown key, hence no credential.
        let msg = err(&format!("HostName=h;DeviceId=d1;{KEY1}"));
        assert!(msg.contains("no credential"), "{msg}");
        assert!(msg.contains("case-sensitive"), "{msg}");
        assert!(!msg.contains("MDEy"), "{msg}");
    }

    #[test]
    fn bad_key_or_token_does_not_echo() {
        let bad_key = "c2VjcmV0LXNlY3JldA!!";
        let msg = err(&format!("HostName=h;DeviceId=d1;SharedAccessKey={bad_key}"));
        assert!(msg.contains("SharedAccessKey"), "{msg}");
        assert!(!msg.contains("c2VjcmV0"), "{msg}");
        let msg = err("HostName=h;DeviceId=d1;SharedAccessSignature=sr=a&sig=TOPSECRET&se=1");
        assert!(msg.contains("SharedAccessSignature"), "{msg}");
        assert!(!msg.contains("TOPSECRET"), "{msg}");
    }
}
