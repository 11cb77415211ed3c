//! The official multi-component TemperatureController model
//! (`dtmi:com:example:TemperatureController;1`): two Thermostat components, a
//! DeviceInformation component, working-set telemetry, a serial number and a `reboot` command.
//!
//! ```text
//! cargo run --example temperature_controller
//! ```
//!
//! Like `thermostat`, it runs against an embedded emulator unless `IOTC_*` variables name a real
//! application. The demo sets `targetTemperature` on `thermostat1` only, invokes
//! `thermostat1*getMaxMinReport`, `thermostat2*getMaxMinReport` and the device-level `reboot`,
//! and checks that nothing the device sent falls outside the template.

use std::time::Duration;

use iotc_examples::models::{
    DeviceInformation, DeviceInformationProperties, TemperatureController,
    TemperatureControllerCommand, TemperatureControllerProperties, TemperatureControllerTelemetry,
    Thermostat, ThermostatCommand, ThermostatProperties, ThermostatTelemetry,
};
use iotc_examples::sim::ThermostatSim;
use iotc_examples::{init_logging, run_single_device, target, BoxError};
use iotc_sdk::device::{Response, TypedComponent};
use iotc_sdk::{Device, Event};
use time::OffsetDateTime;
use tokio::sync::watch;

/// One thermostat component: its typed handle and its simulation.
struct Zone {
    handle: TypedComponent<Thermostat>,
    sim: ThermostatSim,
}

impl Zone {
    fn name(&self) -> &'static str {
        self.handle.name().unwrap_or("")
    }

    async fn tick(&mut self) -> Result<(), BoxError> {
        let temperature = self.sim.step();
        self.handle
            .send(&ThermostatTelemetry { temperature })
            .await?;
        if self.sim.readings() == 1 || temperature >= self.sim.max() {
            let max = self.sim.max();
            self.handle
                .report(&ThermostatProperties {
                    max_temp_since_last_reboot: max,
                    ..Default::default()
                })
                .await?;
        }
        Ok(())
    }
}

async fn run_device(
    device: Device,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let root = device.typed::<TemperatureController>();
    let mut zones = [
        Zone {
            handle: device.component(TemperatureController::THERMOSTAT1),
            sim: ThermostatSim::new(21.0),
        },
        Zone {
            handle: device.component(TemperatureController::THERMOSTAT2),
            sim: ThermostatSim::new(18.0),
        },
    ];
    let info = device.component::<DeviceInformation>(TemperatureController::DEVICE_INFORMATION);
    info.report(&DeviceInformationProperties {
        manufacturer: "Contoso".into(),
        model: "TC-2000".into(),
        sw_version: env!("CARGO_PKG_VERSION").into(),
        os_name: std::env::consts::OS.into(),
        processor_architecture: std::env::consts::ARCH.into(),
        processor_manufacturer: "unknown".into(),
        total_storage: 2_048_000.0,
        total_memory: 256_000.0,
    })
    .await?;
    root.report(&TemperatureControllerProperties {
        serial_number: "SN-0001".into(),
    })
    .await?;
    println!("-> reported       deviceInformation and serialNumber");

    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = ticker.tick() => {
                for zone in &mut zones {
                    zone.tick().await?;
                }
                root.send(&TemperatureControllerTelemetry { working_set: 1024.0 + zones[0].sim.readings() as f64 }).await?;
                println!("-> telemetry      thermostat1, thermostat2 (max so far {:.1} °C, {:.1} °C), workingSet", zones[0].sim.max(), zones[1].sim.max());
            }
            event = device.next_event() => match event {
                Some(Event::WritableProperties(update)) => {
                    for zone in &mut zones {
                        if let Ok(ThermostatProperties { target_temperature: Some(target), .. }) = zone.handle.writable(&update) {
                            println!("<- writable       {}.targetTemperature = {target:.1} °C", zone.name());
                            zone.sim.set_target(target);
                        }
                    }
                    for property in update.properties() {
                        let known = property.name() == "targetTemperature"
                            && zones.iter().any(|z| property.component() == z.handle.name());
                        let (status, text) = if known { (200, "applied") } else { (400, "not a writable property of the model") };
                        device.acknowledge(property, status, Some(text)).await?;
                    }
                }
                Some(Event::Command(command)) => {
                    println!("<- command        {}", command.method_name());
                    match command.component() {
                        None => {
                            command
                                .handle(|request: TemperatureControllerCommand| {
                                    let TemperatureControllerCommand::Reboot(delay) = request;
                                    println!("   (a real device would reboot in {delay} s)");
                                    std::future::ready(Response::empty(200))
                                })
                                .await?
                        }
                        Some(name) => match zones.iter().find(|z| z.name() == name) {
                            Some(zone) => {
                                command
                                    .handle(|request: ThermostatCommand| {
                                        let ThermostatCommand::GetMaxMinReport(since) = request;
                                        std::future::ready(match zone.sim.report(since) {
                                            Some(report) => Response::ok(&report),
                                            None => Response::with_status(404, &serde_json::json!({"error": "no readings"})),
                                        })
                                    })
                                    .await?
                            }
                            None => command.respond(404, &serde_json::json!({"error": "unknown component"})).await?,
                        },
                    }
                }
                Some(Event::CloudMessage(message)) => println!("<- cloud message  {}", String::from_utf8_lossy(message.body())),
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
    let target = target::<TemperatureController>("temperature-controller-01").await?;
    run_single_device(target, run_device, demo).await
}

async fn demo(emulator: &iotc_emulator::Emulator, device_id: &str) -> Result<(), BoxError> {
    let mut telemetry = emulator.telemetry();
    telemetry.recv().await.ok_or("no telemetry arrived")?;
    let patch = serde_json::json!({"thermostat1": {"__t": "c", "targetTemperature": 26.0}});
    let version = emulator.update_desired(device_id, patch).await?;
    println!("   [service] set thermostat1.targetTemperature = 26.0 (desired $version {version})");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let twin = emulator.twin(device_id).ok_or("no twin")?;
    let ack = &twin.reported["thermostat1"]["targetTemperature"];
    println!("   [service] thermostat1 acknowledgement: {ack}");
    if ack["av"] != version || ack["ac"] != 200 {
        return Err("thermostat1.targetTemperature was not acknowledged".into());
    }
    let since = (OffsetDateTime::now_utc() - time::Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)?;
    for method in ["thermostat1*getMaxMinReport", "thermostat2*getMaxMinReport"] {
        let response = emulator
            .invoke_command(
                device_id,
                method,
                serde_json::json!(since),
                Duration::from_secs(10),
            )
            .await?;
        println!(
            "   [service] {method} answered {}: {}",
            response.status, response.payload
        );
        if response.status != 200 {
            return Err(format!("{method} failed").into());
        }
    }
    let response = emulator
        .invoke_command(
            device_id,
            "reboot",
            serde_json::json!(5),
            Duration::from_secs(10),
        )
        .await?;
    println!("   [service] reboot answered {}", response.status);
    if response.status != 200 {
        return Err("reboot failed".into());
    }
    let unmodeled = emulator.unmodeled(device_id);
    println!(
        "   [service] data outside the TemperatureController template: {}",
        unmodeled.len()
    );
    if !unmodeled.is_empty() {
        return Err(format!("the device sent unmodeled data: {unmodeled:#?}").into());
    }
    Ok(())
}
