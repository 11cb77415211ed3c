//! An IoT Edge module that aggregates leaf-device telemetry before it goes to the cloud.
//!
//! ```text
//! cargo run --example edge_aggregator
//! ```
//!
//! Leaf devices connect to the edge device as a transparent gateway (a connection string with
//! `GatewayHostName`); the edge hub routes their telemetry to the `telemetry` input of the
//! `aggregator` module, which averages every 10 readings (or what arrived within 5 s) and sends
//! one aggregate on its `aggregate` output, routed `$upstream`. IoT Central receives one message
//! where the leaf devices sent ten.
//!
//! With no `IOTEDGE_*` variables it runs against an embedded emulator in edge-hub mode (routes
//! below, the workload API on a socket in the temporary directory), gives the module the
//! environment the IoT Edge runtime would (through `EdgeEnvironment::from_vars`, not the process
//! environment), runs two simulated leaf devices for 30 readings, prints what reaches the cloud
//! and exits. Run inside IoT Edge (the runtime sets `IOTEDGE_WORKLOADURI` and the others), it
//! is the module itself and runs until Ctrl-C; deploy it with routes like those below.

use std::time::Duration;

use iotc_emulator::{EdgeConfig, Emulator, EmulatorConfig};
use iotc_examples::edge::{run_aggregator, AggregatorConfig};
use iotc_examples::sim::ThermostatSim;
use iotc_examples::{init_logging, BoxError};
use iotc_sdk::auth::{ConnectionCredential, ConnectionString, SasKey};
use iotc_sdk::edge::EdgeEnvironment;
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::Device;

const EDGE_DEVICE: &str = "edge-gateway";
const MODULE: &str = "aggregator";
const ROUTES: [&str; 2] = [
    r#"FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO BrokeredEndpoint("/modules/aggregator/inputs/telemetry")"#,
    "FROM /messages/modules/aggregator/outputs/aggregate INTO $upstream",
];
const READINGS: usize = 30;

fn config() -> AggregatorConfig {
    AggregatorConfig {
        window: 10,
        max_wait: Some(Duration::from_secs(5)),
        ..AggregatorConfig::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    if std::env::var_os("IOTEDGE_WORKLOADURI").is_some() {
        return run_in_iot_edge().await;
    }
    demo().await
}

/// Inside IoT Edge: the module from the runtime's environment, until Ctrl-C.
async fn run_in_iot_edge() -> Result<(), BoxError> {
    let module = Device::from_edge_environment()?.connect().await?;
    println!(
        "module {} of {} connected to the edge hub; Ctrl-C to stop",
        MODULE,
        module.device_id()
    );
    tokio::select! {
        result = run_aggregator(module.clone(), config()) => result?,
        _ = tokio::signal::ctrl_c() => {}
    }
    module.close().await?;
    Ok(())
}

/// Against the embedded emulator: the module plus two simulated leaf devices.
async fn demo() -> Result<(), BoxError> {
    let socket = std::env::temp_dir().join(format!("iotc-edge-{}.sock", std::process::id()));
    let emulator = Emulator::start(EmulatorConfig {
        edge: Some(EdgeConfig {
            device_id: EDGE_DEVICE.into(),
            routes: ROUTES.iter().map(|r| (*r).to_owned()).collect(),
            workload_socket: Some(socket.clone()),
        }),
        ..EmulatorConfig::default()
    })
    .await?;
    println!("edge device {EDGE_DEVICE}, routes:");
    for route in ROUTES {
        println!("  {route}");
    }

    // The module: what the IoT Edge runtime would put in its environment.
    emulator.add_module(EDGE_DEVICE, MODULE)?;
    let env = EdgeEnvironment::from_vars(emulator.edge_environment(MODULE))?;
    let module = Device::builder().edge_environment(env).connect().await?;
    println!(
        "module {MODULE} connected (token signed by the workload API, CA from its trust bundle)"
    );
    let aggregator = tokio::spawn(run_aggregator(module.clone(), config()));

    // Two leaf devices connected through the edge device (GatewayHostName), trusting its CA.
    let mut telemetry = emulator.telemetry();
    let mut leaves = Vec::new();
    for (id, start) in [("leaf-thermometer-1", 21.0), ("leaf-thermometer-2", 24.0)] {
        let key = emulator.add_leaf_device(id)?;
        let cs = ConnectionString::new(
            emulator.hub_hostname(),
            id,
            ConnectionCredential::SharedAccessKey(SasKey::new(&key)?),
        )
        .with_gateway_host_name(format!("localhost:{}", emulator.hub_addr().port()));
        let leaf = Device::builder()
            .connection_string(cs)
            .tls(TlsConfig::with_pinned_roots_pem(
                emulator.ca_cert_pem().as_bytes(),
            )?)
            .connect()
            .await?;
        leaves.push((leaf, ThermostatSim::new(start)));
    }
    for i in 0..READINGS {
        let (leaf, sim) = &mut leaves[i % 2];
        let temperature = sim.step();
        leaf.send_telemetry(&serde_json::json!({ "temperature": temperature }))
            .await?;
        println!(
            "-> {:<20} temperature = {temperature:.2} °C",
            leaf.device_id()
        );
    }

    // What IoT Central receives.
    let expected = READINGS / config().window;
    for _ in 0..expected {
        let msg = tokio::time::timeout(Duration::from_secs(20), telemetry.recv())
            .await?
            .ok_or("emulator stopped")?;
        println!(
            "<= cloud received from {}/{}: {}",
            msg.device_id,
            msg.module_id.as_deref().unwrap_or("-"),
            String::from_utf8_lossy(&msg.body)
        );
    }
    println!("{READINGS} leaf readings, {expected} messages upstream");

    for (leaf, _) in leaves {
        leaf.close().await?;
    }
    aggregator.abort();
    module.close().await?;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}
