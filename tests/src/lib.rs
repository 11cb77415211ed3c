//! What every SDK-against-emulator test binary shares: an emulator per test on free loopback
//! ports, device builders for any transport, and bounded waits so that a hang fails a test
//! instead of stalling the run.
//!
//! One library for the `mqtt`, `amqp`, `transports` (the per-protocol matrix) and `faults`
//! test binaries: the set-up of a device is written once, the same for every transport.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, DeviceBuilder, Event};

/// The model id of the official Thermostat, announced by the devices these tests build.
pub const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

/// How long any one await in a test may take before the test fails as hung.
pub const HANG: Duration = Duration::from_secs(20);

/// Every await that could hang goes through this: a hang fails the test after [`HANG`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    within_for(HANG, what, future).await
}

/// [`within`] with a longer or shorter bound, for steps that may legitimately take long
/// (recovering from an injected fault).
pub async fn within_for<F: Future>(bound: Duration, what: &str, future: F) -> F::Output {
    tokio::time::timeout(bound, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {bound:?}: {what}"))
}

/// Polls `check` every 20 ms until it returns `Some`, within [`HANG`].
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    within(what, async {
        loop {
            if let Some(value) = check() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Logs at `warn` (or `RUST_LOG`) into the test's captured output; once per binary.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .try_init();
}

/// The configuration of [`emulator`]: free loopback ports, devices assigned at once (no DPS
/// polling delay). Start from it for an emulator with other settings.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        ..EmulatorConfig::default()
    }
}

/// An emulator on free loopback ports that assigns devices at once.
pub async fn emulator() -> Emulator {
    start_emulator(emulator_config()).await
}

/// An emulator with `config`, started within the bounded wait.
pub async fn start_emulator(config: EmulatorConfig) -> Emulator {
    init_logging();
    within("emulator start", Emulator::start(config))
        .await
        .expect("emulator starts")
}

/// TLS settings that trust the emulator's CA only.
pub fn tls(emulator: &Emulator) -> TlsConfig {
    TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap()
}

/// The DPS endpoint a device on `protocol` uses, as a real device would: MQTT on the MQTT
/// port, AMQP on the AMQP port, HTTPS and both WebSocket transports on the HTTPS port.
pub fn dps_endpoint(emulator: &Emulator, protocol: Protocol) -> String {
    match protocol {
        Protocol::Mqtt => emulator.dps_endpoint(),
        Protocol::Amqp => emulator.dps_amqp_endpoint(),
        _ => emulator.dps_https_endpoint(),
    }
}

/// A builder for `device_id` on `protocol`, provisioning through the emulator's DPS with its
/// group key and announcing [`THERMOSTAT`]; 10 s connect and operation timeouts.
pub fn builder(emulator: &Emulator, protocol: Protocol, device_id: &str) -> DeviceBuilder {
    Device::builder()
        .protocol(protocol)
        .id_scope(emulator.id_scope())
        .device_id(device_id)
        .credentials(Credentials::group_key(emulator.group_key()).unwrap())
        .model_id(THERMOSTAT)
        .dps_endpoint(dps_endpoint(emulator, protocol))
        .https_port(emulator.https_addr().port())
        .c2d_poll_interval(Duration::from_millis(100))
        .tls(tls(emulator))
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}

/// [`builder`], connected.
pub async fn connect(emulator: &Emulator, protocol: Protocol, device_id: &str) -> Device {
    within("connect", builder(emulator, protocol, device_id).connect())
        .await
        .expect("device connects")
}

/// The device's next event, within the bounded wait.
pub async fn next_event(device: &Device) -> Event {
    within("next event", device.next_event())
        .await
        .expect("an event")
}

/// Waits until the emulator has seen the device's connection end.
pub async fn wait_disconnected(emulator: &Emulator, device_id: &str) {
    eventually("the emulator sees the disconnect", || {
        let connected = emulator
            .devices()
            .into_iter()
            .any(|d| d.device_id == device_id && d.connected);
        (!connected).then_some(())
    })
    .await
}

/// A device id unique to the transport (`mqttws-door`), so that the rows of a matrix do not
/// share names in logs.
pub fn id(protocol: Protocol, name: &str) -> String {
    format!("{}-{name}", tag(protocol))
}

/// A short name of the transport, for device ids.
pub fn tag(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Mqtt => "mqtt",
        Protocol::MqttWs => "mqttws",
        Protocol::Https => "https",
        Protocol::Amqp => "amqp",
        Protocol::AmqpWs => "amqpws",
        _ => "other",
    }
}

/// Whether `protocol` multiplexes a gateway and its downstream devices on one connection
/// (AMQP, over TLS or WebSockets), rather than a connection per device (MQTT).
pub fn multiplexes(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Amqp | Protocol::AmqpWs)
}

/// IoT Edge set-up shared by the edge tests: an emulator in edge-hub mode and leaf devices.
pub mod edge {
    use iotc_emulator::{EdgeConfig, Emulator, EmulatorConfig};
    use iotc_sdk::auth::{ConnectionCredential, ConnectionString, SasKey};
    use iotc_sdk::Device;

    use super::{emulator_config, start_emulator, tls, within};

    /// The edge device of [`edge_emulator`].
    pub const EDGE: &str = "edge-1";

    /// An emulator in edge-hub mode for [`EDGE`] with `routes`, its workload socket in a
    /// temporary directory (kept alive by the returned guard).
    pub async fn edge_emulator(routes: &[&str]) -> (Emulator, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = EmulatorConfig {
            edge: Some(EdgeConfig {
                device_id: EDGE.into(),
                routes: routes.iter().map(|r| (*r).to_owned()).collect(),
                workload_socket: Some(dir.path().join("workload.sock")),
            }),
            ..emulator_config()
        };
        (start_emulator(config).await, dir)
    }

    /// A leaf device of the edge device over MQTT, connected with a connection string whose
    /// `HostName` is the hub (no port: 8883, where nothing listens) and whose
    /// `GatewayHostName` is the edge hub.
    pub async fn leaf(emulator: &Emulator, device_id: &str) -> Device {
        let key = emulator.add_leaf_device(device_id).unwrap();
        let cs = ConnectionString::new(
            emulator.hub_hostname(),
            device_id,
            ConnectionCredential::SharedAccessKey(SasKey::new(&key).unwrap()),
        )
        .with_gateway_host_name(format!("127.0.0.1:{}", emulator.hub_addr().port()));
        within(
            "leaf connects",
            Device::builder()
                .connection_string(cs)
                .tls(tls(emulator))
                .operation_timeout(std::time::Duration::from_secs(10))
                .connect(),
        )
        .await
        .expect("leaf connects")
    }
}

/// `matrix! { [scenario, …] on [row => Protocol::X, …] }`, at the end of a suite module whose
/// scenarios are `pub async fn scenario(protocol: Protocol)`: a module per row with a test per
/// scenario (`scenarios::amqp_ws::twin`). One table of scenarios, run on every transport.
#[macro_export]
macro_rules! matrix {
    ($scenarios:tt on [$($row:ident => $protocol:expr),* $(,)?]) => {$(
        mod $row {
            use iotc_sdk::transport::Protocol;
            const PROTOCOL: Protocol = $protocol;
            $crate::matrix!(@tests $scenarios);
        }
    )*};
    (@tests [$($scenario:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            super::$scenario(PROTOCOL).await;
        }
    )*};
}

/// A quick retry policy for fault tests: 100–500 ms back-off, no attempt limit.
pub fn fast_retry() -> iotc_sdk::retry::ExponentialBackoff {
    iotc_sdk::retry::ExponentialBackoff {
        base: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        max_attempts: None,
        jitter: 0.2,
    }
}

/// Reads the state stream until a state satisfies `wanted`, within [`HANG`]; returns every
/// state seen, the last one included. Panics if the stream ends first.
pub async fn wait_for_state(
    changes: &mut iotc_sdk::device::StateChanges,
    wanted: impl Fn(&iotc_sdk::device::ConnectionState) -> bool,
) -> Vec<iotc_sdk::device::ConnectionState> {
    let mut seen = Vec::new();
    within("state", async {
        while let Some(state) = changes.next().await {
            let done = wanted(&state);
            seen.push(state);
            if done {
                return;
            }
        }
        panic!("the state stream ended; seen {seen:?}");
    })
    .await;
    seen
}

/// Every primitive the device's transport supports, once: telemetry arrives; and where the
/// transport has a twin and commands, a reported property lands, a desired property arrives
/// and is acknowledged, and a command is answered.
pub async fn all_operations_work(emulator: &Emulator, device: &Device) {
    use serde_json::json;
    static SETTING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    let id = device.device_id().to_owned();
    let mut received = emulator.telemetry();
    within("send", device.send_telemetry(&json!({"check": true})))
        .await
        .unwrap();
    loop {
        let m = within("receive", received.recv()).await.unwrap();
        if m.device_id == id && m.body_json() == Some(json!({"check": true})) {
            break;
        }
    }
    if !device.protocol().supports_twin() {
        return;
    }
    let v = within("report", device.report_properties(&json!({"alive": true})))
        .await
        .unwrap();
    assert!(v > 0);
    let setting = SETTING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let version = within(
        "patch",
        emulator.update_desired(&id, json!({ "setting": setting })),
    )
    .await
    .unwrap();
    let handler = {
        let device = device.clone();
        tokio::spawn(async move {
            let mut acked = false;
            let mut answered = false;
            while !(acked && answered) {
                match device.next_event().await {
                    Some(Event::WritableProperties(update)) => {
                        for p in update.properties() {
                            device.acknowledge(p, 200, None).await.unwrap();
                        }
                        acked |= update.version() >= version;
                    }
                    Some(Event::Command(command)) => {
                        command.respond(200, &json!({"pong": true})).await.unwrap();
                        answered = true;
                    }
                    Some(_) => {}
                    None => panic!("events ended"),
                }
            }
        })
    };
    let response = within(
        "invoke",
        emulator.invoke_command(&id, "ping", json!({}), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    within("handler", handler).await.unwrap();
    assert_eq!(
        emulator.twin(&id).unwrap().reported["setting"]["av"],
        json!(version)
    );
}

/// Collects the numbers `n` of the JSON telemetry `{"n": …}` that `device_id` sends, until
/// `count` different ones have arrived; the task's result is the set. Subscribe before the
/// device sends.
pub fn collect_numbered(
    emulator: &Emulator,
    device_id: &str,
    count: u64,
) -> tokio::task::JoinHandle<std::collections::BTreeSet<u64>> {
    let mut received = emulator.telemetry();
    let id = device_id.to_owned();
    tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        while (seen.len() as u64) < count {
            let message = received.recv().await.expect("the telemetry stream");
            if message.device_id != id {
                continue;
            }
            if let Some(n) = message.body_json().and_then(|b| b.get("n")?.as_u64()) {
                seen.insert(n);
            }
        }
        seen
    })
}

/// Test certificates: a CA and device certificates it signs (rcgen).
pub mod certs {
    use iotc_sdk::auth::X509Identity;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    /// A self-signed CA for device certificates (an X.509 enrollment group's CA).
    pub struct TestCa {
        /// The CA certificate, PEM.
        pub pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    impl TestCa {
        /// A new CA with subject CN `name`.
        pub fn new(name: &str) -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::CrlSign,
            ];
            let key = KeyPair::generate().unwrap();
            let pem = params.self_signed(&key).unwrap().pem();
            TestCa {
                pem,
                issuer: Issuer::new(params, key),
            }
        }

        /// A device identity with subject CN `cn` signed by this CA (chain: leaf, CA), valid
        /// until `not_after` (rcgen's default when `None`); with the leaf's PEM.
        pub fn leaf(
            &self,
            cn: &str,
            not_after: Option<time::OffsetDateTime>,
        ) -> (X509Identity, String) {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            if let Some(not_after) = not_after {
                params.not_before = time::OffsetDateTime::now_utc() - time::Duration::DAY;
                params.not_after = not_after;
            }
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            let chain = format!("{}{}", cert.pem(), self.pem);
            let identity =
                X509Identity::from_pem(chain.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
            (identity, cert.pem())
        }
    }
}

/// [`builder`] with [`fast_retry`], connected: for tests that make the device reconnect.
pub async fn connect_resilient(emulator: &Emulator, protocol: Protocol, device_id: &str) -> Device {
    within(
        "connect",
        builder(emulator, protocol, device_id)
            .retry_policy(fast_retry())
            .connect(),
    )
    .await
    .expect("device connects")
}
