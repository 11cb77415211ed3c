//! [`DeviceBuilder`]: everything a device needs to connect, with documented defaults.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::durable::Store;
use super::rotation::{Identity, Rotation};
use super::state::{ConnectionState, StatePublisher};
use super::supervisor::{OfflineQueue, Route, Supervisor};
use super::{Device, Inner};
use crate::auth::{ConnectionCredential, ConnectionString, Credentials, TokenSource};
#[cfg(feature = "edge")]
use crate::edge::{EdgeEnvironment, EdgeKind, WorkloadClient};
use crate::provisioning::{BoundCache, ProvisioningCache, ProvisioningClient, GLOBAL_ENDPOINT};
use crate::proxy::ProxyConfig;
use crate::retry::{ExponentialBackoff, RetryPolicy};
use crate::tls::TlsConfig;
use crate::transport::hub::Session;
use crate::transport::session::reconnect::calls_for_dps;
use crate::transport::{self, HubConfig, Inbound, Protocol, Request};
use crate::{Error, Result};

/// Configures and connects a [`Device`].
///
/// A device connects in one of two ways:
/// - through DPS: [`id_scope`](Self::id_scope) + [`device_id`](Self::device_id) +
///   [`credentials`](Self::credentials) (what IoT Central gives you);
/// - straight to a hub: [`connection_string`](Self::connection_string).
///
/// Missing or conflicting settings make [`connect`](Self::connect) fail with
/// [`Error::Config`] before anything is sent.
#[derive(Clone)]
pub struct DeviceBuilder {
    pub(crate) id_scope: Option<String>,
    device_id: Option<String>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) connection_string: Option<ConnectionString>,
    pub(crate) model_id: Option<String>,
    dps_endpoint: String,
    pub(crate) provisioning_payload: Option<Value>,
    provisioning_cache: Option<Arc<dyn ProvisioningCache>>,
    tls: Option<TlsConfig>,
    proxy: Option<ProxyConfig>,
    protocol: Protocol,
    https_port: Option<u16>,
    c2d_poll_interval: Duration,
    keep_alive: Duration,
    operation_timeout: Duration,
    connect_timeout: Duration,
    sas_token_ttl: Duration,
    event_capacity: usize,
    expiry_warning: Duration,
    retry_policy: Arc<dyn RetryPolicy>,
    pub(crate) offline_queue: OfflineQueue,
    auto_message_ids: bool,
    #[cfg(feature = "edge")]
    edge: Option<EdgeEnvironment>,
    /// AMQP connections shared by a gateway and its downstream devices.
    pub(crate) shared_amqp: Option<transport::SharedAmqp>,
}

impl fmt::Debug for DeviceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceBuilder")
            .field("id_scope", &self.id_scope)
            .field("device_id", &self.device_id)
            .field("model_id", &self.model_id)
            .field("dps_endpoint", &self.dps_endpoint)
            .field("protocol", &self.protocol)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Default for DeviceBuilder {
    fn default() -> Self {
        DeviceBuilder {
            id_scope: None,
            device_id: None,
            credentials: None,
            connection_string: None,
            model_id: None,
            dps_endpoint: GLOBAL_ENDPOINT.to_owned(),
            provisioning_payload: None,
            provisioning_cache: None,
            tls: None,
            proxy: None,
            protocol: Protocol::Mqtt,
            https_port: None,
            c2d_poll_interval: Duration::from_secs(60),
            keep_alive: Duration::from_secs(240),
            operation_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            sas_token_ttl: Duration::from_secs(3600),
            event_capacity: 128,
            expiry_warning: super::DEFAULT_EXPIRY_WARNING,
            retry_policy: Arc::new(ExponentialBackoff::default()),
            offline_queue: OfflineQueue::default(),
            auto_message_ids: true,
            #[cfg(feature = "edge")]
            edge: None,
            shared_amqp: None,
        }
    }
}

impl DeviceBuilder {
    /// A builder for the IoT Edge module the process environment describes (the `IOTEDGE_*`
    /// variables, or the `EdgeHubConnectionString` developer fallback; see
    /// [`EdgeEnvironment::from_vars`]).
    ///
    /// # Errors
    ///
    /// [`Error::Edge`] when the environment is missing or invalid.
    #[cfg(feature = "edge")]
    pub fn from_edge_environment() -> Result<DeviceBuilder> {
        Ok(DeviceBuilder::default().edge_environment(EdgeEnvironment::from_env()?))
    }

    /// Connects as the IoT Edge module `env` describes: to the edge hub, with tokens signed by
    /// the workload API and the edge CA from its trust bundle (or, for the developer fallback,
    /// the module connection string's key and CA file). Replaces any ID scope, connection
    /// string, credentials and TLS settings. Over MQTT or AMQP (either also over WebSockets).
    #[cfg(feature = "edge")]
    pub fn edge_environment(mut self, env: EdgeEnvironment) -> Self {
        self.edge = Some(env);
        self
    }

    /// The DPS ID scope of the IoT Central application (Permissions → Device connection groups).
    pub fn id_scope(mut self, id_scope: impl Into<String>) -> Self {
        self.id_scope = Some(id_scope.into());
        self
    }

    /// The device id, which is also the DPS registration id.
    pub fn device_id(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// How the device authenticates: a device key, an enrollment-group key (the device key is
    /// derived from it) or an X.509 certificate.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Connects straight to the hub named in the connection string, without DPS.
    pub fn connection_string(mut self, connection_string: ConnectionString) -> Self {
        self.connection_string = Some(connection_string);
        self
    }

    /// The device's model id (DTMI), announced to DPS and the hub so IoT Central can assign
    /// the device template.
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = Some(model_id.into());
        self
    }

    /// The DPS endpoint, `host` or `host:port`. Default: `global.azure-devices-provisioning.net`
    /// on the protocol's standard port (8883 MQTT, 5671 AMQP, 443 WebSockets).
    pub fn dps_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.dps_endpoint = endpoint.into();
        self
    }

    /// Extra fields for the DPS registration payload (a JSON object), such as
    /// `{"iotcGateway": {"iotcGatewayId": "gw-1"}}`.
    pub fn provisioning_payload(mut self, payload: Value) -> Self {
        self.provisioning_payload = Some(payload);
        self
    }

    /// Where the device remembers the hub DPS assigned it (see
    /// [`FileProvisioningCache`](crate::provisioning::FileProvisioningCache)). With a cache,
    /// [`connect`](Self::connect) goes straight to the cached hub and registers with DPS only
    /// when nothing usable is cached (none yet, another model id or payload, an unreadable or
    /// corrupt cache: logged, never an error) or the cached hub does not take the device (it
    /// refuses it, does not know it, or cannot be reached). Every new assignment is cached.
    /// Only for devices that connect through DPS. Default: none, every `connect` registers.
    pub fn provisioning_cache(mut self, cache: impl ProvisioningCache + 'static) -> Self {
        self.provisioning_cache = Some(Arc::new(cache));
        self
    }

    /// TLS settings. Default: the system's roots, with a connector built for this device. Pass
    /// one shared [`TlsConfig`] to many devices to build the connector once.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects through this HTTP proxy (a CONNECT tunnel, with basic authentication when it
    /// has credentials): DPS, the hub and file upload. Only the protocols on port 443 go
    /// through a proxy: [`Protocol::MqttWs`], [`Protocol::AmqpWs`] and [`Protocol::Https`];
    /// [`connect`](Self::connect) with [`Protocol::Mqtt`] or [`Protocol::Amqp`] and a proxy
    /// fails with [`Error::Unsupported`]. Failures of the proxy are [`Error::Proxy`].
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The protocol for DPS and the hub: MQTT, AMQP, either over WebSockets, or HTTPS (see
    /// `docs/transports.md`). Default: [`Protocol::Mqtt`]. The DPS endpoint's and the hub's
    /// port default to the protocol's standard port.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The port of the hub's HTTPS endpoint, which file upload uses whatever the protocol.
    /// Default: the hub connection's port with [`Protocol::Https`] and
    /// [`Protocol::MqttWs`], 443 otherwise. Only a hub on a non-standard port (an emulator)
    /// needs it. Without the cargo feature `https` (no HTTPS, no file upload) it is unused.
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = Some(port);
        self
    }

    /// How often the HTTPS transport asks the hub for cloud-to-device messages (it has no
    /// push). Default 60 s. IoT hub allows about 1000 such polls per minute per hub unit,
    /// shared by all its devices; other transports (and builds without the cargo feature
    /// `https`) ignore this.
    pub fn c2d_poll_interval(mut self, interval: Duration) -> Self {
        self.c2d_poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// MQTT keep-alive interval. Default 240 s (the C SDKs' value; the hub allows up to 1177 s).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// How long an operation (telemetry acknowledgement, twin request) may take before
    /// [`Error::Timeout`]. Default 30 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How long connecting (TLS, CONNECT, subscriptions) may take, and the overall DPS
    /// registration budget. Default 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Lifetime of the SAS tokens the device signs. Default 3600 s.
    pub fn sas_token_ttl(mut self, ttl: Duration) -> Self {
        self.sas_token_ttl = ttl;
        self
    }

    /// How many inbound events (commands, property updates, cloud messages) wait for
    /// [`Device::next_event`] before new ones are refused. Default 128. A refused command is
    /// answered with status 503 so the caller never waits for nothing.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// How long before its expiry (`not_after`) an X.509 device certificate is reported: a
    /// warning in the log and [`Event::CredentialExpiring`](crate::Event::CredentialExpiring),
    /// checked at every connection. Default [`DEFAULT_EXPIRY_WARNING`](super::DEFAULT_EXPIRY_WARNING)
    /// (30 days); zero reports only expired certificates.
    pub fn certificate_expiry_warning(mut self, warning: Duration) -> Self {
        self.expiry_warning = warning;
        self
    }

    /// How long to wait between reconnection attempts after the connection is lost. Default:
    /// [`ExponentialBackoff::default`] (1 s doubling to 60 s, ±20 % jitter, for ever). Fatal
    /// errors (unauthorized, not found) stop the retries whatever the policy.
    pub fn retry_policy(mut self, policy: impl RetryPolicy + 'static) -> Self {
        self.retry_policy = Arc::new(policy);
        self
    }

    /// Where requests wait while the device is disconnected. Default: 1000 requests, senders
    /// wait when it is full.
    pub fn offline_queue(mut self, queue: OfflineQueue) -> Self {
        self.offline_queue = queue;
        self
    }

    /// Whether telemetry without a message id gets a unique one (default true), so that a
    /// message sent twice across a reconnection can be recognized.
    pub fn auto_message_ids(mut self, enabled: bool) -> Self {
        self.auto_message_ids = enabled;
        self
    }

    /// Provisions the device (unless a connection string was given), connects to its hub,
    /// subscribes, and reads the twin. Writable properties set while the device was offline
    /// arrive as the first [`Event::WritableProperties`](crate::Event::WritableProperties).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for missing settings, [`Error::Unsupported`] at once when the
    /// protocol's cargo feature is off in this build ([`Protocol::is_available`]), and every
    /// error of [`ProvisioningClient::register`] and of the hub connection
    /// ([`Error::Unauthorized`], [`Error::Connection`], [`Error::Timeout`]).
    pub async fn connect(self) -> Result<Device> {
        self.protocol.ensure_available()?;
        self.protocol.ensure_proxy(self.proxy.as_ref())?;
        if let Some(model_id) = &self.model_id {
            model_id.parse::<crate::Dtmi>()?;
        }
        if self.keep_alive < Duration::from_secs(1) {
            return Err(Error::Config(
                "keep_alive must be at least one second".into(),
            ));
        }
        let tls = self.tls.clone().unwrap_or_default();
        // The sub-futures are boxed: inline, every transport's connect and DPS state would make
        // this future (and the caller's, often on a thread's stack) hundreds of KB in debug
        // builds.
        let (mut hub, route, cached) = Box::pin(self.route(tls.clone())).await?;
        // The first connection is not retried: a wrong key or an unreachable hub is reported
        // at once. Later losses are the supervisor's to recover from. A cached hub that does
        // not take the device sends it back to DPS once.
        let session = match Box::pin(Session::connect(&hub)).await {
            Ok(session) => session,
            Err(e) if cached && calls_for_dps(&e) => {
                tracing::warn!(hub = %hub.hub_host, error = %e.chain(), "the cached hub did not take the device: registering with DPS again");
                if let Route::Dps {
                    client,
                    cache: Some(cache),
                } = &route
                {
                    cache.forget();
                    hub = Box::pin(self.register(client, Some(cache), hub)).await?;
                }
                Box::pin(Session::connect(&hub)).await?
            }
            Err(e) => return Err(e),
        };
        // A durable queue hands over what the last run could not send.
        let mut backlog = VecDeque::new();
        let store = match &self.offline_queue.durable {
            Some(path) => {
                let (store, restored) = Store::open(path)?;
                backlog.extend(restored.into_iter().map(|message| Request::Telemetry {
                    message: Box::new(message),
                    reply: tokio::sync::oneshot::channel().0,
                }));
                Some(store)
            }
            None => None,
        };
        let (requests_tx, requests_rx) = mpsc::channel::<Request>(self.event_capacity.max(16));
        let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(self.event_capacity);
        let state = Arc::new(StatePublisher::new(ConnectionState::Connected));
        let registration_id = match &route {
            Route::Dps { client, .. } => Some(client.registration_id()),
            Route::Direct => None,
        };
        let identity = Identity::of(
            &hub.auth,
            registration_id,
            &hub.device_id,
            hub.shared_amqp.is_some(),
        );
        let rotation = Arc::new(Rotation::new(identity, self.expiry_warning));
        let current = Arc::new(std::sync::RwLock::new(super::HubSnapshot(hub.clone())));
        let supervisor = Supervisor {
            current: current.clone(),
            hub: hub.clone(),
            route,
            policy: self.retry_policy.clone(),
            requests: requests_rx,
            inbound: inbound_tx,
            state: state.clone(),
            backlog,
            queue: self.offline_queue.clone(),
            store,
            flush_timeout: self.operation_timeout,
            rotation: rotation.clone(),
            expiry_reported: None,
            generation: 0,
        };
        let task = tokio::spawn(supervisor.run(session));
        Ok(Device {
            inner: Arc::new(Inner {
                requests: requests_tx,
                events: tokio::sync::Mutex::new(inbound_rx),
                device_id: hub.device_id.clone(),
                module_id: hub.module_id.clone(),
                protocol: self.protocol,
                hub: current,
                model_id: self.model_id.clone(),
                deadlines: super::deadline::Deadlines::start(self.operation_timeout),
                auto_message_ids: self.auto_message_ids,
                state,
                rotation,
                task: std::sync::Mutex::new(Some(task)),
            }),
        })
    }

    /// The hub to connect to, and how it was found: the edge hub of a module, a connection
    /// string, or DPS.
    /// `true` with a hub from the provisioning cache.
    async fn route(&self, tls: TlsConfig) -> Result<(HubConfig, Route, bool)> {
        #[cfg(feature = "edge")]
        if let Some(env) = &self.edge {
            return Ok((self.hub_from_edge(env).await?, Route::Direct, false));
        }
        if self.provisioning_cache.is_some() && self.id_scope.is_none() {
            return Err(Error::Config(
                "a provisioning cache is for devices that connect through DPS (an ID scope)".into(),
            ));
        }
        match (&self.connection_string, &self.id_scope) {
            (Some(_), Some(_)) => Err(Error::Config(
                "give either a connection string or an ID scope, not both".into(),
            )),
            (Some(cs), None) => Ok((
                self.hub_from_connection_string(cs, tls)?,
                Route::Direct,
                false,
            )),
            (None, Some(scope)) => self.provision(scope, tls).await,
            (None, None) => Err(Error::Config(
                "an ID scope (with device id and credentials) or a connection string is required"
                    .into(),
            )),
        }
    }

    /// The edge hub connection of an IoT Edge module.
    #[cfg(feature = "edge")]
    async fn hub_from_edge(&self, env: &EdgeEnvironment) -> Result<HubConfig> {
        if !self.protocol.supports_twin() {
            return Err(Error::Config(format!(
                "IoT Edge modules connect over MQTT or AMQP (or either over WebSockets), not {}",
                self.protocol
            )));
        }
        match &env.kind {
            EdgeKind::Workload(settings) => {
                let workload = WorkloadClient::new(settings.clone());
                let tls = TlsConfig::with_pinned_roots_pem(&workload.trust_bundle().await?)?;
                let (connect_host, port) = transport::parse_endpoint(
                    &settings.gateway_host,
                    self.protocol.default_port(),
                )?;
                Ok(self.hub_config(
                    settings.hub_host.clone(),
                    connect_host,
                    port,
                    settings.device_id.clone(),
                    Some(settings.module_id.clone()),
                    TokenSource::External(Arc::new(workload)),
                    tls,
                ))
            }
            EdgeKind::ConnectionString {
                connection_string,
                ca_file,
            } => {
                let pem = std::fs::read(ca_file).map_err(|e| {
                    Error::Config(format!(
                        "cannot read the edge CA file {}: {e}",
                        ca_file.display()
                    ))
                })?;
                let tls = TlsConfig::with_pinned_roots_pem(&pem)?;
                let builder = DeviceBuilder {
                    credentials: None,
                    ..self.clone()
                };
                builder.hub_from_connection_string(connection_string, tls)
            }
        }
    }

    fn hub_from_connection_string(
        &self,
        cs: &ConnectionString,
        tls: TlsConfig,
    ) -> Result<HubConfig> {
        if self.credentials.is_some() {
            return Err(Error::Config(
                "credentials come from the connection string; do not set them too".into(),
            ));
        }
        let auth = match cs.credential() {
            ConnectionCredential::SharedAccessKey(key) => TokenSource::Key(key.clone()),
            ConnectionCredential::SharedAccessSignature(token) => {
                TokenSource::Token(token.clone())
            }
            ConnectionCredential::X509 => {
                return Err(Error::Config(
                    "the connection string says x509=true: give the certificate with credentials(Credentials::x509(..)) and use DPS, or a SharedAccessKey".into(),
                ))
            }
            #[allow(unreachable_patterns)]
            _ => return Err(Error::Config("unsupported connection string credential".into())),
        };
        let default_port = self.protocol.default_port();
        let (connect_host, port) = match cs.gateway_host_name() {
            Some(gateway) => transport::parse_endpoint(gateway, default_port)?,
            None => transport::parse_endpoint(cs.host_name(), default_port)?,
        };
        let (hub_host, _) = transport::parse_endpoint(cs.host_name(), default_port)?;
        Ok(self.hub_config(
            hub_host,
            connect_host,
            port,
            cs.device_id().to_owned(),
            cs.module_id().map(str::to_owned),
            auth,
            tls,
        ))
    }

    /// The hub of a DPS device: the cached one if the cache has one for these settings,
    /// otherwise the one DPS assigns (`true`: from the cache).
    async fn provision(&self, scope: &str, tls: TlsConfig) -> Result<(HubConfig, Route, bool)> {
        let device_id = self
            .device_id
            .clone()
            .ok_or_else(|| Error::Config("a device id is required with an ID scope".into()))?;
        let credentials = self
            .credentials
            .clone()
            .ok_or_else(|| Error::Config("credentials are required with an ID scope".into()))?;
        let mut client = ProvisioningClient::new(scope, device_id.clone(), credentials.clone())
            .dps_endpoint(self.dps_endpoint.clone())
            .tls(tls.clone())
            .registration_timeout(self.connect_timeout)
            .protocol(self.protocol);
        if let Some(proxy) = &self.proxy {
            client = client.proxy(proxy.clone());
        }
        if let Some(model_id) = &self.model_id {
            client = client.model_id(model_id.clone());
        }
        if let Some(payload) = &self.provisioning_payload {
            client = client.provisioning_payload(payload.clone());
        }
        let auth = match credentials.x509_identity() {
            Some(identity) => TokenSource::X509(identity.clone()),
            None => TokenSource::Key(credentials.device_sas_key(&device_id).ok_or_else(|| {
                Error::Config("the credentials hold neither a key nor a certificate".into())
            })?),
        };
        let cache = self
            .provisioning_cache
            .clone()
            .map(|cache| BoundCache::new(cache, &client));
        // The hub's settings before DPS (or the cache) has named the hub.
        let unassigned =
            self.hub_config(String::new(), String::new(), 0, device_id, None, auth, tls);
        let cached = cache.as_ref().and_then(BoundCache::lookup);
        let (hub, from_cache) = match cached {
            Some(assignment) => {
                let hub = HubConfig {
                    hub_host: assignment.hub_host.clone(),
                    connect_host: assignment.hub_host,
                    port: assignment.hub_port,
                    device_id: assignment.device_id,
                    ..unassigned
                };
                (hub, true)
            }
            None => (
                self.register(&client, cache.as_ref(), unassigned).await?,
                false,
            ),
        };
        let route = Route::Dps {
            client: Box::new(client),
            cache,
        };
        Ok((hub, route, from_cache))
    }

    /// Registers with DPS and points `hub` at the assigned hub, which `cache` learns.
    async fn register(
        &self,
        client: &ProvisioningClient,
        cache: Option<&BoundCache>,
        hub: HubConfig,
    ) -> Result<HubConfig> {
        let registration = client.register().await?;
        let device_id = if registration.device_id.is_empty() {
            client.registration_id().to_owned()
        } else {
            registration.device_id.clone()
        };
        if let Some(cache) = cache {
            cache.remember(&registration, &device_id);
        }
        Ok(HubConfig {
            hub_host: registration.assigned_hub.clone(),
            connect_host: registration.assigned_hub.clone(),
            port: registration.hub_port,
            device_id,
            ..hub
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn hub_config(
        &self,
        hub_host: String,
        connect_host: String,
        port: u16,
        device_id: String,
        module_id: Option<String>,
        auth: TokenSource,
        tls: TlsConfig,
    ) -> HubConfig {
        let https_port = match self.https_port {
            Some(p) => p,
            None if self.protocol.uses_https_port() => port,
            None => 443,
        };
        HubConfig {
            protocol: self.protocol,
            hub_host,
            connect_host,
            port,
            https_port,
            device_id,
            module_id,
            model_id: self.model_id.clone(),
            auth,
            tls,
            keep_alive: self.keep_alive,
            sas_ttl: self.sas_token_ttl,
            connect_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
            c2d_poll_interval: self.c2d_poll_interval,
            shared_amqp: self.shared_amqp.clone(),
            proxy: self.proxy.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn debug_output_carries_no_key() {
        let builder = DeviceBuilder::default()
            .id_scope("0ne00000A0A")
            .device_id("thermostat-01")
            .credentials(Credentials::group_key(KEY).unwrap())
            .proxy(ProxyConfig::new("proxy.example", 3128).basic_auth("user", "hunter2"));
        let text = format!("{builder:?}");
        assert!(text.contains("thermostat-01") && text.contains("proxy.example"));
        assert!(!text.contains(KEY) && !text.contains("MDEy"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let cs: ConnectionString = format!("HostName=h;DeviceId=d;SharedAccessKey={KEY}")
            .parse()
            .unwrap();
        let text = format!("{:?}", DeviceBuilder::default().connection_string(cs));
        assert!(!text.contains("MDEy"), "{text}");
    }

    #[tokio::test]
    async fn conflicting_or_missing_settings_are_config_errors() {
        let creds = Credentials::device_key(KEY).unwrap();
        let cs: ConnectionString = format!("HostName=h;DeviceId=d;SharedAccessKey={KEY}")
            .parse()
            .unwrap();
        let cases = [
            DeviceBuilder::default(),
            DeviceBuilder::default()
                .id_scope("s")
                .connection_string(cs.clone()),
            DeviceBuilder::default()
                .connection_string(cs)
                .credentials(creds.clone()),
            DeviceBuilder::default()
                .id_scope("s")
                .credentials(creds.clone()),
            DeviceBuilder::default().id_scope("s").device_id("d"),
            DeviceBuilder::default()
                .id_scope("s")
                .device_id("d")
                .credentials(creds.clone())
                .model_id("Thermostat"),
            DeviceBuilder::default()
                .id_scope("s")
                .device_id("d")
                .credentials(creds)
                .keep_alive(Duration::ZERO),
        ];
        for builder in cases {
            let described = format!("{builder:?}");
            assert!(
                matches!(builder.connect().await, Err(Error::Config(_))),
                "{described}"
            );
        }
    }
}
