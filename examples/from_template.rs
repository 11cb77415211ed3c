//! A device generated from a real template: `dtmi:azure:PhoneAsIoTDevice:Application;1` from the
//! public Device Models Repository (six components, two commands, two writable properties),
//! turned into Rust by `iotc-codegen` (`examples/src/models/phone/`, see `docs/codegen.md`):
//!
//! ```text
//! cargo run -p iotc-codegen -- --repository ../shared/models/dmr-sample \
//!     --out examples/src/models/phone \
//!     ../shared/models/dmr-sample/dtmi/azure/phoneasiotdevice/application-1.json
//! cargo run --example from_template
//! ```
//!
//! With no IoT Central credentials in the environment it starts the emulator in-process with
//! the generated model as the device template, sends every component's telemetry, reports the
//! device information, acknowledges the writable `telemetryInterval` set from the service side,
//! answers `lightOn`, and checks that the emulator saw no unmodeled data.

use std::time::Duration;

use iotc_examples::models::phone::accelerometer_v1::AccelerometerTelemetry;
use iotc_examples::models::phone::application_v1::{
    Application, ApplicationCommand, ApplicationProperties, TelemetryInterval,
};
use iotc_examples::models::phone::battery_v1::BatteryTelemetry;
use iotc_examples::models::phone::device_information_v1::DeviceInformationProperties;
use iotc_examples::models::phone::location_v1::LocationTelemetry;
use iotc_examples::models::phone::pressure_v1::PressureTelemetry;
use iotc_examples::{init_logging, run_single_device, target, BoxError};
use iotc_sdk::device::Response;
use iotc_sdk::{Device, Event};
use serde_json::json;
use tokio::sync::watch;

async fn run_device(
    device: Device,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), BoxError> {
    let phone = device.typed::<Application>();
    let battery = device.component(Application::BATTERY);
    let pressure = device.component(Application::PRESSURE);
    let accelerometer = device.component(Application::ACCELEROMETER);
    let location = device.component(Application::LOCATION);
    if device.protocol().supports_twin() {
        device
            .component(Application::DEVICE_INFO)
            .report(&DeviceInformationProperties {
                manufacturer: Some("Contoso".to_owned()),
                model: Some("Phone 1".to_owned()),
                total_memory: Some(4096.0),
                ..Default::default()
            })
            .await?;
    }
    let mut ticker = tokio::time::interval(interval);
    let mut level = 100;
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = ticker.tick() => {
                level = (level - 1).max(0);
                battery.send(&BatteryTelemetry { battery: Some(level) }).await?;
                pressure.send(&PressureTelemetry { barometer: Some(1013.2) }).await?;
                accelerometer
                    .send(&AccelerometerTelemetry {
                        accelerometer: Some(json!({"x": 0.0, "y": 0.1, "z": 9.8})),
                        ..Default::default()
                    })
                    .await?;
                location
                    .send(&LocationTelemetry {
                        geolocation: Some(json!({"lat": 47.64, "lon": -122.13})),
                    })
                    .await?;
                println!("-> telemetry      battery = {level} %, barometer, accelerometer, geolocation");
            }
            event = device.next_event() => match event {
                Some(Event::WritableProperties(update)) => {
                    let (status, description) = match phone.writable(&update) {
                        Ok(ApplicationProperties { telemetry_interval: Some(every), .. }) => {
                            println!("<- writable       telemetryInterval = {every:?}");
                            (200, "interval changed".to_owned())
                        }
                        Ok(_) => (200, "applied".to_owned()),
                        Err(e) => (400, format!("invalid value: {e}")),
                    };
                    for property in update.properties() {
                        device.acknowledge(property, status, Some(&description)).await?;
                        println!("-> acknowledged   {} ac={status}", property.name());
                    }
                }
                Some(Event::Command(command)) => {
                    println!("<- command        {}", command.method_name());
                    command
                        .handle(|request: ApplicationCommand| {
                            std::future::ready(match request {
                                ApplicationCommand::LightOn(parameters) => {
                                    println!("-> light on       {parameters:?}");
                                    Response::empty(200)
                                }
                                ApplicationCommand::ClearConnectivity => Response::empty(200),
                            })
                        })
                        .await?;
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
    let target = target::<Application>("phone-01").await?;
    run_single_device(target, run_device, demo).await
}

/// The service side of the embedded demo.
async fn demo(emulator: &iotc_emulator::Emulator, device: &Device) -> Result<(), BoxError> {
    let device_id = device.device_id();
    let mut telemetry = emulator.telemetry();
    for _ in 0..4 {
        let message = telemetry.recv().await.ok_or("no telemetry arrived")?;
        println!(
            "   [service] telemetry {}",
            String::from_utf8_lossy(&message.body)
        );
    }
    if device.protocol().supports_twin() {
        let value = serde_json::to_value(TelemetryInterval::Ten)?;
        let version = emulator
            .update_desired(device_id, json!({"telemetryInterval": value}))
            .await?;
        println!("   [service] set telemetryInterval = {value} (desired $version {version})");
        let mut acked = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let twin = emulator.twin(device_id).ok_or("the device has no twin")?;
            let ack = &twin.reported["telemetryInterval"];
            if ack["av"] == version && ack["ac"] == 200 {
                println!("   [service] twin shows the acknowledgement: {ack}");
                acked = true;
                break;
            }
        }
        if !acked {
            return Err("the device did not acknowledge telemetryInterval".into());
        }
        let response = emulator
            .invoke_command(
                device_id,
                "lightOn",
                json!({"duration": 3, "delay": 1, "pulses": 2}),
                Duration::from_secs(10),
            )
            .await?;
        println!("   [service] lightOn answered {}", response.status);
        if response.status != 200 {
            return Err(format!("lightOn answered {}", response.status).into());
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unmodeled = emulator.unmodeled(device_id);
    if !unmodeled.is_empty() {
        return Err(format!("the emulator saw unmodeled data: {unmodeled:?}").into());
    }
    println!("   [service] no unmodeled data");
    Ok(())
}
