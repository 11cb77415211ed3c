//! A connection that loses nothing: reconnection, the offline queue, token renewal, and the
//! chaos run, on every transport that keeps a connection (HTTPS has none to lose).

use std::collections::HashMap;
use std::time::Duration;

use iotc_sdk::device::{ConnectionState, StateChanges};
use iotc_sdk::retry::ExponentialBackoff;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{DeviceBuilder, Event, Message};
use serde_json::json;

use iotc_tests::*;

/// Fast retries, so tests do not wait seconds for a reconnection.
fn fast_retries() -> ExponentialBackoff {
    ExponentialBackoff {
        base: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_attempts: None,
        jitter: 0.2,
    }
}

/// A policy whose first reconnection comes after 30 s: requests stay queued meanwhile.
fn no_reconnect_for_30s() -> ExponentialBackoff {
    ExponentialBackoff {
        base: Duration::from_secs(30),
        max_delay: Duration::from_secs(30),
        max_attempts: None,
        jitter: 0.0,
    }
}

fn resilient(
    emulator: &iotc_emulator::Emulator,
    protocol: Protocol,
    device_id: &str,
) -> DeviceBuilder {
    builder(emulator, protocol, device_id).retry_policy(fast_retries())
}

/// A device of `protocol` connected with `builder`'s settings, whose connection the hub then
/// dropped: it has begun reconnecting (its first attempt waits for the retry policy's first
/// delay) when this returns.
async fn away(
    emulator: &iotc_emulator::Emulator,
    builder: DeviceBuilder,
    dev: &str,
) -> (iotc_sdk::Device, StateChanges) {
    let device = within("connect", builder.connect()).await.unwrap();
    let mut changes = device.state_changes();
    emulator.disconnect_device(dev);
    wait_for_state(&mut changes, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    (device, changes)
}

pub async fn a_dropped_connection_comes_back_and_everything_works_again(protocol: Protocol) {
    let emulator = emulator().await;
    let dev = id(protocol, "rel-01");
    let device = within("connect", resilient(&emulator, protocol, &dev).connect())
        .await
        .unwrap();
    let mut changes = device.state_changes();
    assert!(device.connection_state().is_connected());

    assert!(emulator.disconnect_device(&dev));
    let seen = wait_for_state(&mut changes, ConnectionState::is_connected).await;
    assert!(
        matches!(seen[0], ConnectionState::Disconnected { .. }),
        "{seen:?}"
    );
    assert!(
        matches!(seen[1], ConnectionState::Reconnecting { attempt: 1, .. }),
        "{seen:?}"
    );

    // Every primitive works on the new connection.
    all_operations_work(&emulator, &device).await;

    within("close", device.close()).await.unwrap();
    let seen = wait_for_state(&mut changes, ConnectionState::is_closed).await;
    assert_eq!(seen.last(), Some(&ConnectionState::Closed { reason: None }));
}

pub async fn desired_properties_set_while_disconnected_arrive_after_the_reconnection(
    protocol: Protocol,
) {
    let emulator = emulator().await;
    let dev = id(protocol, "rel-02");
    let slow = ExponentialBackoff {
        base: Duration::from_millis(600),
        jitter: 0.0,
        ..fast_retries()
    };
    let (device, mut changes) = away(
        &emulator,
        builder(&emulator, protocol, &dev).retry_policy(slow),
        &dev,
    )
    .await;
    // The device is away: this patch is never pushed to it.
    let version = within(
        "patch",
        emulator.update_desired(&dev, json!({"targetTemperature": 23.0})),
    )
    .await
    .unwrap();
    wait_for_state(&mut changes, ConnectionState::is_connected).await;
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert!(update.is_initial());
    assert_eq!(update.version(), version);
    assert_eq!(
        update.get("targetTemperature").unwrap().value(),
        &json!(23.0)
    );
}

pub async fn telemetry_sent_while_disconnected_is_delivered_in_order_after_the_reconnection(
    protocol: Protocol,
) {
    let emulator = emulator().await;
    let dev = id(protocol, "rel-03");
    let slow = ExponentialBackoff {
        base: Duration::from_millis(800),
        jitter: 0.0,
        ..fast_retries()
    };
    let mut received = emulator.telemetry();
    let (device, _changes) = away(
        &emulator,
        builder(&emulator, protocol, &dev).retry_policy(slow),
        &dev,
    )
    .await;

    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let device = device.clone();
        sends.spawn(async move {
            // Staggered, so the order of queueing is the order of i (on two worker threads).
            tokio::time::sleep(Duration::from_millis(20 * i)).await;
            device
                .send_message(Message::json(&json!({"i": i})).unwrap())
                .await
        });
    }
    while let Some(result) = within("sends", sends.join_next()).await {
        result.unwrap().unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..20 {
        let message = within("receive", received.recv()).await.unwrap();
        order.push(message.body_json().unwrap()["i"].as_u64().unwrap());
    }
    assert_eq!(
        order,
        (0..20).collect::<Vec<_>>(),
        "queued telemetry keeps its order"
    );
}

pub async fn sas_tokens_are_renewed_before_they_expire(protocol: Protocol) {
    let emulator = emulator().await;
    let dev = id(protocol, "rel-04");
    let device = within(
        "connect",
        resilient(&emulator, protocol, &dev)
            .sas_token_ttl(Duration::from_secs(3))
            .connect(),
    )
    .await
    .unwrap();
    let mut changes = device.state_changes();
    let mut received = emulator.telemetry();
    // About three token lifetimes, a message every 100 ms: not one may fail.
    let mut sent = 0;
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(9) {
        within(
            "send",
            device.send_message(Message::json(&json!({"n": sent})).unwrap()),
        )
        .await
        .unwrap();
        within("report", device.report_properties(&json!({"n": sent})))
            .await
            .unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut states = Vec::new();
    while let Ok(Some(state)) =
        tokio::time::timeout(Duration::from_millis(10), changes.next()).await
    {
        assert!(
            !matches!(state, ConnectionState::Disconnected { .. }),
            "token expiry must not cut the connection: {state:?}"
        );
        states.push(state);
    }
    let renewals = states
        .iter()
        .filter(|s| **s == ConnectionState::Renewing)
        .count();
    if multiplexes(protocol) {
        // AMQP renews over CBS on the live connection (the emulator cuts an expired token's
        // links): one connection for the whole run, the state never leaves Connected.
        assert_eq!(states, [], "the state never left Connected");
        assert_eq!(emulator.connection_attempts(&dev), 1, "renewed in place");
    } else {
        // MQTT renews by reconnecting with a fresh token.
        assert!(
            renewals >= 2,
            "expected at least two renewals in 9 s with 3 s tokens, saw {renewals}"
        );
    }
    let mut count = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), received.recv()).await
    {
        count += 1;
    }
    assert_eq!(count, sent, "every message arrived exactly once");
}

pub async fn chaos_every_message_arrives_through_random_disconnects(protocol: Protocol) {
    const MESSAGES: u64 = 20_000;
    const CONCURRENCY: u64 = 100;
    let emulator = emulator().await;
    let dev = id(protocol, "chaos-01");
    let device = within(
        "connect",
        resilient(&emulator, protocol, &dev)
            .operation_timeout(Duration::from_secs(60))
            .connect(),
    )
    .await
    .unwrap();
    let mut received = emulator.telemetry();

    // The service side: count every message id, drop the connection every 100–400 ms.
    let collector = tokio::spawn(async move {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        while (seen.len() as u64) < MESSAGES {
            match tokio::time::timeout(Duration::from_secs(60), received.recv()).await {
                Ok(Some(message)) => {
                    let n = message.body_json().unwrap()["n"].as_u64().unwrap();
                    *seen.entry(n).or_default() += 1;
                }
                _ => break,
            }
        }
        seen
    });
    let chaos = {
        let (emulator, dev) = (emulator.clone(), dev.clone());
        tokio::spawn(async move {
            let mut drops = 0u32;
            loop {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(100..400))).await;
                if emulator.disconnect_device(&dev) {
                    drops += 1;
                }
                if drops >= 1000 {
                    return drops;
                }
            }
        })
    };
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let device = device.clone();
        senders.spawn(async move {
            let mut n = worker;
            while n < MESSAGES {
                device
                    .send_message(Message::json(&json!({"n": n})).unwrap())
                    .await
                    .unwrap();
                n += CONCURRENCY;
            }
        });
    }
    while let Some(result) = tokio::time::timeout(Duration::from_secs(240), senders.join_next())
        .await
        .expect("chaos run finished")
    {
        result.unwrap();
    }
    chaos.abort();
    let seen = within("collector", collector).await.unwrap();
    let missing: Vec<_> = (0..MESSAGES)
        .filter(|n| !seen.contains_key(n))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "lost messages, e.g. {missing:?}");
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    println!("chaos: {MESSAGES} messages, {duplicates} duplicates recognized by message id");
    // The twin ends consistent after all that.
    within("report", device.report_properties(&json!({"done": true})))
        .await
        .unwrap();
    assert_eq!(emulator.twin(&dev).unwrap().reported["done"], json!(true));
}

pub async fn a_full_offline_queue_refuses_or_drops_by_policy_and_close_reports_what_is_unsent(
    protocol: Protocol,
) {
    use iotc_sdk::device::{OfflineQueue, Overflow};
    let emulator = emulator().await;
    let dev = id(protocol, "rel-05");
    let slow = no_reconnect_for_30s();
    let queue = OfflineQueue {
        capacity: 5,
        overflow: Overflow::Error,
        durable: None,
    };
    let (device, _changes) = away(
        &emulator,
        builder(&emulator, protocol, &dev)
            .retry_policy(slow)
            .offline_queue(queue),
        &dev,
    )
    .await;

    let mut sends = tokio::task::JoinSet::new();
    for i in 0..8 {
        let device = device.clone();
        sends.spawn(async move {
            device
                .send_message(Message::json(&json!({"i": i})).unwrap())
                .await
        });
    }
    // Three do not fit: refused at once.
    let mut refused = 0;
    for _ in 0..3 {
        match within("refusals", sends.join_next())
            .await
            .unwrap()
            .unwrap()
        {
            Err(iotc_sdk::Error::QueueFull) => refused += 1,
            other => panic!("expected QueueFull, got {other:?}"),
        }
    }
    assert_eq!(refused, 3);
    // Closing while five wait: they are reported, and their senders see the close.
    let result = within("close", device.close()).await;
    assert!(
        matches!(result, Err(iotc_sdk::Error::Unsent { messages: 5 })),
        "{result:?}"
    );
    while let Some(result) = within("queued sends", sends.join_next()).await {
        assert!(matches!(result.unwrap(), Err(iotc_sdk::Error::Closed)));
    }
    assert!(device.connection_state().is_closed());
}

pub async fn a_refused_first_connect_is_one_attempt_not_a_storm(protocol: Protocol) {
    let emulator = emulator().await;
    let dev = id(protocol, "rel-06");
    let wrong =
        iotc_sdk::Credentials::device_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let started = tokio::time::Instant::now();
    let result = within(
        "connect",
        resilient(&emulator, protocol, &dev)
            .credentials(wrong)
            .connect(),
    )
    .await;
    assert!(
        matches!(result, Err(iotc_sdk::Error::Unauthorized(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no retries on a refused key"
    );
    assert_eq!(emulator.dps_attempts(&dev), 1, "exactly one attempt");
}

pub async fn a_durable_queue_survives_a_restart(protocol: Protocol) {
    use iotc_sdk::device::OfflineQueue;
    let emulator = emulator().await;
    let dev = id(protocol, "rel-07");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{dev}.queue"));
    let queue = OfflineQueue {
        durable: Some(file.clone()),
        ..OfflineQueue::default()
    };
    // No reconnection during the first run: the messages must stay queued until the close.
    let slow = no_reconnect_for_30s();

    // First run: the connection drops, five messages queue up, the process "stops" (close).
    let (device, _changes) = away(
        &emulator,
        builder(&emulator, protocol, &dev)
            .retry_policy(slow)
            .offline_queue(queue.clone()),
        &dev,
    )
    .await;
    let mut sends = tokio::task::JoinSet::new();
    let queued = |n: usize| {
        std::fs::read_to_string(&file)
            .map(|t| t.lines().count() == n)
            .unwrap_or(false)
    };
    for i in 0..5 {
        let device = device.clone();
        sends.spawn(async move {
            device
                .send_message(
                    Message::json(&json!({"i": i}))
                        .unwrap()
                        .with_message_id(format!("m{i}")),
                )
                .await
        });
        // One at a time, so the queue's order is the order of i (the durable file mirrors
        // the queue); then stop with all five queued.
        eventually("queued", || queued(i + 1).then_some(())).await;
    }
    let result = within("close", device.close()).await;
    assert!(
        matches!(result, Err(iotc_sdk::Error::Unsent { messages: 5 })),
        "{result:?}"
    );
    while within("sends", sends.join_next()).await.is_some() {}
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        5,
        "the queue is on disk"
    );

    // Second run with the same file: the messages go out, with their ids, and the file goes.
    let mut received = emulator.telemetry();
    let device = within(
        "connect",
        builder(&emulator, protocol, &dev)
            .offline_queue(queue)
            .connect(),
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            within("receive", received.recv())
                .await
                .unwrap()
                .message_id()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids, ["m0", "m1", "m2", "m3", "m4"]);
    eventually("the queue file is removed", || {
        (!file.exists()).then_some(())
    })
    .await;
    within("close", device.close()).await.unwrap();
}

matrix! {
    [
        a_dropped_connection_comes_back_and_everything_works_again,
        desired_properties_set_while_disconnected_arrive_after_the_reconnection,
        telemetry_sent_while_disconnected_is_delivered_in_order_after_the_reconnection,
        sas_tokens_are_renewed_before_they_expire,
        chaos_every_message_arrives_through_random_disconnects,
        a_full_offline_queue_refuses_or_drops_by_policy_and_close_reports_what_is_unsent,
        a_refused_first_connect_is_one_attempt_not_a_storm,
        a_durable_queue_survives_a_restart,
    ] on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
    ]
}
