//! `dtmi:azure:iot:deviceUpdate;1` (Device Update for IoT Hub): Object properties built from
//! reusable `schemas` (by `@id`), one of them writable, nested Objects and Maps (one of
//! Objects).

use std::collections::HashMap;

use iotc_sdk::{DtdlSchema, Interface, Properties};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::official::{self, generated};
use crate::semantic::{assert_semantically_equal, Exclusion};

#[derive(Debug, Default, Serialize, Deserialize, Properties)]
pub(crate) struct DeviceUpdateProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<AgentMetadata>,
    #[iotc(writable)]
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<ServiceMetadata>,
}

#[derive(Debug, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct AgentMetadata {
    state: i32,
    installed_update_id: String,
    workflow: WorkflowMetadata,
    last_install_result: InstallResultMetadata,
    compat_property_names: String,
    // Official names: `devicePropertyName` → `devicePropertyValue`.
    device_properties: HashMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceMetadata {
    workflow: WorkflowMetadata,
    update_manifest: String,
    update_manifest_signature: String,
    // Official names: `fileId` → `downloadUri`.
    file_urls: HashMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowMetadata {
    action: i32,
    id: String,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    retry_timestamp: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct InstallResultMetadata {
    result_code: i32,
    extended_result_code: i32,
    result_details: String,
    // Official names: `stepIndex` (`step_0`, `step_1`, ...) → `stepResult`.
    step_results: HashMap<String, StepResultMetadata>,
}

#[derive(Debug, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "camelCase")]
struct StepResultMetadata {
    result_code: i32,
    extended_result_code: i32,
    result_details: String,
}

#[derive(Interface)]
#[iotc(
    id = "dtmi:azure:iot:deviceUpdate;1",
    display_name = "Device Update Interface version 1",
    description = "Device Update interface version 1 is used to send update action and metadata to devices and receive update status from devices."
)]
#[iotc(properties = DeviceUpdateProperties)]
pub(crate) struct DeviceUpdate;

const ID: &str = "dtmi:azure:iot:deviceUpdate;1";

/// The Map key/value names the derives cannot set (they are always `key` and `value`).
const EXCLUSIONS: &[Exclusion] = &[
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/agent/schema/fields/deviceProperties/schema/mapKey/name",
        reason: "Map key name (devicePropertyName) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/agent/schema/fields/deviceProperties/schema/mapValue/name",
        reason: "Map value name (devicePropertyValue) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/agent/schema/fields/lastInstallResult/schema/fields/stepResults/schema/mapKey/name",
        reason: "Map key name (stepIndex) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/agent/schema/fields/lastInstallResult/schema/fields/stepResults/schema/mapValue/name",
        reason: "Map value name (stepResult) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/service/schema/fields/fileUrls/schema/mapKey/name",
        reason: "Map key name (fileId) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:azure:iot:deviceUpdate;1/contents/service/schema/fields/fileUrls/schema/mapValue/name",
        reason: "Map value name (downloadUri) cannot be set with the derives",
    },
];

#[test]
fn device_update_matches_the_official_model() {
    assert_eq!(DeviceUpdate::ID, ID);
    assert_semantically_equal(
        "deviceUpdate;1",
        &generated(&[DeviceUpdate::interface()]),
        &official::json(official::DEVICE_UPDATE_1),
        EXCLUSIONS,
    );
}

#[test]
fn device_update_validates_and_reads_a_desired_update() {
    assert_eq!(DeviceUpdate::interface().validate(), Ok(()));
    // A desired `service` update, as the Device Update service sends it.
    let desired: DeviceUpdateProperties = serde_json::from_value(serde_json::json!({
        "service": {
            "workflow": {"action": 3, "id": "w-1", "retryTimestamp": "2022-01-26T11:33:29.9680598Z"},
            "updateManifest": "{}",
            "updateManifestSignature": "sig",
            "fileUrls": {"f1": "http://example.invalid/f1"}
        }
    }))
    .unwrap();
    let service = desired.service.unwrap();
    assert_eq!(service.workflow.action, 3);
    assert!(service.workflow.retry_timestamp.is_some());
    assert_eq!(service.file_urls["f1"], "http://example.invalid/f1");
    assert!(desired.agent.is_none());
    let _ = (
        service.workflow.id,
        service.update_manifest,
        service.update_manifest_signature,
    );
}
