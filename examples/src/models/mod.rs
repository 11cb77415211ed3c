//! Microsoft's public IoT Plug and Play sample models as typed Rust device APIs.
//!
//! Each interface is a unit struct deriving [`iotc_sdk::Interface`], with a telemetry struct,
//! a properties struct (writable properties are `Option`s, so a patch can carry only what
//! changed) and a commands enum. The derived models are checked against the official JSON
//! (Azure/iot-plugandplay-models) by the `models` test binary in `tests/`.
//!
//! | Rust | DTMI |
//! | --- | --- |
//! | [`Thermostat`] | `dtmi:com:example:Thermostat;1` |
//! | [`DeviceInformation`] | `dtmi:azure:DeviceManagement:DeviceInformation;1` |
//! | [`SensorGateway`], [`HumiditySensor`], [`DoorSensor`] | `dtmi:com:example:SensorGateway;1`, `…:HumiditySensor;1`, `…:DoorSensor;1` (small models of this project, for the `gateway` example) |
//! | [`TemperatureController`] | `dtmi:com:example:TemperatureController;1` (components `thermostat1`, `thermostat2`: Thermostat;1, `deviceInformation`) |
//!
//! ```
//! use iotc_examples::models::{TemperatureController, Thermostat};
//! use iotc_sdk::Interface;
//!
//! assert_eq!(Thermostat::ID, "dtmi:com:example:Thermostat;1");
//! // The document IoT Central imports: the root interface, then its components' interfaces.
//! let json = iotc_sdk::model::export(&TemperatureController::interfaces());
//! assert!(json.contains("dtmi:azure:DeviceManagement:DeviceInformation;1"));
//! ```

pub mod device_information;
pub mod sensors;
pub mod temperature_controller;
pub mod thermostat;

pub use device_information::{DeviceInformation, DeviceInformationProperties};
pub use sensors::{
    DoorCommand, DoorSensor, DoorTelemetry, HumidityProperties, HumiditySensor, HumidityTelemetry,
    SensorGateway, SensorGatewayTelemetry,
};
pub use temperature_controller::{
    TemperatureController, TemperatureControllerCommand, TemperatureControllerProperties,
    TemperatureControllerTelemetry,
};
pub use thermostat::{
    MaxMinReport, Thermostat, ThermostatCommand, ThermostatProperties, ThermostatTelemetry,
};
