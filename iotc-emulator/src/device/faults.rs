//! Every fault decision of the device core, in one place. A front end never reads fault state
//! itself: it asks here and maps the answer to its wire.
//!
//! - [`admit`]: a connection attempt (MQTT CONNECT, AMQP put-token or first link) proceeds, is
//!   refused, cut, or closed.
//! - [`operation`]: a device operation (telemetry, twin request, HTTPS call) proceeds or fails
//!   with IoT hub's status.
//! - [`telemetry_ack`] and [`ack_due`]: when an acknowledgement goes out (now, later, never).
//! - [`request`]: a telemetry message asking for a fault (IoT hub's fault-injection
//!   properties) schedules it; when it starts, the device's connection receives
//!   [`Outbound::Fault`] with the [`FaultAction`] for its transport.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::fault::{self, ConnectFault, DeviceFault, FaultAction, OpFault, Transport};
use crate::state::{Outbound, Shared};

/// A device operation a fault may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// A telemetry message over MQTT or AMQP (the service throttle holds its acknowledgement
    /// instead of refusing it).
    Telemetry,
    /// A twin request (GET, reported PATCH): the service throttle refuses it.
    Twin,
    /// Any HTTPS device-API request: the service throttle refuses it.
    Https,
}

/// When a telemetry acknowledgement (PUBACK, AMQP disposition) goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// At once.
    Now,
    /// At this time (`delay_acks`, the service throttle).
    At(Instant),
    /// Never (`drop_acks`).
    Drop,
}

/// Counts a connection attempt of `device` (see `Emulator::connection_attempts`).
pub(crate) fn count_attempt(shared: &Shared, device: &str) {
    shared.lock().faults.count_hub_attempt(device);
}

/// What a connection attempt of `device` over `transport` runs into now: `None` to proceed.
pub(crate) fn admit(shared: &Shared, device: &str, transport: Transport) -> Option<ConnectFault> {
    shared
        .lock()
        .faults
        .hub_connect(device, Instant::now(), transport)
}

/// The device-requested fault of `device` in force now and the action it takes on
/// `transport`: while it lasts, a front end applies it again to what the device re-opens (an
/// AMQP link or session it killed).
pub(crate) fn in_force(
    shared: &Shared,
    device: &str,
    transport: Transport,
) -> Option<(fault::FaultKind, FaultAction)> {
    shared
        .lock()
        .faults
        .device_action(device, Instant::now(), transport)
}

/// Whether `op` of `device` may proceed now, or fails because of a device-requested fault or
/// (for twin and HTTPS requests) the service throttle.
pub(crate) fn operation(shared: &Shared, device: &str, op: Operation) -> Result<(), OpFault> {
    let now = Instant::now();
    let state = shared.lock();
    let failure = state.faults.op_fault(device, now).or_else(|| match op {
        Operation::Telemetry => None,
        Operation::Twin | Operation::Https => {
            state.faults.throttled(now).map(|_| OpFault::Throttled)
        }
    });
    failure.map_or(Ok(()), Err)
}

/// The `retry-after` of the service throttle in force, if any.
pub(crate) fn throttle_retry_after(shared: &Shared) -> Option<std::time::Duration> {
    shared
        .lock()
        .faults
        .throttled(Instant::now())
        .map(|(_, retry_after)| retry_after)
}

/// When the acknowledgement of a telemetry message of `device` received now goes out: dropped
/// (`drop_acks`, one fewer left), or held until the later of `delay_acks` and the end of the
/// service throttle.
pub(crate) fn telemetry_ack(shared: &Shared, device: &str) -> Ack {
    let now = Instant::now();
    let mut state = shared.lock();
    if state.faults.take_ack_drop(device) {
        return Ack::Drop;
    }
    let due = [
        state
            .faults
            .ack_delay(device)
            .map(|d| fault::deadline(now, d)),
        state.faults.throttled(now).map(|(until, _)| until),
    ]
    .into_iter()
    .flatten()
    .max();
    match due {
        Some(t) if t > now => Ack::At(t),
        _ => Ack::Now,
    }
}

/// When the other acknowledgements of `device` sent now go out (`delay_acks`); `None`: at once.
pub(crate) fn ack_due(shared: &Shared, device: &str) -> Option<Instant> {
    shared
        .lock()
        .faults
        .ack_delay(device)
        .map(|d| fault::deadline(Instant::now(), d))
}

/// Handles the fault-injection properties of a telemetry message `device` sent over
/// `transport`: records the fault and schedules its start. Returns `true` when the message's
/// acknowledgement must be withheld (over MQTT a fault that closes the connection cuts it
/// before acknowledging its own request, as IoT hub does).
pub(crate) fn request(
    shared: &Arc<Shared>,
    device: &str,
    application: &BTreeMap<String, String>,
    transport: Transport,
) -> bool {
    let request = match fault::parse_request(application) {
        None => return false,
        Some(Err(reason)) => {
            tracing::warn!(
                device_id = device,
                reason,
                "fault-injection request ignored"
            );
            return false;
        }
        Some(Ok(request)) => request,
    };
    let start = fault::deadline(Instant::now(), request.delay);
    let fault = DeviceFault {
        id: shared.next_id(),
        kind: request.kind,
        abrupt: request.abrupt,
        start,
        end: fault::deadline(start, request.duration),
    };
    tracing::info!(device_id = device, fault = request.kind.name(), delay = ?request.delay, duration = ?request.duration, abrupt = request.abrupt, ?transport, "fault injection requested");
    let id = fault.id;
    shared.lock().faults.set_device_fault(device, fault);
    tokio::spawn(start_fault(shared.clone(), device.to_owned(), id, start));
    transport == Transport::Mqtt
        && matches!(
            request.kind.action(transport, request.abrupt),
            Some(FaultAction::Close { .. })
        )
}

/// At `start`, hands the device's current connection the action the fault takes on its
/// transport, unless the fault was replaced or cleared meanwhile.
async fn start_fault(shared: Arc<Shared>, device_id: String, id: u64, start: Instant) {
    let mut shutdown = shared.shutdown.clone();
    tokio::select! {
        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(start)) => {}
        _ = shutdown.changed() => return,
    }
    let target = {
        let state = shared.lock();
        state.faults.device_fault(&device_id, id).and_then(|f| {
            let conn = state.devices.get(&device_id)?.conn.as_ref()?;
            let action = f.kind.action(conn.transport, f.abrupt)?;
            Some((conn.tx.clone(), action, f.kind))
        })
    };
    match target {
        Some((tx, action, kind)) => {
            tracing::info!(
                device_id,
                fault = kind.name(),
                ?action,
                "fault injection started"
            );
            let _ = tx.send(Outbound::Fault { kind, action }).await;
        }
        None => tracing::debug!(
            device_id,
            "fault injection started with nothing to break on the device's connection"
        ),
    }
}
