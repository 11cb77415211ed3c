use iotc_sdk::DtdlSchema;
use serde::Serialize;

#[derive(Serialize, DtdlSchema)]
enum WithData {
    A(i32),
}

#[derive(DtdlSchema)]
#[iotc(value_schema = "integer")]
enum Computed {
    A = 1 << 2,
}

#[derive(DtdlSchema)]
#[iotc(value_schema = "float")]
enum BadValueSchema {
    A,
}

#[derive(Serialize, DtdlSchema)]
struct Empty {}

#[derive(Serialize, DtdlSchema)]
struct Tuple(i32, i32);

#[derive(Serialize, DtdlSchema)]
#[serde(tag = "kind")]
enum Tagged {
    A,
}

#[derive(Serialize, DtdlSchema)]
struct Field {
    #[iotc(semantic_type = "Temperature", unit = "kelvin")]
    value: f64,
}

fn main() {}
