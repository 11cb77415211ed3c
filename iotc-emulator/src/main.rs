//! `iotc-emulator`: run a local IoT Central (DPS + IoT hub over MQTT and AMQP with TLS) with a REST service
//! API. With no flags it picks free loopback ports and generates the ID scope and group key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use iotc_emulator::{Central, EdgeConfig, Emulator, EmulatorConfig};

/// A local Azure IoT Central (DPS + IoT hub over MQTT 3.1.1 and AMQP 1.0 with TLS, HTTPS, and
/// MQTT and AMQP over WebSockets) for offline development.
#[derive(Debug, Parser)]
#[command(name = "iotc-emulator", version)]
struct Args {
    /// DPS listener address (the hub shares it unless --hub-listen is given).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    dps_listen: SocketAddr,
    /// Host name devices use for DPS (server certificate SAN).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    dps_hostname: String,
    /// Separate hub listener address (use port 8883 for the official SDKs).
    #[arg(long, value_name = "ADDR:PORT")]
    hub_listen: Option<SocketAddr>,
    /// Hub host name announced by DPS as assignedHub (plus ":port" unless the port is 8883).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    hub_hostname: String,
    /// DPS ID scope (default: generated, 0ne + 8 hex digits).
    #[arg(long, value_name = "SCOPE")]
    id_scope: Option<String>,
    /// Key (base64) of the SAS-IoT-Devices enrollment group (default: random 64 bytes).
    #[arg(long, value_name = "BASE64")]
    group_key: Option<String>,
    /// Where to write the CA certificate PEM devices must trust (default: a file in the
    /// temporary directory).
    #[arg(long, value_name = "FILE")]
    ca_cert_out: Option<PathBuf>,
    /// REST service API address.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    service_listen: SocketAddr,
    /// HTTPS port (device REST API, DPS REST, file-upload blob store, MQTT and AMQP over
    /// WebSockets on /$iothub/websocket), on the DPS and hub listen addresses. Default: 443
    /// when the hub port is 8883, a free port otherwise.
    #[arg(long, value_name = "PORT")]
    https_port: Option<u16>,
    /// AMQP 1.0 (TLS) port, on the DPS and hub addresses (default: 5671 when the hub's MQTT
    /// port is 8883, else a free port).
    #[arg(long, value_name = "PORT")]
    amqp_port: Option<u16>,
    /// Number of IoT hubs DPS spreads devices over (hub k ≥ 1 is 127.0.0.{k+1}, same ports);
    /// devices can then be failed over (POST /devices/{id}/failover on the service API).
    #[arg(long, value_name = "N", default_value_t = 1)]
    hubs: usize,
    /// retry-after (seconds) DPS sends with 202 responses.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    dps_retry_after: u64,
    /// Edge-hub mode: the edge device's id (its modules and leaf devices take the routes).
    #[arg(long, value_name = "ID")]
    edge_device: Option<String>,
    /// Edge-hub mode: an edge route (repeatable), e.g.
    /// 'FROM /messages/modules/m/outputs/o INTO $upstream'. None: everything $upstream.
    #[arg(long = "route", value_name = "ROUTE", requires = "edge_device")]
    routes: Vec<String>,
    /// Edge-hub mode: serve the IoT Edge workload API on this Unix socket.
    #[arg(long, value_name = "PATH", requires = "edge_device")]
    workload_socket: Option<PathBuf>,
    /// Edge-hub mode: module identities of the edge device to create (repeatable); their
    /// IOTEDGE_* environment is printed.
    #[arg(long = "module", value_name = "ID", requires = "edge_device")]
    modules: Vec<String>,
    /// The API token IoT Central's REST API under /api on the service port wants in
    /// `Authorization` (default: generated and printed).
    #[arg(long, value_name = "TOKEN")]
    api_token: Option<String>,
    /// A device template to load at start (repeatable): a DTDL model (one interface or an
    /// array) or IoT Central's template document, or a directory of them (every `.json` file
    /// under it).
    #[arg(long = "template", value_name = "FILE|DIR")]
    templates: Vec<PathBuf>,
    /// Keep enrollments, registrations, device identities with their twins, templates and IoT
    /// Central's records in this directory across restarts (default: in memory only).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Edge-hub mode: leaf devices of the edge device to register (repeatable); their keys are
    /// printed.
    #[arg(long = "leaf-device", value_name = "ID", requires = "edge_device")]
    leaf_devices: Vec<String>,
}

/// `path` itself, or every `.json` file under the directory `path`, sorted.
fn template_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let p = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("iotc-emulator: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let modules = args.modules.clone();
    let mut id_scope = args.id_scope;
    let mut group_key = args.group_key;
    if let Some(dir) = &args.state_dir {
        if let Some((scope, key)) = iotc_emulator::central::saved_identity(dir)? {
            id_scope.get_or_insert(scope);
            group_key.get_or_insert(key);
        }
    }
    let leaf_devices = args.leaf_devices.clone();
    let emulator = Emulator::start(EmulatorConfig {
        dps_listen: args.dps_listen,
        hub_listen: args.hub_listen,
        dps_hostname: args.dps_hostname,
        hub_hostname: args.hub_hostname,
        id_scope,
        group_key,
        dps_retry_after: Duration::from_secs(args.dps_retry_after),
        dps_polls_before_assign: 1,
        edge: args.edge_device.map(|device_id| EdgeConfig {
            device_id,
            routes: args.routes,
            workload_socket: args.workload_socket,
        }),
        https_port: args.https_port,
        amqp_port: args.amqp_port,
        hubs: args.hubs,
        ..EmulatorConfig::default()
    })
    .await?;
    let ca_path = args.ca_cert_out.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "iotc-emulator-{}-ca.pem",
            emulator.dps_addr().port()
        ))
    });
    std::fs::write(&ca_path, emulator.ca_cert_pem())?;
    let central = Central::new(emulator.clone(), args.api_token);
    if let Some(dir) = &args.state_dir {
        central.keep_state_in(dir)?;
    }
    let mut loaded = Vec::new();
    for path in &args.templates {
        for file in template_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let id = central
                .import_template(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            loaded.push(id);
        }
    }
    let service =
        iotc_emulator::service_http::serve_central(central.clone(), args.service_listen).await?;

    println!("iotc-emulator is running (Ctrl-C to stop)");
    println!("  DPS endpoint:   {}", emulator.dps_endpoint());
    println!(
        "  AMQP port:      {}  (DPS {}, hub {})",
        emulator.amqp_port(),
        emulator.dps_amqp_endpoint(),
        emulator.assigned_hub_amqp()
    );
    println!("  ID scope:       {}", emulator.id_scope());
    println!(
        "  Group key:      {}  (enrollment group SAS-IoT-Devices)",
        emulator.group_key()
    );
    println!("  Assigned hub:   {}", emulator.assigned_hub());
    for hub in emulator.hubs().iter().skip(1) {
        println!(
            "  Hub {}:          {}  (DPS spreads devices over the hubs)",
            hub.index, hub.assigned_hub
        );
    }
    println!(
        "  HTTPS endpoint: {}  (DPS and hub REST, WebSockets on /$iothub/websocket)",
        emulator.dps_https_endpoint()
    );
    println!("  CA certificate: {}", ca_path.display());
    println!("  Service API:    {}", service.url());
    println!(
        "  IoT Central:    {}/api  (api-version {})",
        service.url(),
        iotc_emulator::central::API_VERSION
    );
    println!("  API token:      {}", service.api_token());
    if let Some(dir) = &args.state_dir {
        println!("  State dir:      {}", dir.display());
    }
    for id in &loaded {
        println!("  Template:       {id}");
    }
    println!();
    println!(
        "  Device key for a registration id: base64(HMAC-SHA256(base64decode(group key), id))"
    );
    println!(
        "  e.g. thermostat-01 -> {}",
        emulator.derive_device_key("thermostat-01")
    );

    if let Some(edge) = emulator.edge_device_id() {
        println!();
        println!("  Edge device:    {edge}");
        for module in &modules {
            let key = emulator.add_module(edge, module)?;
            println!("  Module {module}: key {key}");
            for (name, value) in emulator.edge_environment(module) {
                println!("    {name}={value}");
            }
        }
        for leaf in &leaf_devices {
            let key = emulator.add_leaf_device(leaf)?;
            println!("  Leaf device {leaf}: key {key}");
        }
    }

    // Serve until the process is interrupted (Ctrl-C ends the process).
    std::future::pending::<()>().await;
    drop(service);
    Ok(())
}
