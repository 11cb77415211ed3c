//! `dtmi:MeshSystems:txs:modbus;1` (third party): a writable integer and a writable Map whose
//! values are an Object (from `schemas`) holding integer Enums; PascalCase names; localized
//! display names.

use std::collections::HashMap;

use iotc_sdk::{DtdlSchema, Interface, Properties};
use serde::{Deserialize, Serialize};
use serde_repr::{Deserialize_repr, Serialize_repr};

use crate::official::{self, generated};
use crate::semantic::{assert_semantically_equal, Exclusion};

#[derive(Debug, Default, Serialize, Deserialize, Properties)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ModbusProperties {
    #[iotc(writable, display_name = "BaudRate")]
    #[serde(skip_serializing_if = "Option::is_none")]
    baud_rate: Option<i32>,
    // Official names: `Key` → `Value`.
    #[iotc(writable, display_name = "Operation")]
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<HashMap<String, ModbusOperation>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, DtdlSchema)]
#[serde(rename_all = "PascalCase")]
struct ModbusOperation {
    unit_id: i32,
    register_type: RegisterType,
    polling_interval_ms: i32,
    start_address: i32,
    data_type: DataType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr, DtdlSchema)]
#[iotc(value_schema = "integer")]
#[repr(i32)]
enum RegisterType {
    #[iotc(name = "READ_COILS")]
    ReadCoils = 1,
    #[iotc(name = "READ_DISCRETE_INPUTS")]
    ReadDiscreteInputs = 2,
    #[iotc(name = "READ_HOLDING_REGISTERS")]
    ReadHoldingRegisters = 3,
    #[iotc(name = "READ_INPUT_REGISTERS")]
    ReadInputRegisters = 4,
    #[iotc(name = "WRITE_SINGLE_COIL")]
    WriteSingleCoil = 5,
    #[iotc(name = "WRITE_SINGLE_REGISTER")]
    WriteSingleRegister = 6,
    #[iotc(name = "READ_EXCEPTION_STATUS")]
    ReadExceptionStatus = 7,
    #[iotc(name = "WRITE_MULTIPLE_COILS")]
    WriteMultipleCoils = 15,
    #[iotc(name = "WRITE_MULTIPLE_REGISTERS")]
    WriteMultipleRegisters = 16,
    #[iotc(name = "REPORT_SLAVE_ID")]
    ReportSlaveId = 17,
    #[iotc(name = "MASK_WRITE_REGISTER")]
    MaskWriteRegister = 22,
    #[iotc(name = "WRITE_AND_READ_REGISTERS")]
    WriteAndReadRegisters = 23,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr, DtdlSchema)]
#[iotc(value_schema = "integer")]
#[repr(i32)]
enum DataType {
    #[iotc(name = "MB_int16")]
    Int16 = 1,
    #[iotc(name = "MB_bcd32")]
    Bcd32 = 2,
    #[iotc(name = "MB_logBase2")]
    LogBase2 = 3,
    #[iotc(name = "MB_float32")]
    Float32 = 4,
    #[iotc(name = "MB_float32swap")]
    Float32Swap = 5,
    #[iotc(name = "MB_int32")]
    Int32 = 7,
    #[iotc(name = "MB_uint16")]
    Uint16 = 11,
    #[iotc(name = "MB_bcd16")]
    Bcd16 = 12,
    #[iotc(name = "MB_int64")]
    Int64 = 13,
    #[iotc(name = "MB_uint64")]
    Uint64 = 15,
    #[iotc(name = "MB_double64")]
    Double64 = 16,
}

// The official display name is the localized map `{"en": "Modbus"}`; the derives take a
// plain string (display strings are not compared). A doc comment here would become the
// interface's description, which the official model does not have.
#[derive(Interface)]
#[iotc(id = "dtmi:MeshSystems:txs:modbus;1", display_name = "Modbus")]
#[iotc(properties = ModbusProperties)]
pub(crate) struct Modbus;

/// The Map key/value names the derives cannot set (they are always `key` and `value`).
const EXCLUSIONS: &[Exclusion] = &[
    Exclusion {
        path: "dtmi:MeshSystems:txs:modbus;1/contents/Operation/schema/mapKey/name",
        reason: "Map key name (Key) cannot be set with the derives",
    },
    Exclusion {
        path: "dtmi:MeshSystems:txs:modbus;1/contents/Operation/schema/mapValue/name",
        reason: "Map value name (Value) cannot be set with the derives",
    },
];

#[test]
fn modbus_matches_the_official_model() {
    assert_eq!(Modbus::ID, "dtmi:MeshSystems:txs:modbus;1");
    assert_semantically_equal(
        "modbus;1",
        &generated(&[Modbus::interface()]),
        &official::json(official::MODBUS_1),
        EXCLUSIONS,
    );
}

#[test]
fn modbus_desired_operations_read_with_enum_values() {
    assert_eq!(Modbus::interface().validate(), Ok(()));
    let desired: ModbusProperties = serde_json::from_value(serde_json::json!({
        "BaudRate": 9600,
        "Operation": {
            "op1": {"UnitId": 1, "RegisterType": 3, "PollingIntervalMs": 1000,
                    "StartAddress": 40001, "DataType": 16}
        }
    }))
    .unwrap();
    assert_eq!(desired.baud_rate, Some(9600));
    let operation = &desired.operation.as_ref().unwrap()["op1"];
    assert_eq!(
        operation,
        &ModbusOperation {
            unit_id: 1,
            register_type: RegisterType::ReadHoldingRegisters,
            polling_interval_ms: 1000,
            start_address: 40001,
            data_type: DataType::Double64,
        }
    );
    // Enums go on the wire as their integer values.
    let reported = serde_json::to_value(&desired).unwrap();
    assert_eq!(reported["Operation"]["op1"]["RegisterType"], 3);
    assert_eq!(reported["Operation"]["op1"]["DataType"], 16);
    // Every variant is used on the wire somewhere; keep the compiler from flagging unread ones.
    let all_register_types = [
        RegisterType::ReadCoils,
        RegisterType::ReadDiscreteInputs,
        RegisterType::ReadHoldingRegisters,
        RegisterType::ReadInputRegisters,
        RegisterType::WriteSingleCoil,
        RegisterType::WriteSingleRegister,
        RegisterType::ReadExceptionStatus,
        RegisterType::WriteMultipleCoils,
        RegisterType::WriteMultipleRegisters,
        RegisterType::ReportSlaveId,
        RegisterType::MaskWriteRegister,
        RegisterType::WriteAndReadRegisters,
    ];
    let all_data_types = [
        DataType::Int16,
        DataType::Bcd32,
        DataType::LogBase2,
        DataType::Float32,
        DataType::Float32Swap,
        DataType::Int32,
        DataType::Uint16,
        DataType::Bcd16,
        DataType::Int64,
        DataType::Uint64,
        DataType::Double64,
    ];
    assert_eq!(
        serde_json::to_value(all_register_types).unwrap(),
        serde_json::json!([1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 22, 23])
    );
    assert_eq!(
        serde_json::to_value(all_data_types).unwrap(),
        serde_json::json!([1, 2, 3, 4, 5, 7, 11, 12, 13, 15, 16])
    );
}
