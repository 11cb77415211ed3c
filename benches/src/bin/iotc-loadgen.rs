//! `iotc-loadgen`: load generator for the iotc-sdk benchmarks (docs/benchmarks.md).
//!
//! Runs one scenario against an `iotc-emulator` started as a separate process, measures this
//! process's own CPU time and resident memory, and prints one JSON line with the results.
//!
//! ```sh
//! iotc-loadgen --scope 0ne0000CAFE --group-key "$KEY" --ca ca.pem --service-url http://127.0.0.1:8080 \
//!     throughput --client sdk --inflight 100 --messages 20000
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use iotc_benches::measure::{self, ms, percentile, Snapshot};
use iotc_benches::{bare, http::HttpClient, sdk, BoxError, Target, Telemetry};
use iotc_sdk::{Device, Event, Message, Protocol};
use rumqttc::{Event as MqttEvent, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Parser)]
#[command(
    name = "iotc-loadgen",
    about = "iotc-sdk load generator (see docs/benchmarks.md)"
)]
struct Args {
    /// DPS endpoint (host:port).
    #[arg(long, default_value = "localhost:8883", global = true)]
    dps: String,
    /// Hub host name.
    #[arg(long, default_value = "localhost", global = true)]
    hub_host: String,
    /// Hub port.
    #[arg(long, default_value_t = 8883, global = true)]
    hub_port: u16,
    /// DPS ID scope.
    #[arg(long, default_value = "0ne0000CAFE", global = true)]
    scope: String,
    /// Group key of SAS-IoT-Devices (base64).
    #[arg(long, env = "IOTC_GROUP_KEY", default_value = "", global = true)]
    group_key: String,
    /// The emulator's CA certificate (PEM file).
    #[arg(long, env = "IOTC_CA_CERT", default_value = "", global = true)]
    ca: String,
    /// The emulator's REST service API (http://host:port), for the latency scenario.
    #[arg(long, env = "IOTC_SERVICE_URL", global = true)]
    service_url: Option<String>,
    /// The emulator's process id: its CPU time over the measured phase is reported too.
    #[arg(long, global = true)]
    emulator_pid: Option<u32>,
    /// Tokio runtime: `current` (one thread) or `multi` (--workers threads).
    #[arg(long, value_enum, global = true)]
    runtime: Option<RuntimeKind>,
    /// Worker threads of the multi-thread runtime.
    #[arg(long, default_value_t = 2, global = true)]
    workers: usize,
    /// A free-form label copied into the output line.
    #[arg(long, default_value = "", global = true)]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RuntimeKind {
    Current,
    Multi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Client {
    /// iotc-sdk with the build's TLS stack (native-tls by default, rustls in a build with
    /// `--no-default-features --features tls-rustls`), one shared connector.
    Sdk,
    /// Bare rumqttc 0.25 with native-tls (`TlsConfiguration::NativeConnector`, one connector).
    Rumqttc,
    /// Bare rumqttc 0.25 with rustls (ring), one `ClientConfig` (needs `--features rustls`).
    RumqttcRustls,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            #[cfg(not(feature = "tls-rustls"))]
            Client::Sdk => "iotc-sdk",
            #[cfg(feature = "tls-rustls")]
            Client::Sdk => "iotc-sdk-rustls",
            Client::Rumqttc => "rumqttc-native-tls",
            Client::RumqttcRustls => "rumqttc-rustls",
        }
    }

    fn bare_tls(self, target: &Target) -> Result<bare::Tls, BoxError> {
        match self {
            Client::Sdk | Client::Rumqttc => bare::Tls::native(&target.ca_pem),
            #[cfg(feature = "rustls")]
            Client::RumqttcRustls => bare::Tls::rustls(&target.ca_pem),
            #[cfg(not(feature = "rustls"))]
            Client::RumqttcRustls => {
                Err("rumqttc-rustls needs `cargo build -p iotc-benches --features rustls`".into())
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LatencyKind {
    /// Service invokes a direct method (REST), the device answers.
    Command,
    /// The device reports a property and waits for the hub's answer.
    Reported,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Registers devices `{prefix}0..{prefix}{devices-1}` and `{prefix}warmup` through DPS.
    Provision {
        #[arg(long, default_value = "fleet-")]
        prefix: String,
        #[arg(long)]
        devices: usize,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// One device, QoS 1 telemetry of 200 bytes, N in flight.
    Throughput {
        #[arg(long, value_enum)]
        client: Client,
        #[arg(long, default_value_t = 100)]
        inflight: usize,
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        #[arg(long, default_value_t = 2_000)]
        warmup: u64,
        /// Device id (default: `tp-{client}`).
        #[arg(long)]
        device_id: Option<String>,
        /// The SDK's transport: `mqtt`, `mqtt-ws`, `amqp`, `amqp-ws` or `https` (--dps must be
        /// that protocol's DPS endpoint). The bare clients are MQTT only.
        #[arg(long, default_value = "mqtt")]
        protocol: String,
    },
    /// K devices connected at once, each sending a message every interval.
    Fleet {
        #[arg(long, value_enum)]
        client: Client,
        #[arg(long, default_value = "fleet-")]
        prefix: String,
        #[arg(long)]
        devices: usize,
        /// Connects in progress at once.
        #[arg(long, default_value_t = 100)]
        connect_concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        interval_secs: f64,
        /// How long every device sends (the steady phase).
        #[arg(long, default_value_t = 20.0)]
        hold_secs: f64,
        #[arg(long, default_value_t = 240)]
        keep_alive_secs: u64,
    },
    /// A gateway adds K downstream devices (over AMQP on its one connection); each sends one
    /// message and receives one C2D message (needs --service-url).
    Gateway {
        #[arg(long)]
        devices: usize,
        /// `amqp`, `amqp-ws`, `mqtt`, … (--dps must be that protocol's DPS endpoint).
        #[arg(long, default_value = "amqp")]
        protocol: String,
        #[arg(long, default_value_t = 50)]
        add_concurrency: usize,
        #[arg(long, default_value = "gwb-")]
        prefix: String,
    },
    /// Command or reported-property round trip, one at a time.
    Latency {
        #[arg(long, value_enum)]
        client: Client,
        #[arg(long, value_enum)]
        kind: LatencyKind,
        #[arg(long, default_value_t = 2_000)]
        count: usize,
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        #[arg(long)]
        device_id: Option<String>,
    },
}

fn main() {
    let args = Args::parse();
    let default_runtime = match args.scenario {
        Scenario::Fleet { .. } | Scenario::Provision { .. } | Scenario::Gateway { .. } => {
            RuntimeKind::Multi
        }
        _ => RuntimeKind::Current,
    };
    let kind = args.runtime.unwrap_or(default_runtime);
    let runtime = match kind {
        RuntimeKind::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        RuntimeKind::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers.max(1))
            .enable_all()
            .build(),
    };
    let result = runtime
        .map_err(BoxError::from)
        .and_then(|rt| rt.block_on(run(args, kind)));
    match result {
        Ok(line) => {
            println!("{line}");
            // Exit without dropping thousands of connections one by one.
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("iotc-loadgen: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args, runtime: RuntimeKind) -> Result<Value, BoxError> {
    let ca_pem = if args.ca.is_empty() {
        return Err("--ca (or IOTC_CA_CERT) is required".into());
    } else {
        std::fs::read(&args.ca).map_err(|e| format!("cannot read {}: {e}", args.ca))?
    };
    let target = Target {
        dps_endpoint: args.dps.clone(),
        hub_host: args.hub_host.clone(),
        hub_port: args.hub_port,
        id_scope: args.scope.clone(),
        group_key: args.group_key.clone(),
        ca_pem,
        service_url: args.service_url.clone(),
    };
    let emulator = EmulatorCpu(args.emulator_pid);
    let mut out = match args.scenario {
        Scenario::Provision {
            prefix,
            devices,
            concurrency,
        } => provision(&target, &prefix, devices, concurrency).await?,
        Scenario::Throughput {
            client,
            inflight,
            messages,
            warmup,
            device_id,
            protocol,
        } => {
            let slug = protocol;
            let protocol: Protocol = slug.parse()?;
            if client != Client::Sdk && protocol != Protocol::Mqtt {
                return Err(format!("{} is MQTT only", client.name()).into());
            }
            let device_id = device_id.unwrap_or_else(|| match protocol {
                Protocol::Mqtt => format!("tp-{}", client.name()),
                _ => format!("tp-{}-{slug}", client.name()),
            });
            let plan = ThroughputPlan {
                client,
                protocol,
                device_id,
                inflight: inflight.max(1),
                warmup,
                messages,
            };
            throughput(&target, &plan, &emulator).await?
        }
        Scenario::Fleet {
            client,
            prefix,
            devices,
            connect_concurrency,
            interval_secs,
            hold_secs,
            keep_alive_secs,
        } => {
            let plan = FleetPlan {
                client,
                prefix,
                devices,
                connect_concurrency: connect_concurrency.max(1),
                interval: Duration::from_secs_f64(interval_secs.max(0.1)),
                hold: Duration::from_secs_f64(hold_secs),
                keep_alive: Duration::from_secs(keep_alive_secs.max(1)),
            };
            fleet(&target, plan, &emulator).await?
        }
        Scenario::Gateway {
            devices,
            protocol,
            add_concurrency,
            prefix,
        } => {
            let plan = iotc_benches::gateway::GatewayPlan {
                devices,
                protocol: protocol.parse()?,
                add_concurrency,
                prefix,
            };
            iotc_benches::gateway::run(&target, plan).await?
        }
        Scenario::Latency {
            client,
            kind,
            count,
            warmup,
            device_id,
        } => {
            let id = device_id.unwrap_or_else(|| format!("lat-{}", client.name()));
            latency(&target, client, kind, &id, count, warmup).await?
        }
    };
    if let Value::Object(map) = &mut out {
        map.insert(
            "runtime".into(),
            json!(match runtime {
                RuntimeKind::Current => "current_thread".to_owned(),
                RuntimeKind::Multi => format!("multi_thread({})", args.workers),
            }),
        );
        map.insert("label".into(), json!(args.label));
        map.insert("peak_rss_mb".into(), json!(mb(measure::peak_rss_bytes())));
        map.insert("threads".into(), json!(measure::threads()));
    }
    Ok(out)
}

fn mb(bytes: u64) -> f64 {
    round(bytes as f64 / 1_048_576.0, 2)
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The emulator's CPU time (from /proc/PID/stat), when its pid was given.
struct EmulatorCpu(Option<u32>);

impl EmulatorCpu {
    fn secs(&self) -> Option<f64> {
        let pid = self.0?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    fn since(&self, start: Option<f64>) -> Value {
        match (start, self.secs()) {
            (Some(a), Some(b)) => json!(round(b - a, 2)),
            _ => Value::Null,
        }
    }
}

// --- provision ---------------------------------------------------------------------------------

async fn provision(
    target: &Target,
    prefix: &str,
    devices: usize,
    concurrency: usize,
) -> Result<Value, BoxError> {
    let tls = sdk::tls(target)?;
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let start = Snapshot::take();
    let mut tasks = Vec::with_capacity(devices + 1);
    let ids = std::iter::once(format!("{prefix}warmup"))
        .chain((0..devices).map(|i| format!("{prefix}{i}")));
    for id in ids {
        let (target, tls, limit) = (target.clone(), tls.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            let mut last = None;
            for _ in 0..3 {
                match sdk::provision(&target, &tls, &id).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e.to_string()),
                }
            }
            Err(format!("{id}: {}", last.unwrap_or_default()))
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        if let Ok(Err(e)) = task.await {
            failed.push(e);
        }
    }
    let d = start.delta(&Snapshot::take());
    if !failed.is_empty() {
        return Err(format!("{} registrations failed, e.g. {}", failed.len(), failed[0]).into());
    }
    Ok(json!({
        "scenario": "provision", "client": "iotc-sdk", "devices": devices + 1,
        "wall_s": round(d.wall_s, 2), "cpu_s": round(d.cpu_s, 3),
        "cpu_ms_per_registration": round(d.cpu_s * 1e3 / (devices + 1) as f64, 3),
    }))
}

// --- throughput --------------------------------------------------------------------------------

struct ThroughputPlan {
    client: Client,
    protocol: Protocol,
    device_id: String,
    inflight: usize,
    warmup: u64,
    messages: u64,
}

async fn throughput(
    target: &Target,
    plan: &ThroughputPlan,
    emulator: &EmulatorCpu,
) -> Result<Value, BoxError> {
    let ThroughputPlan {
        client,
        protocol,
        ref device_id,
        inflight,
        warmup,
        messages,
    } = *plan;
    let (d, emu) = match client {
        Client::Sdk => {
            let tls = sdk::tls(target)?;
            let device = sdk::connect_dps(target, &tls, device_id, protocol).await?;
            sdk_burst(&device, inflight, warmup).await?;
            let emu0 = emulator.secs();
            let start = Snapshot::take();
            sdk_burst(&device, inflight, messages).await?;
            let d = start.delta(&Snapshot::take());
            let emu = emulator.since(emu0);
            device.close().await?;
            (d, emu)
        }
        Client::Rumqttc | Client::RumqttcRustls => {
            let tls = client.bare_tls(target)?;
            sdk::provision(target, &sdk::tls(target)?, device_id).await?;
            let device = bare::connect(target, device_id, &tls, Duration::from_secs(240)).await?;
            let mut driver = BareDriver::start(device);
            driver.burst(inflight, warmup).await?;
            let emu0 = emulator.secs();
            let start = Snapshot::take();
            driver.burst(inflight, messages).await?;
            let d = start.delta(&Snapshot::take());
            (d, emulator.since(emu0))
        }
    };
    Ok(json!({
        "scenario": "throughput", "client": client.name(), "protocol": protocol.name(),
        "inflight": inflight,
        "messages": messages, "payload_bytes": Telemetry::new(0).to_vec().len(),
        "wall_s": round(d.wall_s, 3), "msgs_per_s": round(messages as f64 / d.wall_s, 0),
        "cpu_s": round(d.cpu_s, 4),
        "cpu_s_per_10k": round(d.cpu_s * 10_000.0 / messages as f64, 4),
        "user_s": round(d.user_s, 2), "sys_s": round(d.sys_s, 2),
        "emulator_cpu_s": emu,
    }))
}

/// Sends `count` messages from `inflight` concurrent tasks sharing one `Device`.
async fn sdk_burst(device: &Device, inflight: usize, count: u64) -> Result<(), BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(inflight);
    for _ in 0..inflight {
        let (device, next) = (device.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= count {
                    return Ok::<(), iotc_sdk::Error>(());
                }
                device
                    .send_message(Message::json(&Telemetry::new(seq))?)
                    .await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Drives a bare rumqttc device: one task polls the event loop and counts PUBACKs; `burst`
/// keeps `inflight` publishes outstanding with a semaphore.
struct BareDriver {
    client: rumqttc::AsyncClient,
    topic: String,
    permits: Arc<Semaphore>,
    acked: Arc<AtomicU64>,
    target: Arc<AtomicU64>,
    done: Arc<tokio::sync::Notify>,
    failed: watch::Receiver<Option<String>>,
}

impl BareDriver {
    fn start(device: bare::BareDevice) -> Self {
        let bare::BareDevice {
            client,
            mut eventloop,
            telemetry_topic,
            ..
        } = device;
        let permits = Arc::new(Semaphore::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let target = Arc::new(AtomicU64::new(u64::MAX));
        let done = Arc::new(tokio::sync::Notify::new());
        let (fail_tx, failed) = watch::channel(None);
        {
            let (permits, acked, target, done) =
                (permits.clone(), acked.clone(), target.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(MqttEvent::Incoming(Packet::PubAck(_))) => {
                            permits.add_permits(1);
                            let n = acked.fetch_add(1, Ordering::Relaxed) + 1;
                            if n == target.load(Ordering::Relaxed) {
                                done.notify_one();
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let _ = fail_tx.send(Some(e.to_string()));
                            done.notify_one();
                            return;
                        }
                    }
                }
            });
        }
        BareDriver {
            client,
            topic: telemetry_topic,
            permits,
            acked,
            target,
            done,
            failed,
        }
    }

    async fn burst(&mut self, inflight: usize, count: u64) -> Result<(), BoxError> {
        let base = self.acked.load(Ordering::Relaxed);
        self.target.store(base + count, Ordering::Relaxed);
        self.permits.add_permits(inflight);
        for seq in 0..count {
            self.permits.acquire().await?.forget();
            self.client
                .publish(
                    self.topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    Telemetry::new(seq).to_vec(),
                )
                .await?;
        }
        while self.acked.load(Ordering::Relaxed) < base + count {
            if let Some(e) = self.failed.borrow().clone() {
                return Err(e.into());
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), self.done.notified()).await;
        }
        // Take back the permits that were not used up (the last `inflight` PUBACKs).
        let leftover = self.permits.available_permits();
        self.permits.forget_permits(leftover);
        Ok(())
    }
}

// --- fleet -------------------------------------------------------------------------------------

struct FleetPlan {
    client: Client,
    prefix: String,
    devices: usize,
    connect_concurrency: usize,
    interval: Duration,
    hold: Duration,
    keep_alive: Duration,
}

#[derive(Default)]
struct FleetCounters {
    acked: AtomicU64,
    errors: AtomicU64,
}

async fn fleet(
    target: &Target,
    plan: FleetPlan,
    emulator: &EmulatorCpu,
) -> Result<Value, BoxError> {
    let client = plan.client;
    let sdk_tls = sdk::tls(target)?;
    let bare_tls = client.bare_tls(target)?;
    // Warm-up: one device connects and disconnects first, so the shared TLS connector, the
    // runtime and the allocator are set up before the baseline.
    let warm = format!("{}warmup", plan.prefix);
    match client {
        Client::Sdk => {
            sdk::connect_direct(target, &sdk_tls, &warm, plan.keep_alive)
                .await?
                .close()
                .await?
        }
        _ => {
            let d = bare::connect(target, &warm, &bare_tls, plan.keep_alive).await?;
            drop(d);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let counters = Arc::new(FleetCounters::default());
    let (go_tx, go_rx) = watch::channel::<Option<Instant>>(None);
    let limit = Arc::new(Semaphore::new(plan.connect_concurrency));
    let base = Snapshot::take();
    let emu0 = emulator.secs();
    let mut connects = Vec::with_capacity(plan.devices);
    for i in 0..plan.devices {
        let id = format!("{}{i}", plan.prefix);
        let (target, sdk_tls, bare_tls, limit, counters, go) = (
            target.clone(),
            sdk_tls.clone(),
            bare_tls.clone(),
            limit.clone(),
            counters.clone(),
            go_rx.clone(),
        );
        // Devices send at evenly spread offsets within the interval.
        let offset = plan.interval.mul_f64(i as f64 / plan.devices as f64);
        let (interval, keep_alive) = (plan.interval, plan.keep_alive);
        connects.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await?;
            let t0 = Instant::now();
            match client {
                Client::Sdk => {
                    let device = sdk::connect_direct(&target, &sdk_tls, &id, keep_alive).await?;
                    let took = t0.elapsed();
                    drop(permit);
                    tokio::spawn(sdk_sender(device, go, offset, interval, counters));
                    Ok::<Duration, BoxError>(took)
                }
                _ => {
                    let device = bare::connect(&target, &id, &bare_tls, keep_alive).await?;
                    let took = t0.elapsed();
                    drop(permit);
                    tokio::spawn(bare_sender(device, go, offset, interval, counters));
                    Ok(took)
                }
            }
        }));
    }
    let mut times = Vec::with_capacity(plan.devices);
    let mut connect_errors = Vec::new();
    for task in connects {
        match task.await {
            Ok(Ok(t)) => times.push(t),
            Ok(Err(e)) => connect_errors.push(e.to_string()),
            Err(e) => connect_errors.push(e.to_string()),
        }
    }
    let connected = Snapshot::take();
    let emu_connect = emulator.since(emu0);
    if !connect_errors.is_empty() {
        eprintln!(
            "iotc-loadgen: {} of {} connects failed, e.g. {}",
            connect_errors.len(),
            plan.devices,
            connect_errors[0]
        );
    }
    let ok = times.len().max(1);
    // Idle: connected, nothing sent yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = Snapshot::take();

    let go = Instant::now() + Duration::from_millis(100);
    let _ = go_tx.send(Some(go));
    // Let every device send at least once before the measured window.
    tokio::time::sleep_until((go + plan.interval).into()).await;
    let acked0 = counters.acked.load(Ordering::Relaxed);
    let emu1 = emulator.secs();
    let steady0 = Snapshot::take();
    tokio::time::sleep(plan.hold).await;
    let steady1 = Snapshot::take();
    let acked = counters.acked.load(Ordering::Relaxed) - acked0;
    let emu_steady = emulator.since(emu1);
    let connect = base.delta(&connected);
    let steady = steady0.delta(&steady1);
    let k = plan.devices as f64;
    Ok(json!({
        "scenario": "fleet", "client": client.name(), "devices": plan.devices,
        "connected": times.len(), "connect_errors": connect_errors.len(),
        "connect_concurrency": plan.connect_concurrency,
        "interval_s": plan.interval.as_secs_f64(), "hold_s": plan.hold.as_secs_f64(),
        "connect_wall_s": round(connect.wall_s, 2),
        "connect_cpu_s": round(connect.cpu_s, 3),
        "cpu_ms_per_connect": round(connect.cpu_s * 1e3 / ok as f64, 3),
        "connect_ms_p50": round(ms(percentile(&mut times, 0.50)), 2),
        "connect_ms_p99": round(ms(percentile(&mut times, 0.99)), 2),
        "rss_base_mb": mb(base.rss),
        "kb_per_device_idle": round(base.delta(&idle).rss_delta as f64 / 1024.0 / k, 1),
        "kb_per_device": round(base.delta(&steady1).rss_delta as f64 / 1024.0 / k, 1),
        "rss_end_mb": mb(steady1.rss),
        "steady_msgs": acked, "steady_msgs_per_s": round(acked as f64 / steady.wall_s, 1),
        "steady_cpu_s": round(steady.cpu_s, 3),
        "cpu_s_per_10k_msgs": if acked > 0 { json!(round(steady.cpu_s * 1e4 / acked as f64, 4)) } else { Value::Null },
        "send_errors": counters.errors.load(Ordering::Relaxed),
        "emulator_cpu_connect_s": emu_connect, "emulator_cpu_steady_s": emu_steady,
    }))
}

async fn wait_go(go: &mut watch::Receiver<Option<Instant>>) -> Option<Instant> {
    loop {
        if let Some(at) = *go.borrow_and_update() {
            return Some(at);
        }
        if go.changed().await.is_err() {
            return None;
        }
    }
}

async fn sdk_sender(
    device: Device,
    mut go: watch::Receiver<Option<Instant>>,
    offset: Duration,
    interval: Duration,
    counters: Arc<FleetCounters>,
) {
    let Some(start) = wait_go(&mut go).await else {
        return;
    };
    let mut ticker = tokio::time::interval_at((start + offset).into(), interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0;
    loop {
        ticker.tick().await;
        seq += 1;
        let sent = match Message::json(&Telemetry::new(seq)) {
            Ok(m) => device.send_message(m).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => counters.acked.fetch_add(1, Ordering::Relaxed),
            Err(_) => counters.errors.fetch_add(1, Ordering::Relaxed),
        };
    }
}

async fn bare_sender(
    device: bare::BareDevice,
    mut go: watch::Receiver<Option<Instant>>,
    offset: Duration,
    interval: Duration,
    counters: Arc<FleetCounters>,
) {
    let bare::BareDevice {
        client,
        mut eventloop,
        telemetry_topic,
        ..
    } = device;
    let mut ticker: Option<tokio::time::Interval> = None;
    let mut seq = 0;
    loop {
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(MqttEvent::Incoming(Packet::PubAck(_))) => {
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            start = wait_go(&mut go), if ticker.is_none() => {
                let Some(start) = start else { return };
                let mut t = tokio::time::interval_at((start + offset).into(), interval);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker = Some(t);
            },
            _ = tick(&mut ticker) => {
                seq += 1;
                let body = Telemetry::new(seq).to_vec();
                if client.try_publish(telemetry_topic.clone(), QoS::AtLeastOnce, false, body).is_err() {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

// --- latency -----------------------------------------------------------------------------------

async fn latency(
    target: &Target,
    client: Client,
    kind: LatencyKind,
    device_id: &str,
    count: usize,
    warmup: usize,
) -> Result<Value, BoxError> {
    let mut samples = Vec::with_capacity(count);
    match client {
        Client::Sdk => {
            let tls = sdk::tls(target)?;
            let device = sdk::connect_dps(target, &tls, device_id, Protocol::Mqtt).await?;
            match kind {
                LatencyKind::Command => {
                    let handler = device.clone();
                    tokio::spawn(async move {
                        while let Some(event) = handler.next_event().await {
                            if let Event::Command(command) = event {
                                let _ = command.respond(200, &json!({"ok": true})).await;
                            }
                        }
                    });
                    invoke_loop(target, device_id, count, warmup, &mut samples).await?;
                }
                LatencyKind::Reported => {
                    for i in 0..warmup + count {
                        let t0 = Instant::now();
                        device.report_properties(&json!({"seq": i})).await?;
                        if i >= warmup {
                            samples.push(t0.elapsed());
                        }
                    }
                }
            }
        }
        Client::Rumqttc | Client::RumqttcRustls => {
            let tls = client.bare_tls(target)?;
            sdk::provision(target, &sdk::tls(target)?, device_id).await?;
            let device = bare::connect(target, device_id, &tls, Duration::from_secs(240)).await?;
            let bare::BareDevice {
                client: mqtt,
                mut eventloop,
                ..
            } = device;
            // The event loop task answers methods at once and signals twin answers.
            let (twin_tx, mut twin_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let responder = mqtt.clone();
            tokio::spawn(async move {
                while let Ok(event) = eventloop.poll().await {
                    if let MqttEvent::Incoming(Packet::Publish(p)) = event {
                        if let Some(rest) = p.topic.strip_prefix("$iothub/methods/POST/") {
                            if let Some((_, rid)) = rest.split_once("?$rid=") {
                                let topic = format!("$iothub/methods/res/200/?$rid={rid}");
                                let _ = responder.try_publish(
                                    topic,
                                    QoS::AtMostOnce,
                                    false,
                                    br#"{"ok":true}"#.to_vec(),
                                );
                            }
                        } else if p.topic.starts_with("$iothub/twin/res/") {
                            let _ = twin_tx.send(p.topic.to_string());
                        }
                    }
                }
            });
            match kind {
                LatencyKind::Command => {
                    invoke_loop(target, device_id, count, warmup, &mut samples).await?
                }
                LatencyKind::Reported => {
                    for i in 0..warmup + count {
                        let t0 = Instant::now();
                        let rid = format!("r{i}");
                        let body = serde_json::to_vec(&json!({"seq": i}))?;
                        mqtt.publish(
                            format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"),
                            QoS::AtMostOnce,
                            false,
                            body,
                        )
                        .await?;
                        let want = format!("?$rid={rid}");
                        loop {
                            let topic = twin_rx.recv().await.ok_or("connection ended")?;
                            if topic.contains(&format!("{want}&")) || topic.ends_with(&want) {
                                if !topic.starts_with("$iothub/twin/res/2") {
                                    return Err(format!("reported patch refused: {topic}").into());
                                }
                                break;
                            }
                        }
                        if i >= warmup {
                            samples.push(t0.elapsed());
                        }
                    }
                }
            }
        }
    }
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n.max(1) as u32;
    Ok(json!({
        "scenario": "latency", "client": client.name(),
        "kind": match kind { LatencyKind::Command => "command", LatencyKind::Reported => "reported" },
        "count": n,
        "p50_ms": round(ms(percentile(&mut samples, 0.50)), 3),
        "p90_ms": round(ms(percentile(&mut samples, 0.90)), 3),
        "p99_ms": round(ms(percentile(&mut samples, 0.99)), 3),
        "max_ms": round(ms(percentile(&mut samples, 1.0)), 3),
        "mean_ms": round(ms(mean), 3),
    }))
}

/// Invokes the method `ping` through the REST API, one call at a time.
async fn invoke_loop(
    target: &Target,
    device_id: &str,
    count: usize,
    warmup: usize,
    samples: &mut Vec<Duration>,
) -> Result<(), BoxError> {
    let url = target
        .service_url
        .as_deref()
        .ok_or("--service-url is required for command latency")?;
    let mut http = HttpClient::new(url)?;
    let path = format!("/twins/{device_id}/methods");
    let mut i = 0;
    let mut not_ready = 0;
    while i < warmup + count {
        let body = serde_json::to_vec(&json!({
            "methodName": "ping", "payload": {"seq": i}, "responseTimeoutInSeconds": 5
        }))?;
        let t0 = Instant::now();
        let (status, response) = http.request("POST", &path, &body).await?;
        let took = t0.elapsed();
        if status == 404 && not_ready < 50 {
            // Not subscribed yet.
            not_ready += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if status != 200 {
            return Err(format!(
                "method call answered {status}: {}",
                String::from_utf8_lossy(&response)
            )
            .into());
        }
        if i >= warmup {
            samples.push(took);
        }
        i += 1;
    }
    Ok(())
}
