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
//! Ctrl-C (see `examples/src/lib.rs` for every variable).

use std::time::Duration;

use iotc_examples::{init_logging, target, BoxError};
use iotc_sdk::{Device, Event};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;

const MODEL_ID: &str = "dtmi:com:example:Thermostat;1";

/// Telemetry of the Thermostat model.
#[derive(Serialize)]
struct Telemetry {
    temperature: f64,
}

/// Read-only property of the Thermostat model.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reported {
    max_temp_since_last_reboot: f64,
}

/// Response of the `getMaxMinReport` command.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct MaxMinReport {
    max_temp: f64,
    min_temp: f64,
    avg_temp: f64,
    #[serde(with = "time::serde::rfc3339")]
    start_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    end_time: OffsetDateTime,
}

/// The thermostat's own state.
struct Thermostat {
    temperature: f64,
    target: Option<f64>,
    readings: Vec<(OffsetDateTime, f64)>,
}

impl Thermostat {
    fn new() -> Self {
        Thermostat {
            temperature: 21.0,
            target: None,
            readings: Vec::new(),
        }
    }

    /// Moves the temperature half a degree toward the target (or wanders a little).
    fn step(&mut self) -> f64 {
        self.temperature = match self.target {
            Some(target) if (target - self.temperature).abs() > 0.5 => {
                self.temperature + 0.5 * (target - self.temperature).signum()
            }
            Some(target) => target,
            None => self.temperature + 0.1 * ((self.readings.len() % 7) as f64 - 3.0),
        };
        self.readings
            .push((OffsetDateTime::now_utc(), self.temperature));
        self.temperature
    }

    fn max(&self) -> f64 {
        self.readings.iter().map(|r| r.1).fold(f64::MIN, f64::max)
    }

    fn report(&self, since: OffsetDateTime) -> Option<MaxMinReport> {
        let values: Vec<_> = self.readings.iter().filter(|r| r.0 >= since).collect();
        let (first, last) = (values.first()?, values.last()?);
        let temps = values.iter().map(|r| r.1);
        Some(MaxMinReport {
            max_temp: temps.clone().fold(f64::MIN, f64::max),
            min_temp: temps.clone().fold(f64::MAX, f64::min),
            avg_temp: temps.sum::<f64>() / values.len() as f64,
            start_time: first.0,
            end_time: last.0,
        })
    }
}

/// Runs the device: telemetry every `interval`, the max temperature as a reported property,
/// writable `targetTemperature`, and the `getMaxMinReport` command, until `stop` turns true.
async fn run_device(
    device: Device,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let mut thermostat = Thermostat::new();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = ticker.tick() => {
                let temperature = thermostat.step();
                device.send_telemetry(&Telemetry { temperature }).await?;
                println!("-> telemetry      temperature = {temperature:.1} °C");
                let max = thermostat.max();
                if thermostat.readings.len() == 1 || temperature >= max {
                    let version = device.report_properties(&Reported { max_temp_since_last_reboot: max }).await?;
                    println!("-> reported       maxTempSinceLastReboot = {max:.1} °C (twin reported $version {version})");
                }
            }
            event = device.next_event() => match event {
                Some(Event::WritableProperties(update)) => {
                    for property in update.properties() {
                        if property.name() != "targetTemperature" {
                            device.acknowledge(property, 400, Some("unknown property")).await?;
                            continue;
                        }
                        match property.value_as::<f64>() {
                            Ok(target) => {
                                println!("<- writable       targetTemperature = {target:.1} °C (desired $version {})", property.version());
                                thermostat.target = Some(target);
                                device.acknowledge(property, 200, Some("Successfully updated target temperature")).await?;
                                println!("-> acknowledged   targetTemperature ac=200 av={}", property.version());
                            }
                            Err(e) => {
                                device.acknowledge(property, 400, Some(&format!("not a number: {e}"))).await?;
                            }
                        }
                    }
                }
                Some(Event::Command(command)) if command.name() == "getMaxMinReport" => {
                    let since = command
                        .payload_json::<String>()
                        .ok()
                        .and_then(|s| OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok())
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    println!("<- command        getMaxMinReport(since = {since})");
                    match thermostat.report(since) {
                        Some(report) => {
                            println!("-> response 200   max {:.1} min {:.1} avg {:.2}", report.max_temp, report.min_temp, report.avg_temp);
                            command.respond(200, &report).await?;
                        }
                        None => command.respond(404, &serde_json::json!({"error": "no readings since then"})).await?,
                    }
                }
                Some(Event::Command(command)) => {
                    println!("<- command        {} (unknown: answering 404)", command.method_name());
                    command.respond(404, &serde_json::json!({"error": "unknown command"})).await?;
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
    let target = target(MODEL_ID, "thermostat-01").await?;
    let embedded = target.emulator.is_some();
    if embedded {
        println!("No IoT Central credentials in the environment: using an embedded emulator.");
    }
    println!("== provisioning through DPS and connecting to the assigned hub over MQTT/TLS");
    let device = target.builder.connect().await?;
    println!(
        "== connected as {} to {}",
        device.device_id(),
        device.hub_host()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let interval = if embedded {
        Duration::from_millis(700)
    } else {
        Duration::from_secs(5)
    };
    let runner = tokio::spawn(run_device(device.clone(), interval, stop_rx));

    match target.emulator {
        Some(emulator) => {
            let result =
                tokio::time::timeout(Duration::from_secs(20), demo(&emulator, device.device_id()))
                    .await;
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

/// The service side of the embedded demo, played through the emulator's service API.
async fn demo(emulator: &iotc_emulator::Emulator, device_id: &str) -> Result<(), BoxError> {
    let mut telemetry = emulator.telemetry();
    let first = telemetry.recv().await.ok_or("no telemetry arrived")?;
    println!(
        "   [service] received telemetry {}",
        String::from_utf8_lossy(&first.body)
    );

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
    Ok(())
}
