//! The official Thermostat model (`dtmi:com:example:Thermostat;1`) as an IoT Central device.
//!
//! ```text
//! cargo run --example thermostat
//! ```
//!
//! With no IoT Central credentials in the environment this starts an emulator in-process,
//! provisions through its DPS with a group key, connects over MQTT with TLS and plays a short
//! scripted demo from the service side: it sets the writable `targetTemperature` and invokes
//! `getMaxMinReport`, then exits. With `IOTC_ID_SCOPE`, `IOTC_DEVICE_ID` and
//! `IOTC_DEVICE_KEY` or `IOTC_GROUP_KEY` set it connects to your application and runs until
//! Ctrl-C (see `examples/src/lib.rs` for every variable). With `IOTC_PROVISIONING_CACHE=FILE`
//! it caches its DPS assignment in `FILE` and later runs connect to the cached hub without
//! registering again (IoT Central's device best practice; `docs/field.md`). With
//! `IOTC_PROXY=http://[user:pass@]host:port` and `IOTC_TRANSPORT=mqtt-ws`, `amqp-ws` or `https`
//! it goes through that HTTP proxy (`docs/field.md`, "Proxies").
//!
//! The device is typed by the model in `examples/src/models/thermostat.rs`: it can only send
//! the model's telemetry and properties, and commands arrive as `ThermostatCommand`s.

use std::time::Duration;

use iotc_examples::models::{
    MaxMinReport, Thermostat, ThermostatCommand, ThermostatProperties, ThermostatTelemetry,
};
use iotc_examples::sim::ThermostatSim;
use iotc_examples::{init_logging, run_single_device, target, BoxError};
use iotc_sdk::device::Response;
use iotc_sdk::{Device, Event};
use time::OffsetDateTime;
use tokio::sync::watch;

/// Runs the device: telemetry every `interval`, the max temperature as a reported property,
/// writable `targetTemperature`, and the `getMaxMinReport` command, until `stop` turns true.
async fn run_device(
    device: Device,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let thermostat = device.typed::<Thermostat>();
    let mut sim = ThermostatSim::new(21.0);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = ticker.tick() => {
                let temperature = sim.step();
                thermostat.send(&ThermostatTelemetry { temperature }).await?;
                println!("-> telemetry      temperature = {temperature:.1} °C");
                let max = sim.max();
                let twin = device.protocol().supports_twin();
                if twin && (sim.readings() == 1 || temperature >= max) {
                    let properties = ThermostatProperties { max_temp_since_last_reboot: max, ..Default::default() };
                    let version = thermostat.report(&properties).await?;
                    println!("-> reported       maxTempSinceLastReboot = {max:.1} °C (twin reported $version {version})");
                }
            }
            event = device.next_event() => match event {
                Some(Event::WritableProperties(update)) => {
                    let (status, description) = match thermostat.writable(&update) {
                        Ok(ThermostatProperties { target_temperature: Some(target), .. }) => {
                            println!("<- writable       targetTemperature = {target:.1} °C (desired $version {})", update.version());
                            sim.set_target(target);
                            (200, "Successfully updated target temperature".to_owned())
                        }
                        Ok(_) => (400, "not a writable property of the model".to_owned()),
                        Err(e) => (400, format!("invalid value: {e}")),
                    };
                    for property in update.properties() {
                        device.acknowledge(property, status, Some(&description)).await?;
                        println!("-> acknowledged   {} ac={status} av={}", property.name(), property.version());
                    }
                }
                Some(Event::Command(command)) => {
                    println!("<- command        {}", command.method_name());
                    let report = |request: ThermostatCommand| match request {
                        ThermostatCommand::GetMaxMinReport(since) => match sim.report(since) {
                            Some(report) => {
                                println!("-> response 200   max {:.1} min {:.1} avg {:.2}", report.max_temp, report.min_temp, report.avg_temp);
                                Response::ok(&report)
                            }
                            None => Response::with_status(404, &serde_json::json!({"error": "no readings since then"})),
                        },
                    };
                    command
                        .handle(|request| std::future::ready(report(request)))
                        .await?;
                }
                Some(Event::CloudMessage(message)) => {
                    println!("<- cloud message  {}", String::from_utf8_lossy(message.body()));
                }
                Some(Event::Disconnected(reason)) => return Err(format!("disconnected: {reason}").into()),
                Some(_) => {}
                None => return Err("the connection ended".into()),
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let target = target::<Thermostat>("thermostat-01").await?;
    run_single_device(target, run_device, demo).await
}

/// The service side of the embedded demo, played through the emulator's service API.
async fn demo(emulator: &iotc_emulator::Emulator, device: &Device) -> Result<(), BoxError> {
    let device_id = device.device_id();
    let supports_twin = device.protocol().supports_twin();
    let mut telemetry = emulator.telemetry();
    let first = telemetry.recv().await.ok_or("no telemetry arrived")?;
    println!(
        "   [service] received telemetry {}",
        String::from_utf8_lossy(&first.body)
    );
    if !supports_twin {
        println!("   [service] no twin on this transport: skipping the writable property and the command");
        return Ok(());
    }

    let version = emulator
        .update_desired(device_id, serde_json::json!({"targetTemperature": 25.0}))
        .await?;
    println!("   [service] set targetTemperature = 25.0 (desired $version {version})");
    let mut acked = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let twin = emulator.twin(device_id).ok_or("the device has no twin")?;
        let ack = &twin.reported["targetTemperature"];
        if ack["av"] == version && ack["ac"] == 200 {
            println!("   [service] twin shows the acknowledgement: {ack}");
            acked = true;
            break;
        }
    }
    if !acked {
        return Err("the device did not acknowledge targetTemperature".into());
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let since = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let since = since.format(&time::format_description::well_known::Rfc3339)?;
    let response = emulator
        .invoke_command(
            device_id,
            "getMaxMinReport",
            serde_json::json!(since),
            Duration::from_secs(10),
        )
        .await?;
    println!(
        "   [service] getMaxMinReport answered {}: {}",
        response.status, response.payload
    );
    if response.status != 200 {
        return Err(format!("getMaxMinReport failed with status {}", response.status).into());
    }
    let report: MaxMinReport = serde_json::from_value(response.payload)?;
    if report.max_temp < report.min_temp {
        return Err("inconsistent report".into());
    }
    let unmodeled = emulator.unmodeled(device_id);
    println!(
        "   [service] data outside the Thermostat template: {}",
        unmodeled.len()
    );
    if !unmodeled.is_empty() {
        return Err(format!("the device sent unmodeled data: {unmodeled:?}").into());
    }
    Ok(())
}
