//! IoT Edge over MQTT, what only MQTT has: the workload API's signing and renewal seen from the
//! module, generation ids, leaf devices through the edge with `GatewayHostName`, the developer
//! connection string, route validation and the aggregator module of the `edge_aggregator`
//! example. Module twins, methods and routes on every edge transport are in the `transports`
//! matrix (`edge::…`).

use std::time::Duration;

use iotc_emulator::{EdgeConfig, Emulator, EmulatorConfig, EmulatorError, TelemetryMessage};
use iotc_examples::edge::{run_aggregator, Aggregate, AggregatorConfig};
use iotc_sdk::device::ConnectionState;
use iotc_sdk::edge::{vars, EdgeEnvironment};
use iotc_sdk::{Device, Message};
use serde_json::json;

use iotc_tests::edge::{edge_emulator, leaf, EDGE};
use iotc_tests::{eventually, within};

/// Adds `module` and connects it from the environment the emulator gives it (no TLS settings:
/// the CA comes from the workload API's trust bundle).
async fn module(emulator: &Emulator, module: &str) -> Device {
    emulator.add_module(EDGE, module).unwrap();
    let env = EdgeEnvironment::from_vars(emulator.edge_environment(module)).unwrap();
    within(
        "module connects",
        Device::builder()
            .edge_environment(env)
            .operation_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("module connects")
}

/// Collects what reaches the service side until `quiet` passes without a message.
async fn drain(
    receiver: &mut iotc_emulator::TelemetryReceiver,
    quiet: Duration,
) -> Vec<TelemetryMessage> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, receiver.recv()).await {
        out.push(m);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_from_environment_signs_through_the_workload_api_and_renews() {
    let (emulator, _dir) = edge_emulator(&[]).await;
    emulator.add_module(EDGE, "filter").unwrap();
    let env = EdgeEnvironment::from_vars(emulator.edge_environment("filter")).unwrap();
    assert!(env.uses_workload_api());
    let module = within(
        "module connects",
        Device::builder()
            .edge_environment(env)
            // Renewal at 80 % of 4 s: a new token from the workload API after about 3 s.
            .sas_token_ttl(Duration::from_secs(4))
            .operation_timeout(Duration::from_secs(10))
            .connect(),
    )
    .await
    .expect("module connects");
    assert_eq!(module.module_id(), Some("filter"));
    assert_eq!(module.device_id(), EDGE);

    let mut telemetry = emulator.telemetry();
    module.send_telemetry(&json!({"n": 1})).await.unwrap();
    let msg = within("telemetry", telemetry.recv()).await.unwrap();
    assert_eq!(msg.device_id, EDGE);
    assert_eq!(msg.module_id.as_deref(), Some("filter"));
    assert_eq!(
        msg.system_properties
            .get("iothub-connection-module-id")
            .map(String::as_str),
        Some("filter")
    );
    assert!(msg.system_properties["iothub-connection-auth-method"].contains(r#""scope":"module""#));

    // The token is renewed through the workload API: reconnected with a fresh token.
    let mut changes = module.state_changes();
    within("renewal", async {
        while changes.next().await != Some(ConnectionState::Renewing) {}
        while changes.next().await != Some(ConnectionState::Connected) {}
    })
    .await;
    assert!(emulator.connection_attempts(&format!("{EDGE}/filter")) >= 2);
    module.send_telemetry(&json!({"n": 2})).await.unwrap();
    let msg = within("telemetry after renewal", telemetry.recv())
        .await
        .unwrap();
    assert_eq!(msg.body_json(), Some(json!({"n": 2})));
    module.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_identity_is_refused_with_a_wrong_generation_id() {
    let (emulator, _dir) = edge_emulator(&[]).await;
    emulator.add_module(EDGE, "filter").unwrap();
    let env: Vec<(String, String)> = emulator
        .edge_environment("filter")
        .into_iter()
        .map(|(k, v)| {
            let v = if k == vars::MODULE_GENERATION_ID {
                "0".to_owned()
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let result = within(
        "connect",
        Device::builder()
            .edge_environment(EdgeEnvironment::from_vars(env).unwrap())
            .connect(),
    )
    .await;
    assert!(
        matches!(result, Err(iotc_sdk::Error::Rejected { status: 404, .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_routes_everything_goes_upstream() {
    let (emulator, _dir) = edge_emulator(&[]).await;
    let module = module(&emulator, "filter").await;
    let leaf = leaf(&emulator, "leaf-1").await;
    let mut telemetry = emulator.telemetry();
    module
        .send_to_output("out", Message::json(&json!({"from": "module"})).unwrap())
        .await
        .unwrap();
    leaf.send_telemetry(&json!({"from": "leaf"})).await.unwrap();
    let mut upstream = drain(&mut telemetry, Duration::from_millis(500)).await;
    upstream.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    assert_eq!(upstream.len(), 2, "{upstream:?}");
    assert_eq!(upstream[0].device_id, EDGE);
    assert_eq!(upstream[0].module_id.as_deref(), Some("filter"));
    assert_eq!(upstream[1].device_id, "leaf-1");
    assert_eq!(upstream[1].module_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_device_connects_through_the_edge_with_gateway_host_name() {
    let (emulator, _dir) = edge_emulator(&[
        "FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream",
    ])
    .await;
    let leaf = leaf(&emulator, "leaf-1").await;
    assert_eq!(leaf.hub_host(), emulator.hub_hostname());
    let info = emulator.device("leaf-1").unwrap();
    assert!(info.connected);

    let mut telemetry = emulator.telemetry();
    leaf.send_telemetry(&json!({"temperature": 21.5}))
        .await
        .unwrap();
    let msg = within("leaf telemetry upstream", telemetry.recv())
        .await
        .unwrap();
    assert_eq!(msg.device_id, "leaf-1");
    assert_eq!(msg.module_id, None);
    assert_eq!(msg.body_json(), Some(json!({"temperature": 21.5})));

    // Twin and methods work as for any device.
    leaf.report_properties(&json!({"fw": "1.0"})).await.unwrap();
    assert_eq!(emulator.twin("leaf-1").unwrap().reported["fw"], "1.0");
    // Modules never leave the registry's device list.
    emulator.add_module(EDGE, "m").unwrap();
    assert!(emulator
        .devices()
        .iter()
        .all(|d| !d.device_id.contains('/')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_from_the_developer_connection_string() {
    let (emulator, dir) = edge_emulator(&[]).await;
    let key = emulator.add_module(EDGE, "dev").unwrap();
    let ca = dir.path().join("edge-ca.pem");
    std::fs::write(&ca, emulator.ca_cert_pem()).unwrap();
    let cs = format!(
        "HostName={};DeviceId={EDGE};ModuleId=dev;SharedAccessKey={key};GatewayHostName=localhost:{}",
        emulator.hub_hostname(),
        emulator.hub_addr().port()
    );
    let env = EdgeEnvironment::from_vars([
        (vars::EDGE_HUB_CONNECTION_STRING.to_owned(), cs),
        (
            vars::EDGE_MODULE_CA_CERTIFICATE_FILE.to_owned(),
            ca.display().to_string(),
        ),
    ])
    .unwrap();
    assert!(!env.uses_workload_api());
    let module = within("connect", Device::builder().edge_environment(env).connect())
        .await
        .unwrap();
    let mut telemetry = emulator.telemetry();
    module
        .send_to_output("o", Message::new("hello"))
        .await
        .unwrap();
    let msg = within("telemetry", telemetry.recv()).await.unwrap();
    assert_eq!(msg.module_id.as_deref(), Some("dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_routes_fail_the_start() {
    let config = EmulatorConfig {
        edge: Some(EdgeConfig {
            device_id: EDGE.into(),
            routes: vec!["FROM /messages/* WHERE temperature > 30 INTO $upstream".into()],
            workload_socket: None,
        }),
        ..EmulatorConfig::default()
    };
    match Emulator::start(config).await {
        Err(EmulatorError::Route(e)) => assert!(e.reason.contains("condition"), "{e}"),
        other => panic!("expected a route error, got {other:?}"),
    }
}

/// The `edge_aggregator` example's module: 20 leaf readings become 2 aggregates upstream with
/// the right averages, and no raw reading goes upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_sends_fewer_correct_messages_upstream() {
    let (emulator, _dir) = edge_emulator(&[
        r#"FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO BrokeredEndpoint("/modules/aggregator/inputs/telemetry")"#,
        "FROM /messages/modules/aggregator/outputs/aggregate INTO $upstream",
    ])
    .await;
    let aggregator = module(&emulator, "aggregator").await;
    let task = tokio::spawn(run_aggregator(
        aggregator.clone(),
        AggregatorConfig {
            window: 10,
            ..AggregatorConfig::default()
        },
    ));
    let leaves = [
        leaf(&emulator, "leaf-1").await,
        leaf(&emulator, "leaf-2").await,
    ];
    let mut telemetry = emulator.telemetry();
    // Readings 1..=20, alternating between the two leaf devices, in order.
    for i in 1..=20 {
        leaves[i % 2]
            .send_telemetry(&json!({"temperature": f64::from(i as u32)}))
            .await
            .unwrap();
    }
    let mut upstream = Vec::new();
    while upstream.len() < 2 {
        upstream.push(
            within("aggregate upstream", telemetry.recv())
                .await
                .unwrap(),
        );
    }
    upstream.extend(drain(&mut telemetry, Duration::from_millis(500)).await);
    assert_eq!(upstream.len(), 2, "20 readings, 2 aggregates: {upstream:?}");
    let aggregates: Vec<Aggregate> = upstream
        .iter()
        .map(|m| {
            assert_eq!(m.device_id, EDGE);
            assert_eq!(m.module_id.as_deref(), Some("aggregator"));
            assert_eq!(
                m.system_properties.get("on").map(String::as_str),
                Some("aggregate")
            );
            serde_json::from_slice(&m.body).unwrap()
        })
        .collect();
    assert_eq!(aggregates[0].average, 5.5);
    assert_eq!((aggregates[0].min, aggregates[0].max), (1.0, 10.0));
    assert_eq!(aggregates[1].average, 15.5);
    assert_eq!((aggregates[1].min, aggregates[1].max), (11.0, 20.0));
    assert!(aggregates.iter().all(|a| a.count == 10 && a.devices == 2));
    // The raw readings were recorded by no one upstream.
    assert!(emulator.recent_telemetry("leaf-1").is_empty());
    eventually("aggregator still running", || {
        (!task.is_finished()).then_some(())
    })
    .await;
    task.abort();
}
