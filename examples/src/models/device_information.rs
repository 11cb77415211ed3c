//! `dtmi:azure:DeviceManagement:DeviceInformation;1`: the standard read-only component with the
//! device's hardware and software information that most device models include.

use iotc_sdk::{Interface, Properties};
use serde::{Deserialize, Serialize};

/// The properties of [`DeviceInformation`], all read-only (reported by the device).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInformationProperties {
    /// Company name of the device manufacturer. This could be the same as the name of the original equipment manufacturer (OEM). Ex. Contoso.
    #[iotc(display_name = "Manufacturer")]
    pub manufacturer: String,
    /// Device model name or ID. Ex. Surface Book 2.
    #[iotc(display_name = "Device model")]
    pub model: String,
    /// Version of the software on your device. This could be the version of your firmware. Ex. 1.3.45
    #[iotc(display_name = "Software version")]
    pub sw_version: String,
    /// Name of the operating system on the device. Ex. Windows 10 IoT Core.
    #[iotc(display_name = "Operating system name")]
    pub os_name: String,
    /// Architecture of the processor on the device. Ex. x64 or ARM.
    #[iotc(display_name = "Processor architecture")]
    pub processor_architecture: String,
    /// Name of the manufacturer of the processor on the device. Ex. Intel.
    #[iotc(display_name = "Processor manufacturer")]
    pub processor_manufacturer: String,
    /// Total available storage on the device in kilobytes. Ex. 2048000 kilobytes.
    #[iotc(display_name = "Total storage")]
    pub total_storage: f64,
    /// Total available memory on the device in kilobytes. Ex. 256000 kilobytes.
    #[iotc(display_name = "Total memory")]
    pub total_memory: f64,
}

/// Basic hardware and software information about the device, reported once at start-up.
///
/// DTMI `dtmi:azure:DeviceManagement:DeviceInformation;1`. (The first paragraph of this doc
/// comment is the interface's DTDL description.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:azure:DeviceManagement:DeviceInformation;1",
    display_name = "Device Information"
)]
#[iotc(properties = DeviceInformationProperties)]
pub struct DeviceInformation;
