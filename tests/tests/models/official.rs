//! The official models (copies in `official/`, see its README), compiled into the test binary
//! so no test reads files outside the repository.

use serde_json::Value;

pub(crate) const THERMOSTAT_1: &str = include_str!("official/dtmi/com/example/thermostat-1.json");
pub(crate) const TEMPERATURE_CONTROLLER_1: &str =
    include_str!("official/dtmi/com/example/temperaturecontroller-1.json");
pub(crate) const DEVICE_INFORMATION_1: &str =
    include_str!("official/dtmi/azure/devicemanagement/deviceinformation-1.json");
pub(crate) const DEVICE_UPDATE_1: &str =
    include_str!("official/dtmi/azure/iot/deviceupdate-1.json");
pub(crate) const MODBUS_1: &str = include_str!("official/dtmi/meshsystems/txs/modbus-1.json");
pub(crate) const REDEYE_1_PLUS_2: &str = include_str!("official/dtmi/redeye/redeye_1_plus-2.json");

/// One official file as JSON.
pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Several official files as one document (a JSON array of their interfaces).
pub(crate) fn document(texts: &[&str]) -> Value {
    Value::Array(texts.iter().map(|t| json(t)).collect())
}

/// A generated model as JSON, through the SDK's export (the document IoT Central imports).
pub(crate) fn generated(interfaces: &[iotc_sdk::model::InterfaceInfo]) -> Value {
    serde_json::from_str(&iotc_sdk::model::export(interfaces)).unwrap()
}

#[test]
fn official_copies_are_self_consistent() {
    // Every official file canonicalizes and equals itself (the comparator can read them all).
    for text in [
        THERMOSTAT_1,
        TEMPERATURE_CONTROLLER_1,
        DEVICE_INFORMATION_1,
        DEVICE_UPDATE_1,
        MODBUS_1,
        REDEYE_1_PLUS_2,
    ] {
        let doc = json(text);
        assert_eq!(crate::semantic::semantic_diff(&doc, &doc).unwrap(), vec![]);
    }
}
