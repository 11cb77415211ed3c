use iotc_sdk::{Commands, DtdlSchema, Telemetry};
use serde::Serialize;

#[derive(Serialize, Telemetry)]
#[iotc(docs = 1)]
struct BadDocs {
    value: f64,
}

#[derive(Serialize, Telemetry)]
struct EnglishTwice {
    #[iotc(display_name("en" = "Value"))]
    value: f64,
}

#[derive(Serialize, DtdlSchema)]
struct TypedField {
    #[iotc(typed)]
    value: f64,
}

#[derive(Commands)]
enum CoTypedCommand {
    #[iotc(co_type = "Event")]
    Go,
}

#[derive(Serialize, Telemetry)]
struct TypedWithValue {
    #[iotc(co_type = "Event", undefined(minValue = "1"))]
    value: f64,
}

fn main() {}
