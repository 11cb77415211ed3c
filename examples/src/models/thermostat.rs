//! `dtmi:com:example:Thermostat;1`: reports the current temperature and takes a desired target
//! temperature; one command returns a max/min/average report.

use iotc_sdk::{Commands, DtdlSchema, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The telemetry of [`Thermostat`].
#[derive(Clone, Debug, PartialEq, Serialize, Telemetry)]
pub struct ThermostatTelemetry {
    /// Temperature in degrees Celsius.
    #[iotc(
        semantic_type = "Temperature",
        unit = "degreeCelsius",
        display_name = "Temperature"
    )]
    pub temperature: f64,
}

/// The properties of [`Thermostat`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ThermostatProperties {
    /// Allows to remotely specify the desired target temperature.
    #[iotc(
        writable,
        semantic_type = "Temperature",
        unit = "degreeCelsius",
        display_name = "Target Temperature"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_temperature: Option<f64>,
    /// Returns the max temperature since last device reboot.
    #[iotc(
        semantic_type = "Temperature",
        unit = "degreeCelsius",
        display_name = "Max temperature since last reboot."
    )]
    pub max_temp_since_last_reboot: f64,
}

/// The commands of [`Thermostat`].
#[derive(Clone, Debug, PartialEq, Commands)]
pub enum ThermostatCommand {
    /// This command returns the max, min and average temperature from the specified time to the current time.
    #[iotc(display_name = "Get Max-Min report.")]
    #[iotc(request(
        name = "since",
        display_name = "Since",
        description = "Period to return the max-min report.",
        with = "time::serde::rfc3339"
    ))]
    #[iotc(response(
        name = "tempReport",
        schema = MaxMinReport,
        display_name = "Temperature Report"
    ))]
    GetMaxMinReport(OffsetDateTime),
}

/// The max, min and average temperature over a period of time.
///
/// The response of [`ThermostatCommand::GetMaxMinReport`]. (The first paragraph of a doc
/// comment becomes the DTDL description, so it stays plain text.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaxMinReport {
    /// The highest temperature in the period.
    #[iotc(display_name = "Max temperature")]
    pub max_temp: f64,
    /// The lowest temperature in the period.
    #[iotc(display_name = "Min temperature")]
    pub min_temp: f64,
    /// The average temperature in the period.
    #[iotc(display_name = "Average Temperature")]
    pub avg_temp: f64,
    /// The start of the period.
    #[iotc(display_name = "Start Time")]
    #[serde(with = "time::serde::rfc3339")]
    pub start_time: OffsetDateTime,
    /// The end of the period.
    #[iotc(display_name = "End Time")]
    #[serde(with = "time::serde::rfc3339")]
    pub end_time: OffsetDateTime,
}

/// `dtmi:com:example:Thermostat;1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Interface)]
#[iotc(
    id = "dtmi:com:example:Thermostat;1",
    display_name = "Thermostat",
    description = "Reports current temperature and provides desired temperature control."
)]
#[iotc(
    telemetry = ThermostatTelemetry,
    properties = ThermostatProperties,
    commands = ThermostatCommand
)]
pub struct Thermostat;
