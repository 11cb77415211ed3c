//! `dtmi:Redeye:redeye_1_plus;2` (third party): integer Enum telemetry, Array-of-Object
//! telemetry, a read-only boolean property and two commands without payloads.

use iotc_sdk::{CommandParseError, Commands, DtdlSchema, Interface, Properties, Telemetry};
use serde::{Deserialize, Serialize};
use serde_repr::{Deserialize_repr, Serialize_repr};

use crate::official::{self, generated};
use crate::semantic::assert_semantically_equal;

#[derive(Debug, Default, Serialize, Telemetry)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RedeyeTelemetry {
    /// 1 is Positive, 2 is Negative, 3 is Unsure.
    #[iotc(display_name = "Blood pollution test result")]
    #[serde(skip_serializing_if = "Option::is_none")]
    test_result: Option<TestResult>,
    /// blank rate is water's spectrum ,sample rate is pollution water's spectrum, wavelength is spectrum's axis.
    ///
    /// The official Array schema also has the display name "Spectrum", which the derives cannot
    /// give an Array (display strings are not compared).
    #[iotc(display_name = "Blood pollution test result spectrum")]
    #[serde(skip_serializing_if = "Option::is_none")]
    test_result_spectrum: Option<Vec<SpectrumPoint>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr, DtdlSchema)]
#[iotc(value_schema = "integer")]
#[repr(i32)]
enum TestResult {
    #[iotc(name = "positive", display_name = "Positive")]
    Positive = 1,
    #[iotc(name = "negative", display_name = "Negative")]
    Negative = 2,
    #[iotc(name = "unsure", display_name = "Unsure")]
    Unsure = 3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DtdlSchema)]
struct SpectrumPoint {
    #[iotc(display_name = "Blank rate")]
    blank: f64,
    #[iotc(display_name = "Sample rate")]
    sample: f64,
    #[iotc(display_name = "Wavelength")]
    wavelength: f64,
}

#[derive(Debug, Default, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RedeyeProperties {
    /// Is the gateway connected to Redeye-1-Plus or not.
    #[iotc(display_name = "GetCurrentConnectionStatus")]
    get_current_connection_status: bool,
}

#[derive(Debug, PartialEq, Eq, Commands)]
pub(crate) enum RedeyeCommand {
    /// Reboots the gateway.
    #[iotc(display_name = "Reboot")]
    Reboot,
    /// Scanning and try to connect Redeye-1-Plus near by.
    #[iotc(display_name = "ConnectToRedeyeDevice")]
    ConnectToRedeyeDevice,
}

#[derive(Interface)]
#[iotc(
    id = "dtmi:Redeye:redeye_1_plus;2",
    display_name = "Redeye-1-Plus-V2",
    description = "Reports visible spectrophotometer for clinical use specified to detect microscale blood pollution in water."
)]
#[iotc(
    telemetry = RedeyeTelemetry,
    properties = RedeyeProperties,
    commands = RedeyeCommand
)]
pub(crate) struct Redeye;

#[test]
fn redeye_matches_the_official_model() {
    assert_eq!(Redeye::ID, "dtmi:Redeye:redeye_1_plus;2");
    assert_semantically_equal(
        "redeye_1_plus;2",
        &generated(&[Redeye::interface()]),
        &official::json(official::REDEYE_1_PLUS_2),
        &[],
    );
}

#[test]
fn redeye_telemetry_and_commands_on_the_wire() {
    assert_eq!(Redeye::interface().validate(), Ok(()));
    let telemetry = RedeyeTelemetry {
        test_result: Some(TestResult::Negative),
        test_result_spectrum: Some(vec![SpectrumPoint {
            blank: 0.5,
            sample: 0.25,
            wavelength: 540.0,
        }]),
    };
    assert_eq!(
        serde_json::to_value(&telemetry).unwrap(),
        serde_json::json!({
            "testResult": 2,
            "testResultSpectrum": [{"blank": 0.5, "sample": 0.25, "wavelength": 540.0}]
        })
    );
    let unsure: TestResult = serde_json::from_value(serde_json::json!(3)).unwrap();
    assert_eq!(unsure, TestResult::Unsure);
    assert_eq!(
        serde_json::to_value(TestResult::Positive).unwrap(),
        serde_json::json!(1)
    );
    let properties = RedeyeProperties {
        get_current_connection_status: true,
    };
    assert_eq!(
        serde_json::to_value(&properties).unwrap(),
        serde_json::json!({"getCurrentConnectionStatus": true})
    );
    // Commands without a request take an empty payload.
    assert_eq!(
        RedeyeCommand::parse("reboot", b"").unwrap(),
        RedeyeCommand::Reboot
    );
    assert_eq!(
        RedeyeCommand::parse("connectToRedeyeDevice", b"").unwrap(),
        RedeyeCommand::ConnectToRedeyeDevice
    );
    assert!(matches!(
        RedeyeCommand::parse("Reboot", b""),
        Err(CommandParseError::Unknown(_))
    ));
}
