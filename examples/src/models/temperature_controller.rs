//! `dtmi:com:example:TemperatureController;1`: a device with two thermostats (components
//! `thermostat1` and `thermostat2`, both `dtmi:com:example:Thermostat;1`), a
//! `deviceInformation` component, working-set telemetry, a serial number and a reboot command.

use iotc_sdk::{Commands, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};

use super::device_information::DeviceInformation;
use super::thermostat::Thermostat;

/// The root component's telemetry of [`TemperatureController`].
#[derive(Clone, Debug, PartialEq, Serialize, Telemetry)]
#[serde(rename_all = "camelCase")]
pub struct TemperatureControllerTelemetry {
    /// Current working set of the device memory in KiB.
    #[iotc(
        semantic_type = "DataSize",
        unit = "kibibyte",
        display_name = "Working Set"
    )]
    pub working_set: f64,
}

/// The root component's properties of [`TemperatureController`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct TemperatureControllerProperties {
    /// Serial number of the device.
    #[iotc(display_name = "Serial Number")]
    pub serial_number: String,
}

/// The root component's commands of [`TemperatureController`].
#[derive(Clone, Debug, PartialEq, Eq, Commands)]
pub enum TemperatureControllerCommand {
    /// Reboots the device after waiting the number of seconds specified.
    #[iotc(display_name = "Reboot")]
    #[iotc(request(
        name = "delay",
        display_name = "Delay",
        description = "Number of seconds to wait before rebooting the device."
    ))]
    Reboot(i32),
}

/// `dtmi:com:example:TemperatureController;1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:com:example:TemperatureController;1",
    display_name = "Temperature Controller",
    description = "Device with two thermostats and remote reboot."
)]
#[iotc(
    telemetry = TemperatureControllerTelemetry,
    properties = TemperatureControllerProperties,
    commands = TemperatureControllerCommand
)]
#[iotc(component(
    name = "thermostat1",
    schema = Thermostat,
    display_name = "Thermostat One",
    description = "Thermostat One of Two."
))]
#[iotc(component(
    name = "thermostat2",
    schema = Thermostat,
    display_name = "Thermostat Two",
    description = "Thermostat Two of Two."
))]
#[iotc(component(
    name = "deviceInformation",
    schema = DeviceInformation,
    display_name = "Device Information interface",
    description = "Optional interface with basic device hardware information."
))]
pub struct TemperatureController;
