//! Small sensor models for the `gateway` example: a gateway that reports how many downstream
//! devices it serves, a humidity sensor and a door sensor. (Not official sample models.)

use iotc_sdk::{Commands, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};

/// The telemetry of [`SensorGateway`].
#[derive(Clone, Debug, PartialEq, Serialize, Telemetry)]
#[serde(rename_all = "camelCase")]
pub struct SensorGatewayTelemetry {
    /// How many downstream devices are connected through the gateway.
    #[iotc(display_name = "Connected devices")]
    pub connected_devices: i32,
}

/// `dtmi:com:example:SensorGateway;1`: a gateway for downstream sensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:com:example:SensorGateway;1",
    display_name = "Sensor gateway",
    description = "Connects downstream sensors to IoT Central."
)]
#[iotc(telemetry = SensorGatewayTelemetry)]
pub struct SensorGateway;

/// The telemetry of [`HumiditySensor`].
#[derive(Clone, Debug, PartialEq, Serialize, Telemetry)]
pub struct HumidityTelemetry {
    /// Relative humidity in percent.
    #[iotc(
        semantic_type = "RelativeHumidity",
        unit = "percent",
        display_name = "Humidity"
    )]
    pub humidity: f64,
}

/// The properties of [`HumiditySensor`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct HumidityProperties {
    /// Seconds between readings.
    #[iotc(writable, display_name = "Reporting interval")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<i32>,
}

/// `dtmi:com:example:HumiditySensor;1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:com:example:HumiditySensor;1",
    display_name = "Humidity sensor",
    description = "Reports relative humidity."
)]
#[iotc(telemetry = HumidityTelemetry, properties = HumidityProperties)]
pub struct HumiditySensor;

/// The telemetry of [`DoorSensor`].
#[derive(Clone, Debug, PartialEq, Serialize, Telemetry)]
pub struct DoorTelemetry {
    /// Whether the door is open.
    #[iotc(display_name = "Open")]
    pub open: bool,
}

/// The commands of [`DoorSensor`].
#[derive(Clone, Debug, PartialEq, Commands)]
pub enum DoorCommand {
    /// Locks the door.
    #[iotc(display_name = "Lock")]
    Lock,
}

/// `dtmi:com:example:DoorSensor;1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:com:example:DoorSensor;1",
    display_name = "Door sensor",
    description = "Reports whether a door is open; can lock it."
)]
#[iotc(telemetry = DoorTelemetry, commands = DoorCommand)]
pub struct DoorSensor;
