//! The example models (`iotc_examples::models`) against Microsoft's official JSON.

use iotc_examples::models::{DeviceInformation, TemperatureController, Thermostat};
use iotc_sdk::model::{self, ContentInfo as Content};
use iotc_sdk::Interface;

use crate::official::{self, generated};
use crate::semantic::assert_semantically_equal;

#[test]
fn thermostat_matches_the_official_model() {
    assert_semantically_equal(
        "Thermostat;1",
        &generated(&[Thermostat::interface()]),
        &official::json(official::THERMOSTAT_1),
        &[],
    );
}

#[test]
fn device_information_matches_the_official_model() {
    assert_semantically_equal(
        "DeviceInformation;1",
        &generated(&[DeviceInformation::interface()]),
        &official::json(official::DEVICE_INFORMATION_1),
        &[],
    );
}

#[test]
fn temperature_controller_matches_the_official_models() {
    // The exported document holds the root interface and its components' interfaces, so this
    // compares all three.
    assert_semantically_equal(
        "TemperatureController;1",
        &generated(&TemperatureController::interfaces()),
        &official::document(&[
            official::TEMPERATURE_CONTROLLER_1,
            official::THERMOSTAT_1,
            official::DEVICE_INFORMATION_1,
        ]),
        &[],
    );
}

#[test]
fn temperature_controller_exports_each_interface_once_root_first() {
    let ids: Vec<String> = TemperatureController::interfaces()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        ids,
        [
            "dtmi:com:example:TemperatureController;1",
            "dtmi:com:example:Thermostat;1",
            "dtmi:azure:DeviceManagement:DeviceInformation;1",
        ]
    );
    // Both thermostat components are Thermostat;1 (TemperatureController;2 mixes ;1 and ;2).
    let components: Vec<(String, String)> = TemperatureController::interface()
        .contents
        .into_iter()
        .filter_map(|c| match c {
            Content::Component(c) => Some((c.name, c.schema)),
            _ => None,
        })
        .collect();
    assert_eq!(
        components,
        [
            ("thermostat1".into(), "dtmi:com:example:Thermostat;1".into()),
            ("thermostat2".into(), "dtmi:com:example:Thermostat;1".into()),
            (
                "deviceInformation".into(),
                "dtmi:azure:DeviceManagement:DeviceInformation;1".into()
            ),
        ]
    );
}

#[test]
fn example_models_pass_the_sdk_validation() {
    for interface in TemperatureController::interfaces() {
        assert_eq!(interface.validate(), Ok(()), "{}", interface.id);
    }
    assert_eq!(Thermostat::ID, Thermostat::interface().id);
    assert_eq!(
        TemperatureController::ID,
        "dtmi:com:example:TemperatureController;1"
    );
    // A component's interface has no components of its own (DTDL forbids nesting).
    const {
        assert!(!<Thermostat as Interface>::HAS_COMPONENTS);
        assert!(<TemperatureController as Interface>::HAS_COMPONENTS);
    }
    let _: fn(&[model::InterfaceInfo]) -> String = model::export;
}
