//! Shared set-up for the examples: connect to a real IoT Central application when its
//! credentials are in the environment, otherwise to an `iotc-emulator` started in-process.
//!
//! Environment variables (all optional; none set means "use the embedded emulator"):
//!
//! | variable | meaning |
//! | --- | --- |
//! | `IOTC_ID_SCOPE` | the application's ID scope; setting it selects the real service |
//! | `IOTC_DEVICE_ID` | the device id (registration id) |
//! | `IOTC_DEVICE_KEY` | the device's SAS key, or |
//! | `IOTC_GROUP_KEY` | the enrollment group's SAS key (the device key is derived from it) |
//! | `IOTC_DPS_ENDPOINT` | DPS `host` or `host:port`; default `global.azure-devices-provisioning.net` |
//! | `IOTC_TRUST_CA` | a PEM file of extra trusted root certificates |
//! | `IOTC_TRANSPORT` | `mqtt` (default), `mqtt-ws`, `amqp`, `amqp-ws` or `https` (see `docs/transports.md`) |
//! | `IOTC_HTTPS_PORT` | the hub's HTTPS port when it is not 443 (an emulator binary on free ports) |
//! | `IOTC_PROXY` | an HTTP proxy, `http://[user:pass@]host:port`, for `mqtt-ws`, `amqp-ws` and `https` (see `docs/field.md`, "Proxies") |
//! | `IOTC_PROVISIONING_CACHE` | a file where the device caches its DPS assignment: later runs connect to the cached hub without registering again (see `docs/field.md`) |

pub mod edge;
pub mod models;
pub mod sim;

use std::error::Error;
use std::future::Future;
use std::ops::AsyncFnOnce;
use std::time::Duration;

use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_sdk::provisioning::FileProvisioningCache;
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, DeviceBuilder, Interface};
use tokio::sync::watch;

/// Boxed error for examples.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Where an example connects.
pub struct Target {
    /// A builder with scope, device id, credentials, endpoint and TLS filled in.
    pub builder: DeviceBuilder,
    /// The embedded emulator, when no credentials were in the environment.
    pub emulator: Option<Emulator>,
}

/// Reads the environment and prepares a builder for a device of model `I`; starts an emulator
/// (which knows `I` as a device template) when `IOTC_ID_SCOPE` is not set.
///
/// # Errors
///
/// A missing companion variable, an unreadable CA file, or an emulator that cannot start.
pub async fn target<I: Interface>(default_device_id: &str) -> Result<Target, BoxError> {
    let protocol = transport()?;
    let mut builder = iotc_sdk::Device::builder().model::<I>().protocol(protocol);
    if let Some(port) = env("IOTC_HTTPS_PORT") {
        builder = builder.https_port(
            port.parse()
                .map_err(|_| format!("IOTC_HTTPS_PORT is not a port: {port}"))?,
        );
    }
    if let Some(path) = env("IOTC_PROVISIONING_CACHE") {
        builder = builder.provisioning_cache(FileProvisioningCache::new(path));
    }
    if let Some(url) = env("IOTC_PROXY") {
        // The error names the proxy's host and port, never its password.
        builder = builder.proxy(url.parse::<iotc_sdk::ProxyConfig>()?);
    }
    let Some(scope) = env("IOTC_ID_SCOPE") else {
        let emulator = Emulator::start(EmulatorConfig::default()).await?;
        emulator.add_template(&iotc_sdk::model::export(&I::interfaces()))?;
        let dps_endpoint = match protocol {
            Protocol::Mqtt => emulator.dps_endpoint(),
            Protocol::Amqp => emulator.dps_amqp_endpoint(),
            _ => emulator.dps_https_endpoint(),
        };
        let builder = builder
            .id_scope(emulator.id_scope())
            .device_id(default_device_id)
            .credentials(Credentials::group_key(emulator.group_key())?)
            .dps_endpoint(dps_endpoint)
            .https_port(emulator.https_addr().port())
            .tls(TlsConfig::with_pinned_roots_pem(
                emulator.ca_cert_pem().as_bytes(),
            )?);
        return Ok(Target {
            builder,
            emulator: Some(emulator),
        });
    };
    let device_id = env("IOTC_DEVICE_ID").ok_or("IOTC_DEVICE_ID is required with IOTC_ID_SCOPE")?;
    let credentials = match (env("IOTC_DEVICE_KEY"), env("IOTC_GROUP_KEY")) {
        (Some(key), None) => Credentials::device_key(&key)?,
        (None, Some(key)) => Credentials::group_key(&key)?,
        _ => return Err("set exactly one of IOTC_DEVICE_KEY and IOTC_GROUP_KEY".into()),
    };
    let mut builder = builder
        .id_scope(scope)
        .device_id(device_id)
        .credentials(credentials);
    if let Some(endpoint) = env("IOTC_DPS_ENDPOINT") {
        builder = builder.dps_endpoint(endpoint);
    }
    if let Some(path) = env("IOTC_TRUST_CA") {
        let pem =
            std::fs::read(&path).map_err(|e| format!("cannot read IOTC_TRUST_CA {path}: {e}"))?;
        builder = builder.tls(TlsConfig::with_extra_roots_pem(&pem)?);
    }
    Ok(Target {
        builder,
        emulator: None,
    })
}

/// The protocol `IOTC_TRANSPORT` names (default MQTT).
///
/// # Errors
///
/// An unknown transport name.
pub fn transport() -> Result<Protocol, BoxError> {
    Ok(env("IOTC_TRANSPORT")
        .map(|name| name.parse())
        .transpose()?
        .unwrap_or_default())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Logs to stderr at `info` (override with `RUST_LOG`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,iotc_emulator=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// Runs a single-device example: connects `target`'s device, runs `run_device` on its own task
/// (with a send interval and a stop signal), and
/// - against the embedded emulator: plays `demo` (the service side, given the emulator and the
///   device; at most 20 s), then stops the device and closes it;
/// - against a real application: runs until Ctrl-C (or until `run_device` fails), then closes.
///
/// # Errors
///
/// A failed connection, a failed device task or demo, or a demo that does not finish in time.
pub async fn run_single_device<F, Fut>(
    target: Target,
    run_device: F,
    demo: impl AsyncFnOnce(&Emulator, &Device) -> Result<(), BoxError>,
) -> Result<(), BoxError>
where
    F: FnOnce(Device, Duration, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let embedded = target.emulator.is_some();
    if embedded {
        println!("No IoT Central credentials in the environment: using an embedded emulator.");
    }
    println!(
        "== provisioning through DPS and connecting to the assigned hub over {}",
        transport()?.name()
    );
    let device = target.builder.connect().await?;
    println!(
        "== connected as {} to {} over {}",
        device.device_id(),
        device.hub_host(),
        device.protocol()
    );
    if !device.protocol().supports_twin() {
        println!(
            "   ({} has no twin and no direct commands: telemetry, cloud messages and queued commands only)",
            device.protocol()
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let interval = if embedded {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(5)
    };
    let runner = tokio::spawn(run_device(device.clone(), interval, stop_rx));
    match target.emulator {
        Some(emulator) => {
            let result =
                tokio::time::timeout(Duration::from_secs(20), demo(&emulator, &device)).await;
            let _ = stop_tx.send(true);
            runner.await??;
            device.close().await?;
            result.map_err(|_| "the scripted demo did not finish in 20 s")??;
            println!("== demo complete: device closed cleanly");
        }
        None => {
            println!("== running; press Ctrl-C to stop");
            tokio::select! {
                signal = tokio::signal::ctrl_c() => signal?,
                result = runner => return result?,
            }
            let _ = stop_tx.send(true);
            device.close().await?;
            println!("== disconnected");
        }
    }
    Ok(())
}
