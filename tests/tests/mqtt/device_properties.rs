use iotc_sdk::Event;
use serde_json::json;

use iotc_tests::*;

use crate::MQTT;

#[tokio::test]
async fn reported_properties_bump_the_version_and_reach_the_twin() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "props-01").await;

    let v1 = within(
        "report",
        device.report_properties(&json!({"maxTempSinceLastReboot": 30.5})),
    )
    .await
    .unwrap();
    let v2 = within(
        "report",
        device
            .report_component_properties("deviceInformation", &json!({"manufacturer": "Contoso"})),
    )
    .await
    .unwrap();
    assert!(v2 > v1, "reported $version must increase: {v1} then {v2}");

    let twin = emulator.twin("props-01").unwrap();
    assert_eq!(twin.reported["maxTempSinceLastReboot"], json!(30.5));
    assert_eq!(
        twin.reported["deviceInformation"],
        json!({"__t": "c", "manufacturer": "Contoso"})
    );
    assert_eq!(twin.reported["$version"], json!(v2));
    assert_eq!(twin.model_id.as_deref(), Some(THERMOSTAT));

    // The device reads the same twin.
    let seen = within("get twin", device.get_twin()).await.unwrap();
    assert_eq!(seen.reported_version(), v2);
    assert_eq!(seen.reported["maxTempSinceLastReboot"], json!(30.5));

    // null deletes.
    within(
        "report",
        device.report_properties(&json!({"maxTempSinceLastReboot": null})),
    )
    .await
    .unwrap();
    assert!(emulator
        .twin("props-01")
        .unwrap()
        .reported
        .get("maxTempSinceLastReboot")
        .is_none());

    // Not an object: refused before sending.
    assert!(matches!(
        device.report_properties(&json!(5)).await,
        Err(iotc_sdk::Error::Serialization(_))
    ));
}

#[tokio::test]
async fn desired_patch_while_connected_arrives_with_its_version_and_is_acknowledged() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "props-02").await;

    let version = within(
        "patch",
        emulator.update_desired("props-02", json!({"targetTemperature": 25.0})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert!(!update.is_initial());
    assert_eq!(update.version(), version);
    let property = update
        .get("targetTemperature")
        .expect("targetTemperature in the update");
    assert_eq!(property.value_as::<f64>().unwrap(), 25.0);
    assert_eq!(property.version(), version);

    within("ack", device.acknowledge(property, 200, Some("applied")))
        .await
        .unwrap();
    let twin = emulator.twin("props-02").unwrap();
    assert_eq!(
        twin.reported["targetTemperature"],
        json!({"value": 25.0, "ac": 200, "av": version, "ad": "applied"})
    );

    // A component property: wrapped with the marker, acknowledged inside the component.
    let version = within(
        "patch",
        emulator.update_desired(
            "props-02",
            json!({"thermostat1": {"__t": "c", "targetTemperature": 18}}),
        ),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    let property = &update.properties()[0];
    assert_eq!(
        (property.component(), property.name()),
        (Some("thermostat1"), "targetTemperature")
    );
    within(
        "ack",
        device.acknowledge_with_value(property, &18.5, 200, None),
    )
    .await
    .unwrap();
    let twin = emulator.twin("props-02").unwrap();
    assert_eq!(
        twin.reported["thermostat1"],
        json!({"__t": "c", "targetTemperature": {"value": 18.5, "ac": 200, "av": version}})
    );
}

#[tokio::test]
async fn desired_properties_set_while_offline_arrive_at_connect() {
    let emulator = emulator().await;
    let device = connect(&emulator, MQTT, "props-03").await;
    within("close", device.close()).await.unwrap();
    wait_disconnected(&emulator, "props-03").await;
    drop(device);

    let version = within(
        "patch",
        emulator.update_desired("props-03", json!({"targetTemperature": 19.0})),
    )
    .await
    .unwrap();
    let device = connect(&emulator, MQTT, "props-03").await;
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert!(update.is_initial());
    assert_eq!(update.version(), version);
    let property = update.get("targetTemperature").unwrap();
    within("ack", device.acknowledge(property, 200, None))
        .await
        .unwrap();
    within("close", device.close()).await.unwrap();

    // Acknowledged: the next connect has nothing pending, so the first event is the next patch.
    let device = connect(&emulator, MQTT, "props-03").await;
    let next = within(
        "patch",
        emulator.update_desired("props-03", json!({"other": 1})),
    )
    .await
    .unwrap();
    let Event::WritableProperties(update) = next_event(&device).await else {
        panic!("expected writable properties")
    };
    assert!(!update.is_initial());
    assert_eq!(update.version(), next);
}
