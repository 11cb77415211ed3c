//! The gateway scenario: one gateway provisions and connects K downstream devices (over AMQP
//! they share the gateway's connection), each sends one telemetry message and receives one
//! cloud-to-device message. Measures this process's time, CPU and memory per phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

use iotc_sdk::gateway::Gateway;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, Event};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::http::HttpClient;
use crate::measure::{ms, percentile, Snapshot};
use crate::{sdk, BoxError, Target, Telemetry};

/// What to run.
#[derive(Clone, Debug)]
pub struct GatewayPlan {
    /// Downstream devices.
    pub devices: usize,
    /// The gateway's protocol (its downstream devices inherit it).
    pub protocol: Protocol,
    /// Downstream devices being added at once.
    pub add_concurrency: usize,
    /// Device id prefix: the gateway is `{prefix}gateway`, the devices `{prefix}0…`.
    pub prefix: String,
}

/// Runs the scenario and returns one JSON object of results.
///
/// # Errors
///
/// The gateway cannot connect, or the service URL is missing or unreachable.
pub async fn run(target: &Target, plan: GatewayPlan) -> Result<Value, BoxError> {
    let url = target
        .service_url
        .as_deref()
        .ok_or("the gateway scenario needs --service-url (it sends C2D messages)")?;
    let mut service = HttpClient::new(url)?;
    let tls = sdk::tls(target)?;
    let base = Snapshot::take();
    let t0 = Instant::now();
    let gateway = Gateway::connect(
        Device::builder()
            .protocol(plan.protocol)
            .id_scope(target.id_scope.clone())
            .device_id(format!("{}gateway", plan.prefix))
            .credentials(Credentials::group_key(&target.group_key)?)
            .dps_endpoint(target.dps_endpoint.clone())
            .tls(tls)
            .operation_timeout(crate::OPERATION_TIMEOUT)
            .connect_timeout(crate::OPERATION_TIMEOUT),
    )
    .await?;
    let gateway_connect = t0.elapsed();
    let gateway = Arc::new(gateway);

    // Phase 1: provision (DPS) and connect every downstream device.
    let limit = Arc::new(Semaphore::new(plan.add_concurrency.max(1)));
    let before_add = Snapshot::take();
    let mut adds = Vec::with_capacity(plan.devices);
    for i in 0..plan.devices {
        let (gateway, limit) = (gateway.clone(), limit.clone());
        let id = format!("{}{i}", plan.prefix);
        adds.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let t = Instant::now();
            let device = gateway.add(&id, |b| b).await?;
            Ok::<_, BoxError>((device, t.elapsed()))
        }));
    }
    let mut devices = Vec::with_capacity(plan.devices);
    let mut add_times = Vec::with_capacity(plan.devices);
    let mut add_errors = Vec::new();
    for add in adds {
        match add.await {
            Ok(Ok((device, took))) => {
                devices.push(device);
                add_times.push(took);
            }
            Ok(Err(e)) => add_errors.push(e.to_string()),
            Err(e) => add_errors.push(e.to_string()),
        }
    }
    let added = Snapshot::take();
    if let Some(e) = add_errors.first() {
        eprintln!(
            "iotc-loadgen: {} of {} adds failed, e.g. {e}",
            add_errors.len(),
            plan.devices
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = Snapshot::take();
    let connections = open_amqp_connections(&mut service).await;

    // Phase 2: every device sends one message (all at once) and waits for its acknowledgement.
    let sends: Vec<_> = devices
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, device)| {
            tokio::spawn(async move {
                let body = Telemetry::new(i as u64);
                device.send_telemetry(&body).await
            })
        })
        .collect();
    let t_send = Instant::now();
    let send0 = Snapshot::take();
    let mut sent = 0;
    for send in sends {
        if matches!(send.await, Ok(Ok(()))) {
            sent += 1;
        }
    }
    let send1 = Snapshot::take();
    let send_wall = t_send.elapsed();

    // Phase 3: the service sends one C2D message to every device; each waits for it.
    let receivers: Vec<_> = devices
        .iter()
        .cloned()
        .map(|device| {
            tokio::spawn(async move {
                let wait = async {
                    loop {
                        match device.next_event().await {
                            Some(Event::CloudMessage(_)) => return true,
                            Some(_) => continue,
                            None => return false,
                        }
                    }
                };
                tokio::time::timeout(Duration::from_secs(60), wait)
                    .await
                    .unwrap_or(false)
            })
        })
        .collect();
    let t_c2d = Instant::now();
    let c2d0 = Snapshot::take();
    let mut c2d_errors = 0;
    for device in &devices {
        let path = format!("/devices/{}/messages/devicebound", device.device_id());
        match service.request("POST", &path, b"{\"ping\":1}").await {
            Ok((status, _)) if status < 300 => {}
            _ => c2d_errors += 1,
        }
    }
    let mut received = 0;
    for receiver in receivers {
        if matches!(receiver.await, Ok(true)) {
            received += 1;
        }
    }
    let c2d1 = Snapshot::take();
    let c2d_wall = t_c2d.elapsed();

    let k = plan.devices.max(1) as f64;
    let add = before_add.delta(&added);
    let ok = add_times.len().max(1) as f64;
    let send = send0.delta(&send1);
    let c2d = c2d0.delta(&c2d1);
    let result = json!({
        "scenario": "gateway",
        "client": "iotc-sdk",
        "protocol": plan.protocol.name(),
        "devices": plan.devices,
        "added": add_times.len(),
        "add_errors": add_errors.len(),
        "add_concurrency": plan.add_concurrency,
        "gateway_connect_ms": round(ms(gateway_connect), 1),
        "add_wall_s": round(add.wall_s, 2),
        "add_cpu_s": round(add.cpu_s, 3),
        "cpu_ms_per_add": round(add.cpu_s * 1e3 / ok, 3),
        "add_ms_p50": round(ms(percentile(&mut add_times, 0.50)), 1),
        "add_ms_p99": round(ms(percentile(&mut add_times, 0.99)), 1),
        "open_amqp_connections": connections,
        "kb_per_device_idle": round(base.delta(&idle).rss_delta as f64 / 1024.0 / k, 1),
        "sent": sent,
        "send_wall_ms": round(ms(send_wall), 1),
        "send_cpu_s": round(send.cpu_s, 3),
        "c2d_received": received,
        "c2d_errors": c2d_errors,
        "c2d_wall_ms": round(ms(c2d_wall), 1),
        "c2d_cpu_s": round(c2d.cpu_s, 3),
    });
    if let Ok(gateway) = Arc::try_unwrap(gateway) {
        let _ = tokio::time::timeout(Duration::from_secs(30), gateway.close()).await;
    }
    Ok(result)
}

/// The emulator's count of open AMQP connections (its `GET /`), if it tells.
async fn open_amqp_connections(service: &mut HttpClient) -> Value {
    match service.request("GET", "/", b"").await {
        Ok((200, body)) => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("openAmqpConnections").cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
