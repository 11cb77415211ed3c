//! Criterion micro-benches of the SDK's public API: SAS key preparation and token signing,
//! telemetry encoding, command parsing, and writable-property updates.
//!
//! `cargo bench -p iotc-benches --bench micro` (see docs/benchmarks.md). The last group starts
//! an in-process `iotc-emulator` once, to obtain a real [`WritablePropertyUpdate`] and a real
//! [`Command`] (neither can be built from the public API without a connection), and then only
//! times the pure, in-memory calls on them.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use iotc_benches::Telemetry;
use iotc_emulator::{Emulator, EmulatorConfig};
use iotc_examples::models::{
    TemperatureControllerCommand, Thermostat, ThermostatCommand, ThermostatTelemetry,
};
use iotc_sdk::auth::{hub_device_resource, SasKey, SasToken};
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::{Command, Commands, Credentials, Device, Event, Message, WritablePropertyUpdate};
use serde_json::json;

/// A 64-byte group key, base64, like IoT Central's.
const GROUP_KEY: &str =
    "VDNUzZc1SUGjxv8mPTbAtriPWENdUZPjN5QSsHpm/nQJOxxnGEj7+zfk1qV+6fEsLNitxjywuZFh5J9TCeXFxQ==";

fn auth(c: &mut Criterion) {
    let mut g = c.benchmark_group("auth");
    g.bench_function("SasKey::new (base64 64-byte group key)", |b| {
        b.iter(|| SasKey::new(black_box(GROUP_KEY)).unwrap())
    });
    let group = SasKey::new(GROUP_KEY).unwrap();
    g.bench_function("SasKey::derive_device_key", |b| {
        b.iter(|| group.derive_device_key(black_box("thermostat-000123")))
    });
    let key = group.derive_device_key("thermostat-000123");
    let resource = hub_device_resource("iotc-0123abcd.azure-devices.net", "thermostat-000123");
    g.bench_function("SasToken::new (hub device token)", |b| {
        b.iter(|| SasToken::new(black_box(&resource), &key, 1_900_000_000, None))
    });
    g.bench_function("SasToken::new (DPS token, skn=registration)", |b| {
        let dps = iotc_sdk::auth::dps_resource("0ne0012ABCD", "thermostat-000123");
        b.iter(|| SasToken::new(black_box(&dps), &key, 1_900_000_000, Some("registration")))
    });
    g.finish();
}

fn telemetry(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Message::json (200 B struct)", |b| {
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            Message::json(black_box(&Telemetry::new(seq))).unwrap()
        })
    });
    g.bench_function("Message::json (serde_json::Value, 200 B)", |b| {
        let value = serde_json::to_value(Telemetry::new(7)).unwrap();
        b.iter(|| Message::json(black_box(&value)).unwrap())
    });
    g.bench_function(
        "Message::json + component (typed ThermostatTelemetry)",
        |b| {
            b.iter(|| {
                Message::json(black_box(&ThermostatTelemetry { temperature: 21.5 }))
                    .unwrap()
                    .with_component("thermostat1")
            })
        },
    );
    g.bench_function("Message::json + mid, cid, ctime, 3 properties", |b| {
        let now = time::OffsetDateTime::now_utc();
        b.iter(|| {
            Message::json(black_box(&Telemetry::new(3)))
                .unwrap()
                .with_message_id("m-000123")
                .with_correlation_id("c-000123")
                .with_creation_time(now)
                .with_property("alert", "false")
                .with_property("site", "bldg 4/floor 2")
                .with_property("fw", "1.2.3")
        })
    });
    g.bench_function("serde_json::to_vec (200 B struct, reference)", |b| {
        b.iter(|| serde_json::to_vec(black_box(&Telemetry::new(5))).unwrap())
    });
    g.finish();
}

fn commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("commands");
    g.bench_function("Commands::parse getMaxMinReport (RFC 3339 request)", |b| {
        b.iter(|| {
            ThermostatCommand::parse(
                black_box("getMaxMinReport"),
                black_box(br#""2024-05-01T10:20:30.123Z""#),
            )
            .unwrap()
        })
    });
    g.bench_function("Commands::parse reboot (integer request)", |b| {
        b.iter(|| {
            TemperatureControllerCommand::parse(black_box("reboot"), black_box(b"5")).unwrap()
        })
    });
    g.bench_function("Commands::parse unknown command", |b| {
        b.iter(|| ThermostatCommand::parse(black_box("selfDestruct"), b"{}").unwrap_err())
    });
    g.finish();
}

/// A real `WritablePropertyUpdate` and `Command` from an in-process emulator.
fn captured() -> (
    tokio::runtime::Runtime,
    Device,
    WritablePropertyUpdate,
    Command,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (device, update, command) = rt.block_on(async {
        let emulator = Emulator::start(EmulatorConfig {
            dps_retry_after: Duration::ZERO,
            ..Default::default()
        })
        .await
        .unwrap();
        let device = Device::builder()
            .model::<Thermostat>()
            .id_scope(emulator.id_scope())
            .device_id("micro-01")
            .credentials(Credentials::group_key(emulator.group_key()).unwrap())
            .dps_endpoint(emulator.dps_endpoint())
            .tls(TlsConfig::with_pinned_roots_pem(emulator.ca_cert_pem().as_bytes()).unwrap())
            .connect()
            .await
            .unwrap();
        emulator
            .update_desired(
                "micro-01",
                json!({"targetTemperature": 23.5, "unknownSetting": {"a": [1, 2, 3]}}),
            )
            .await
            .unwrap();
        let update = loop {
            if let Some(Event::WritableProperties(u)) = device.next_event().await {
                if !u.properties().is_empty() {
                    break u;
                }
            }
        };
        let invoker = emulator.clone();
        tokio::spawn(async move {
            let _ = invoker
                .invoke_command(
                    "micro-01",
                    "getMaxMinReport",
                    json!("2024-05-01T10:20:30.123Z"),
                    Duration::from_secs(300),
                )
                .await;
        });
        let command = loop {
            if let Some(Event::Command(c)) = device.next_event().await {
                break c;
            }
        };
        // The emulator must outlive the benches: leak it (the process ends afterwards).
        std::mem::forget(emulator);
        (device, update, command)
    });
    (rt, device, update, command)
}

fn received(c: &mut Criterion) {
    let (rt, device, update, command) = captured();
    let mut g = c.benchmark_group("received");
    let typed = device.typed::<Thermostat>();
    g.bench_function(
        "TypedComponent::writable (desired patch -> ThermostatProperties)",
        |b| b.iter(|| typed.writable(black_box(&update)).unwrap()),
    );
    g.bench_function("WritableProperty::value_as::<f64>", |b| {
        let property = update.get("targetTemperature").unwrap();
        b.iter(|| black_box(property).value_as::<f64>().unwrap())
    });
    g.bench_function("Command::parse::<ThermostatCommand>", |b| {
        b.iter(|| black_box(&command).parse::<ThermostatCommand>().unwrap())
    });
    g.bench_function("Command::request_value", |b| {
        b.iter(|| black_box(&command).request_value().unwrap())
    });
    g.bench_function("Message clone (200 B, what send_message consumes)", |b| {
        let m = Message::json(&Telemetry::new(1)).unwrap();
        b.iter_batched(|| (), |_| m.clone(), BatchSize::SmallInput)
    });
    g.finish();
    rt.block_on(async {
        let _ = command.respond(200, &json!({})).await;
    });
    drop(device);
    drop(rt);
}

criterion_group!(benches, auth, telemetry, commands, received);
criterion_main!(benches);
