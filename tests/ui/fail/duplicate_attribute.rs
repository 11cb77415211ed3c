use iotc_sdk::{Interface, Properties};
use serde::Serialize;

#[derive(Serialize, Properties)]
struct Settings {
    #[iotc(writable, display_name = "Level")]
    #[iotc(writable, display_name = "Level again")]
    level: i32,
}

#[derive(Interface)]
#[iotc(id = "dtmi:com:example:A;1", properties = Settings)]
#[iotc(id = "dtmi:com:example:B;1")]
struct Device;

fn main() {}
