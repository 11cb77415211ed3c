//! A gateway with three downstream sensors of different device templates.
//!
//! ```text
//! cargo run --example gateway
//! ```
//!
//! The gateway provisions itself, then provisions each downstream device through DPS with the
//! gateway relationship (`iotcGateway.iotcGatewayId`) and a key derived from the group key, so
//! each sensor has its own identity, template and twin in IoT Central. Each sensor is an
//! ordinary typed [`Device`]: a thermostat (`Thermostat;1`), a humidity sensor with a writable
//! reporting interval, and a door sensor with a `lock` command.
//!
//! With no IoT Central credentials in the environment it runs against an embedded emulator and
//! plays a short scripted demo from the service side, then exits. With `IOTC_ID_SCOPE`,
//! `IOTC_DEVICE_ID` (the gateway's id) and `IOTC_GROUP_KEY` set it connects to your
//! application and runs until Ctrl-C; the sensors are `{gateway id}-thermostat`,
//! `{gateway id}-humidity` and `{gateway id}-door`. (A device key cannot be used: the sensors'
//! keys are derived from the group key.)

use std::time::Duration;

use iotc_examples::models::{
    DoorCommand, DoorSensor, DoorTelemetry, HumidityProperties, HumiditySensor, HumidityTelemetry,
    SensorGateway, SensorGatewayTelemetry, Thermostat, ThermostatTelemetry,
};
use iotc_examples::sim::ThermostatSim;
use iotc_examples::{init_logging, target, BoxError};
use iotc_sdk::device::Response;
use iotc_sdk::gateway::Gateway;
use iotc_sdk::{Device, Event, Interface};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The thermostat: a temperature every tick.
async fn thermostat(device: Device, mut ticks: watch::Receiver<u64>) -> Result<(), BoxError> {
    let thermostat = device.typed::<Thermostat>();
    let mut sim = ThermostatSim::new(21.0);
    while ticks.changed().await.is_ok() {
        let temperature = sim.step();
        thermostat
            .send(&ThermostatTelemetry { temperature })
            .await?;
        println!(
            "-> {:<22} temperature = {temperature:.1} °C",
            device.device_id()
        );
    }
    Ok(())
}

/// The humidity sensor: a reading every `reportingInterval` ticks (writable, default 1).
async fn humidity(device: Device, mut ticks: watch::Receiver<u64>) -> Result<(), BoxError> {
    let sensor = device.typed::<HumiditySensor>();
    let mut every = 1_u64;
    loop {
        tokio::select! {
            changed = ticks.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let tick = *ticks.borrow_and_update();
                if tick.is_multiple_of(every) {
                    let humidity = 40.0 + (tick % 7) as f64;
                    sensor.send(&HumidityTelemetry { humidity }).await?;
                    println!("-> {:<22} humidity = {humidity:.0} %", device.device_id());
                }
            }
            event = device.next_event() => match event {
                Some(Event::WritableProperties(update)) => {
                    let status = match sensor.writable(&update) {
                        Ok(HumidityProperties { reporting_interval: Some(n) }) if n > 0 => {
                            every = n as u64;
                            println!("<- {:<22} reportingInterval = {n}", device.device_id());
                            200
                        }
                        _ => 400,
                    };
                    for property in update.properties() {
                        device.acknowledge(property, status, None).await?;
                    }
                }
                Some(Event::Disconnected(reason)) => return Err(reason.into()),
                None => return Ok(()),
                Some(_) => {}
            }
        }
    }
}

/// The door sensor: its state every tick; the `lock` command closes it.
async fn door(device: Device, mut ticks: watch::Receiver<u64>) -> Result<(), BoxError> {
    let sensor = device.typed::<DoorSensor>();
    let mut open = true;
    loop {
        tokio::select! {
            changed = ticks.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                sensor.send(&DoorTelemetry { open }).await?;
                println!("-> {:<22} open = {open}", device.device_id());
            }
            event = device.next_event() => match event {
                Some(Event::Command(command)) => {
                    command
                        .handle(|request: DoorCommand| {
                            let DoorCommand::Lock = request;
                            open = false;
                            println!("<- {:<22} lock", device.device_id());
                            std::future::ready(Response::empty(200))
                        })
                        .await?;
                }
                Some(Event::Disconnected(reason)) => return Err(reason.into()),
                None => return Ok(()),
                Some(_) => {}
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging();
    let target = target::<SensorGateway>("gateway-01").await?;
    if let Some(emulator) = &target.emulator {
        println!("No IoT Central credentials in the environment: using an embedded emulator.");
        for model in [
            Thermostat::interfaces(),
            HumiditySensor::interfaces(),
            DoorSensor::interfaces(),
        ] {
            emulator.add_template(&iotc_sdk::model::export(&model))?;
        }
    }
    println!("== connecting the gateway");
    let gateway = Gateway::connect(target.builder).await?;
    let id = gateway.id().to_owned();
    println!("== connected as {id} to {}", gateway.device().hub_host());

    let sensors = [
        (format!("{id}-thermostat"), Thermostat::ID),
        (format!("{id}-humidity"), HumiditySensor::ID),
        (format!("{id}-door"), DoorSensor::ID),
    ];
    let (tick_tx, ticks) = watch::channel(0_u64);
    let mut tasks = JoinSet::new();
    for (sensor_id, model) in &sensors {
        let device = gateway.add(sensor_id, |b| b.model_id(*model)).await?;
        println!("== added downstream device {sensor_id} ({model})");
        let ticks = ticks.clone();
        match *model {
            Thermostat::ID => tasks.spawn(thermostat(device, ticks)),
            HumiditySensor::ID => tasks.spawn(humidity(device, ticks)),
            _ => tasks.spawn(door(device, ticks)),
        };
    }
    drop(ticks);

    let interval = if target.emulator.is_some() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(10)
    };
    let gateway_model = gateway.device().typed::<SensorGateway>();
    let ticker = async {
        let mut timer = tokio::time::interval(interval);
        for tick in 1_u64.. {
            timer.tick().await;
            let _ = tick_tx.send(tick);
            let connected_devices = gateway.downstream_ids().len() as i32;
            gateway_model
                .send(&SensorGatewayTelemetry { connected_devices })
                .await?;
        }
        Ok::<(), BoxError>(())
    };

    let outcome: Result<(), BoxError> = match &target.emulator {
        Some(emulator) => tokio::select! {
            result = tokio::time::timeout(Duration::from_secs(30), demo(emulator, &id)) => {
                result.map_err(|_| "the scripted demo did not finish in 30 s")?
            }
            result = ticker => result,
            Some(joined) = tasks.join_next() => Err(format!("a sensor stopped: {:?}", joined?).into()),
        },
        None => {
            println!("== running; press Ctrl-C to stop");
            tokio::select! {
                signal = tokio::signal::ctrl_c() => signal.map_err(Into::into),
                result = ticker => result,
                Some(joined) = tasks.join_next() => Err(format!("a sensor stopped: {:?}", joined?).into()),
            }
        }
    };
    // Stop the sensors (their tick channel closes), then disconnect everything.
    drop(tick_tx);
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    gateway.close().await?;
    outcome?;
    println!("== gateway and sensors closed cleanly");
    Ok(())
}

/// The service side of the embedded demo, played through the emulator's service API.
async fn demo(emulator: &iotc_emulator::Emulator, gateway_id: &str) -> Result<(), BoxError> {
    let downstream = emulator.downstream_devices(gateway_id);
    println!(
        "   [service] {gateway_id} has {} downstream devices:",
        downstream.len()
    );
    for device in &downstream {
        println!(
            "   [service]   {} template {}",
            device.device_id,
            device.template.as_deref().unwrap_or("(unassigned)")
        );
    }
    if downstream.len() != 3 || downstream.iter().any(|d| d.template.is_none()) {
        return Err("expected three downstream devices, each with its template".into());
    }

    // Telemetry from every device, each under its own identity.
    let mut telemetry = emulator.telemetry();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 4 {
        let message = telemetry.recv().await.ok_or("telemetry ended")?;
        seen.insert(message.device_id.clone());
    }
    println!("   [service] telemetry arrived from {seen:?}");

    let humidity = format!("{gateway_id}-humidity");
    let version = emulator
        .update_desired(&humidity, serde_json::json!({"reportingInterval": 2}))
        .await?;
    println!("   [service] set {humidity} reportingInterval = 2 (desired $version {version})");
    let door = format!("{gateway_id}-door");
    let response = emulator
        .invoke_command(
            &door,
            "lock",
            serde_json::Value::Null,
            Duration::from_secs(10),
        )
        .await?;
    println!(
        "   [service] {door} lock answered {}: {}",
        response.status, response.payload
    );
    if response.status != 200 {
        return Err("the door did not lock".into());
    }
    for _ in 0..50 {
        let twin = emulator.twin(&humidity).ok_or("no twin")?;
        if twin.reported["reportingInterval"]["av"] == version {
            println!(
                "   [service] {humidity} acknowledged: {}",
                twin.reported["reportingInterval"]
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for device in emulator.devices() {
        let unmodeled = emulator.unmodeled(&device.device_id);
        if !unmodeled.is_empty() {
            return Err(format!("{} sent unmodeled data: {unmodeled:?}", device.device_id).into());
        }
    }
    println!("   [service] every device's data fits its template");
    Ok(())
}
