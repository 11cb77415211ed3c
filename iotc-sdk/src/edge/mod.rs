//! IoT Edge modules: the module's identity and endpoints from the environment the IoT Edge
//! runtime sets (protocol.md 8.1), and the workload API that signs its tokens and hands out the
//! edge CA (protocol.md 8.2).
//!
//! A module connects to the edge hub (`IOTEDGE_GATEWAYHOSTNAME`) with ClientId
//! `{device}/{module}`, a SAS token for `{hub}/devices/{device}/modules/{module}` signed by the
//! workload API (the module never sees its key), trusting the CA of the workload API's trust
//! bundle. Build one with [`DeviceBuilder::from_edge_environment`](crate::DeviceBuilder::from_edge_environment)
//! or, to read the variables from somewhere else than the process environment (tests, a
//! supervisor), [`EdgeEnvironment::from_vars`] and
//! [`DeviceBuilder::edge_environment`](crate::DeviceBuilder::edge_environment).
//!
//! ```no_run
//! use iotc_sdk::{Device, Event, Message};
//!
//! # async fn run() -> Result<(), iotc_sdk::Error> {
//! let module = Device::from_edge_environment()?.connect().await?;
//! while let Some(event) = module.next_event().await {
//!     if let Event::InputMessage { input, message } = event {
//!         println!("on {input}: {:?}", message.body());
//!         module.send_to_output("forwarded", Message::new(message.body().to_vec())).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules connect over MQTT (default) or AMQP, either also over WebSockets (choose with
//! [`DeviceBuilder::protocol`](crate::DeviceBuilder::protocol)); HTTPS is refused with
//! [`Error::Config`](crate::Error::Config).

mod workload;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::auth::{ConnectionCredential, ConnectionString};

pub(crate) use workload::WorkloadClient;

/// The workload API version used when `IOTEDGE_APIVERSION` is not set (protocol.md 0.1).
pub const DEFAULT_WORKLOAD_API_VERSION: &str = "2018-06-28";

/// The environment variables of an IoT Edge module (protocol.md 8.1).
pub mod vars {
    /// `unix:///var/run/iotedge/workload.sock` or `http://host:port`.
    pub const WORKLOAD_URI: &str = "IOTEDGE_WORKLOADURI";
    /// The edge device's id.
    pub const DEVICE_ID: &str = "IOTEDGE_DEVICEID";
    /// The module's id.
    pub const MODULE_ID: &str = "IOTEDGE_MODULEID";
    /// The module's generation id (in the workload API paths).
    pub const MODULE_GENERATION_ID: &str = "IOTEDGE_MODULEGENERATIONID";
    /// The IoT hub host (username and SAS audience).
    pub const IOTHUB_HOSTNAME: &str = "IOTEDGE_IOTHUBHOSTNAME";
    /// The edge hub host (where the TCP/TLS connection goes), `host` or `host:port`.
    pub const GATEWAY_HOSTNAME: &str = "IOTEDGE_GATEWAYHOSTNAME";
    /// The workload API version (default [`DEFAULT_WORKLOAD_API_VERSION`](super::DEFAULT_WORKLOAD_API_VERSION)).
    pub const API_VERSION: &str = "IOTEDGE_APIVERSION";
    /// Must be `sasToken` (case-insensitive) when set.
    pub const AUTH_SCHEME: &str = "IOTEDGE_AUTHSCHEME";
    /// Developer fallback (simulator): a module connection string with `GatewayHostName`.
    pub const EDGE_HUB_CONNECTION_STRING: &str = "EdgeHubConnectionString";
    /// Developer fallback: the PEM file of the edge CA.
    pub const EDGE_MODULE_CA_CERTIFICATE_FILE: &str = "EdgeModuleCACertificateFile";
}

/// Why the IoT Edge environment cannot be used (defined beside the SDK's
/// [`Error`](crate::Error), which wraps it).
pub use crate::error::EdgeError;

/// Where the workload API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadUri {
    /// HTTP over a Unix domain socket (`unix:///path`).
    Unix(PathBuf),
    /// HTTP over TCP (`http://host:port`).
    Http {
        /// The host.
        host: String,
        /// The port.
        port: u16,
    },
}

impl WorkloadUri {
    /// Parses `unix:///path/to/socket` or `http://host[:port]`.
    ///
    /// # Errors
    ///
    /// [`EdgeError::InvalidVariable`] for another scheme, an empty path or host, or a bad port.
    pub fn parse(uri: &str) -> Result<WorkloadUri, EdgeError> {
        let bad = |reason: &str| EdgeError::InvalidVariable {
            name: vars::WORKLOAD_URI,
            reason: reason.to_owned(),
        };
        if let Some(path) = uri.strip_prefix("unix://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(bad("a unix:// URI needs an absolute socket path"));
            }
            return Ok(WorkloadUri::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = uri.strip_prefix("http://") {
            let authority = rest.strip_suffix('/').unwrap_or(rest);
            let (host, port) = crate::endpoint::parse_endpoint(authority, 80)
                .map_err(|_| bad("expected http://host[:port]"))?;
            return Ok(WorkloadUri::Http { host, port });
        }
        Err(bad("expected unix:///path or http://host:port"))
    }
}

/// The module identity and endpoints from the IoT Edge environment.
#[derive(Clone, Debug)]
pub struct EdgeEnvironment {
    pub(crate) kind: EdgeKind,
}

#[derive(Clone, Debug)]
pub(crate) enum EdgeKind {
    /// The IoT Edge runtime's variables: tokens and CA from the workload API.
    Workload(WorkloadSettings),
    /// The developer fallback: a module connection string and a CA file.
    ConnectionString {
        connection_string: ConnectionString,
        ca_file: PathBuf,
    },
}

/// The `IOTEDGE_*` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WorkloadSettings {
    pub(crate) workload_uri: WorkloadUri,
    pub(crate) device_id: String,
    pub(crate) module_id: String,
    pub(crate) generation_id: String,
    pub(crate) hub_host: String,
    pub(crate) gateway_host: String,
    pub(crate) api_version: String,
}

impl EdgeEnvironment {
    /// Reads the process environment (see [`from_vars`](Self::from_vars)).
    ///
    /// # Errors
    ///
    /// As [`from_vars`](Self::from_vars).
    pub fn from_env() -> Result<EdgeEnvironment, EdgeError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the module environment from `vars` (name, value pairs).
    ///
    /// With `IOTEDGE_WORKLOADURI` set, the `IOTEDGE_*` variables are used: `WORKLOADURI`,
    /// `DEVICEID`, `MODULEID`, `MODULEGENERATIONID`, `IOTHUBHOSTNAME` and `GATEWAYHOSTNAME` are
    /// required; `APIVERSION` defaults to [`DEFAULT_WORKLOAD_API_VERSION`]; `AUTHSCHEME`, when
    /// set, must be `sasToken`. Otherwise the developer fallback is used:
    /// `EdgeHubConnectionString` (a module connection string, with `GatewayHostName`) and
    /// `EdgeModuleCACertificateFile` (read when connecting).
    ///
    /// # Errors
    ///
    /// [`EdgeError::MissingVariable`] for a required variable that is absent or empty,
    /// [`EdgeError::InvalidVariable`] for a value that cannot be used.
    pub fn from_vars<I, K, V>(vars: I) -> Result<EdgeEnvironment, EdgeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let get = |name: &'static str| {
            map.get(name)
                .map(|v| v.trim().to_owned())
                .ok_or(EdgeError::MissingVariable(name))
        };
        if !map.contains_key(vars::WORKLOAD_URI) {
            if map.contains_key(vars::EDGE_HUB_CONNECTION_STRING) {
                return Self::fallback(&get(vars::EDGE_HUB_CONNECTION_STRING)?, &map);
            }
            return Err(EdgeError::MissingVariable(vars::WORKLOAD_URI));
        }
        if let Some(scheme) = map.get(vars::AUTH_SCHEME) {
            if !scheme.trim().eq_ignore_ascii_case("sasToken") {
                return Err(EdgeError::InvalidVariable {
                    name: vars::AUTH_SCHEME,
                    reason: format!("only sasToken is supported, not {scheme:?}"),
                });
            }
        }
        let id = |name: &'static str| -> Result<String, EdgeError> {
            let value = get(name)?;
            if value.contains('/') {
                return Err(EdgeError::InvalidVariable {
                    name,
                    reason: "an id cannot contain `/`".into(),
                });
            }
            Ok(value)
        };
        let gateway_host = get(vars::GATEWAY_HOSTNAME)?;
        crate::endpoint::parse_endpoint(&gateway_host, 8883).map_err(|_| {
            EdgeError::InvalidVariable {
                name: vars::GATEWAY_HOSTNAME,
                reason: "expected HOST or HOST:PORT".into(),
            }
        })?;
        Ok(EdgeEnvironment {
            kind: EdgeKind::Workload(WorkloadSettings {
                workload_uri: WorkloadUri::parse(&get(vars::WORKLOAD_URI)?)?,
                device_id: id(vars::DEVICE_ID)?,
                module_id: id(vars::MODULE_ID)?,
                generation_id: get(vars::MODULE_GENERATION_ID)?,
                hub_host: id(vars::IOTHUB_HOSTNAME)?,
                gateway_host,
                api_version: get(vars::API_VERSION)
                    .unwrap_or_else(|_| DEFAULT_WORKLOAD_API_VERSION.to_owned()),
            }),
        })
    }

    fn fallback(text: &str, map: &HashMap<String, String>) -> Result<EdgeEnvironment, EdgeError> {
        let invalid = |reason: String| EdgeError::InvalidVariable {
            name: vars::EDGE_HUB_CONNECTION_STRING,
            reason,
        };
        let connection_string: ConnectionString = text
            .parse()
            .map_err(|e: crate::auth::CredentialError| invalid(e.to_string()))?;
        if connection_string.module_id().is_none() {
            return Err(invalid("the connection string has no ModuleId".into()));
        }
        if connection_string.gateway_host_name().is_none() {
            return Err(invalid(
                "the connection string has no GatewayHostName".into(),
            ));
        }
        if !matches!(
            connection_string.credential(),
            ConnectionCredential::SharedAccessKey(_)
        ) {
            return Err(invalid(
                "the connection string needs a SharedAccessKey".into(),
            ));
        }
        let ca_file = map
            .get(vars::EDGE_MODULE_CA_CERTIFICATE_FILE)
            .map(|v| PathBuf::from(v.trim()))
            .ok_or(EdgeError::MissingVariable(
                vars::EDGE_MODULE_CA_CERTIFICATE_FILE,
            ))?;
        Ok(EdgeEnvironment {
            kind: EdgeKind::ConnectionString {
                connection_string,
                ca_file,
            },
        })
    }

    /// The edge device's id.
    pub fn device_id(&self) -> &str {
        match &self.kind {
            EdgeKind::Workload(w) => &w.device_id,
            EdgeKind::ConnectionString {
                connection_string, ..
            } => connection_string.device_id(),
        }
    }

    /// The module's id.
    pub fn module_id(&self) -> &str {
        match &self.kind {
            EdgeKind::Workload(w) => &w.module_id,
            EdgeKind::ConnectionString {
                connection_string, ..
            } => connection_string.module_id().unwrap_or_default(),
        }
    }

    /// Whether tokens are signed through the workload API (the IoT Edge runtime's variables),
    /// rather than with the key of the fallback connection string.
    pub fn uses_workload_api(&self) -> bool {
        matches!(self.kind, EdgeKind::Workload(_))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            (vars::WORKLOAD_URI, "unix:///var/run/iotedge/workload.sock"),
            (vars::DEVICE_ID, "edge-gw-01"),
            (vars::MODULE_ID, "filter"),
            (vars::MODULE_GENERATION_ID, "637000000000000000"),
            (vars::IOTHUB_HOSTNAME, "contoso-hub.azure-devices.net"),
            (vars::GATEWAY_HOSTNAME, "edge-gw-01.local"),
            (vars::AUTH_SCHEME, "SASTOKEN"),
        ]
    }

    #[test]
    fn reads_the_runtime_variables() {
        let env = EdgeEnvironment::from_vars(full()).unwrap();
        assert_eq!(env.device_id(), "edge-gw-01");
        assert_eq!(env.module_id(), "filter");
        assert!(env.uses_workload_api());
        let EdgeKind::Workload(w) = env.kind else {
            panic!("workload settings expected")
        };
        assert_eq!(
            w.workload_uri,
            WorkloadUri::Unix("/var/run/iotedge/workload.sock".into())
        );
        assert_eq!(w.api_version, DEFAULT_WORKLOAD_API_VERSION);
        assert_eq!(w.hub_host, "contoso-hub.azure-devices.net");
        assert_eq!(w.gateway_host, "edge-gw-01.local");

        let mut vars = full();
        vars.push((vars::API_VERSION, "2020-07-07"));
        vars[0] = (vars::WORKLOAD_URI, "http://127.0.0.1:15580");
        let EdgeKind::Workload(w) = EdgeEnvironment::from_vars(vars).unwrap().kind else {
            panic!("workload settings expected")
        };
        assert_eq!(w.api_version, "2020-07-07");
        assert_eq!(
            w.workload_uri,
            WorkloadUri::Http {
                host: "127.0.0.1".into(),
                port: 15580
            }
        );
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        for name in [
            vars::DEVICE_ID,
            vars::MODULE_ID,
            vars::MODULE_GENERATION_ID,
            vars::IOTHUB_HOSTNAME,
            vars::GATEWAY_HOSTNAME,
        ] {
            let vars: Vec<_> = full().into_iter().filter(|(k, _)| *k != name).collect();
            assert!(
                matches!(EdgeEnvironment::from_vars(vars), Err(EdgeError::MissingVariable(n)) if n == name),
                "{name}"
            );
            // Empty counts as missing.
            let vars: Vec<_> = full()
                .into_iter()
                .map(|(k, v)| (k, if k == name { " " } else { v }))
                .collect();
            assert!(matches!(
                EdgeEnvironment::from_vars(vars),
                Err(EdgeError::MissingVariable(_))
            ));
        }
        assert!(matches!(
            EdgeEnvironment::from_vars(Vec::<(String, String)>::new()),
            Err(EdgeError::MissingVariable(vars::WORKLOAD_URI))
        ));
        for (name, value) in [
            (vars::WORKLOAD_URI, "tcp://host:1"),
            (vars::WORKLOAD_URI, "unix://relative.sock"),
            (vars::WORKLOAD_URI, "http://"),
            (vars::WORKLOAD_URI, "http://h:0"),
            (vars::AUTH_SCHEME, "x509"),
            (vars::MODULE_ID, "a/b"),
            (vars::GATEWAY_HOSTNAME, "h:99999"),
        ] {
            let vars: Vec<_> = full()
                .into_iter()
                .map(|(k, v)| (k, if k == name { value } else { v }))
                .collect();
            assert!(
                matches!(EdgeEnvironment::from_vars(vars), Err(EdgeError::InvalidVariable { name: n, .. }) if n == name),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn developer_fallback() {
        let cs = "HostName=h;DeviceId=edge;ModuleId=filter;SharedAccessKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=;GatewayHostName=localhost";
        let env = EdgeEnvironment::from_vars([
            (vars::EDGE_HUB_CONNECTION_STRING, cs),
            (vars::EDGE_MODULE_CA_CERTIFICATE_FILE, "/tmp/ca.pem"),
        ])
        .unwrap();
        assert_eq!((env.device_id(), env.module_id()), ("edge", "filter"));
        assert!(!env.uses_workload_api());
        assert!(matches!(
            EdgeEnvironment::from_vars([(vars::EDGE_HUB_CONNECTION_STRING, cs)]),
            Err(EdgeError::MissingVariable(
                vars::EDGE_MODULE_CA_CERTIFICATE_FILE
            ))
        ));
        for bad in [
            "HostName=h;DeviceId=edge;SharedAccessKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=;GatewayHostName=g",
            "HostName=h;DeviceId=edge;ModuleId=m;SharedAccessKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "not a connection string",
        ] {
            assert!(matches!(
                EdgeEnvironment::from_vars([
                    (vars::EDGE_HUB_CONNECTION_STRING, bad),
                    (vars::EDGE_MODULE_CA_CERTIFICATE_FILE, "/tmp/ca.pem"),
                ]),
                Err(EdgeError::InvalidVariable { .. })
            ));
        }
        // The debug output never shows the key.
        assert!(!format!("{env:?}").contains("MDEy"));
    }
}
