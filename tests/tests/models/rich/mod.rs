//! Richer official models expressed in Rust with the derives, compared with the official JSON
//! like the example models. What the derives cannot express is listed, per model, as
//! [`Exclusion`](crate::semantic::Exclusion)s with the reason; every excluded difference is
//! printed, and an exclusion that covers nothing fails the test.
//!
//! Expressed without any exclusion:
//!
//! * reusable `schemas` referenced by `@id` (deviceUpdate, modbus): the derives write every
//!   schema inline, which the comparator treats as equal to the referenced definition;
//! * writable Object properties (deviceUpdate `service`), writable Maps of Objects with integer
//!   Enums inside (modbus `Operation`), Enum and Array-of-Object telemetry (redeye), commands
//!   without payloads (redeye);
//! * display strings (localized `displayName` maps in modbus, the Array's `displayName` in
//!   redeye, the `comment` on a map key in deviceUpdate) are not compared, so their absence
//!   needs no exclusion: the derives take plain-string display names only, and no display
//!   strings on Arrays or Map keys/values.
//!
//! Not expressible, hence excluded: the `name`s of a Map's `mapKey` and `mapValue`. The derives
//! describe `HashMap<String, T>`/`BTreeMap<String, T>` with the fixed names `key` and `value`,
//! and have no attribute to rename them.

mod device_update;
mod modbus;
mod redeye;

use iotc_sdk::model::InterfaceInfo as Model;
use iotc_sdk::Interface;

/// The interfaces of every rich model, one list per model (for the validator test).
pub(crate) fn all_interfaces() -> Vec<Vec<Model>> {
    vec![
        device_update::DeviceUpdate::interfaces(),
        modbus::Modbus::interfaces(),
        redeye::Redeye::interfaces(),
    ]
}
