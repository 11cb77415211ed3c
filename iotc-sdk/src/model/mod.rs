//! DTDL v2 device models: the types that serialize to the JSON IoT Central imports as a device
//! template's model, and the traits that tie Rust types to them.
//!
//! Usually the model is derived from annotated Rust types (see the crate's `derive` feature
//! and `docs/models.md`) or read from a DTDL document ([`InterfaceInfo::from_json`]); the
//! types here can also be built by hand. They are named after Microsoft's DTDL parser
//! (`DTInterfaceInfo`...): [`InterfaceInfo`], [`TelemetryInfo`], [`PropertyInfo`],
//! [`CommandInfo`], [`CommandPayloadInfo`], [`ComponentInfo`], so that they do not share names
//! with the traits and derives users write (`Telemetry`, `Interface`...).
//!
//! ```
//! use iotc_sdk::model::{
//!     CommandInfo, CommandPayloadInfo, InterfaceInfo, PropertyInfo, Schema, TelemetryInfo,
//! };
//!
//! let thermostat = InterfaceInfo::new("dtmi:com:example:Thermostat;1")
//!     .with_display_name("Thermostat")
//!     .with_content(
//!         TelemetryInfo::new("temperature", Schema::Double)
//!             .with_semantic_type("Temperature", "degreeCelsius"),
//!     )
//!     .with_content(
//!         PropertyInfo::new("targetTemperature", Schema::Double)
//!             .with_semantic_type("Temperature", "degreeCelsius")
//!             .writable(),
//!     )
//!     .with_content(
//!         CommandInfo::new("getMaxMinReport")
//!             .with_request(CommandPayloadInfo::new("since", Schema::DateTime)),
//!     );
//! assert_eq!(thermostat.validate(), Ok(()));
//! let json = thermostat.to_json_pretty();
//! assert!(json.contains(r#""@context": "dtmi:dtdl:context;2""#));
//! ```
//!
//! The traits [`DtdlSchema`], [`Properties`] and [`Commands`] live here too; the traits
//! `Telemetry` and `Interface` are at the crate root: [`crate::Telemetry`],
//! [`crate::Interface`].

mod compare;
mod impls;
mod interface;
mod json;
mod localized;
pub mod marker;
mod parse;
mod schema;
pub mod temporal;
pub(crate) mod traits;
mod validate;

pub use compare::{diff_values, differences, normalize, Difference};
pub use interface::{
    CommandInfo, CommandPayloadInfo, ComponentInfo, ContentInfo, InterfaceInfo, PropertyInfo,
    TelemetryInfo, DTDL_V2_CONTEXT, IOTCENTRAL_CONTEXT,
};
pub use localized::{LocalizedString, DEFAULT_LANGUAGE};
pub use parse::ParseError;
pub use schema::{
    ArraySchema, EnumSchema, EnumValue, EnumValueKind, EnumValueSchema, Field, MapKey, MapSchema,
    MapValue, ObjectSchema, Schema,
};
pub use traits::{CommandParseError, Commands, ComponentRef, DtdlSchema, NoCommands, Properties};

/// Several interfaces as one JSON document (a pretty-printed array), the form IoT Central's
/// "Import a model" expects when the root interface has components: the root interface first,
/// then the interface of every component.
///
/// With the derives, `export(&TemperatureController::interfaces())` (from
/// [`crate::Interface::interfaces`]).
///
/// ```
/// use iotc_sdk::model::{export, ComponentInfo, InterfaceInfo};
/// let root = InterfaceInfo::new("dtmi:com:example:Controller;1")
///     .with_content(ComponentInfo::new("thermostat1", "dtmi:com:example:Thermostat;1"));
/// let thermostat = InterfaceInfo::new("dtmi:com:example:Thermostat;1");
/// let json: serde_json::Value = serde_json::from_str(&export(&[root, thermostat])).unwrap();
/// assert_eq!(json[1]["@id"], "dtmi:com:example:Thermostat;1");
/// ```
pub fn export(interfaces: &[InterfaceInfo]) -> String {
    // Cannot fail: see `InterfaceInfo::to_json_pretty`.
    serde_json::to_string_pretty(interfaces).unwrap_or_default()
}

#[cfg(test)]
mod tests;
