//! DTDL v2 device models: the types that serialize to the JSON IoT Central imports as a device
//! template's model, and the traits that tie Rust types to them.
//!
//! Usually the model is derived from annotated Rust types (see the crate's `derive` feature
//! and `docs/models.md`); the types here can also be built by hand:
//!
//! ```
//! use iotc_sdk::model::{Command, CommandPayload, Interface, Property, Schema, Telemetry};
//!
//! let thermostat = Interface::new("dtmi:com:example:Thermostat;1")
//!     .with_display_name("Thermostat")
//!     .with_content(
//!         Telemetry::new("temperature", Schema::Double)
//!             .with_semantic_type("Temperature", "degreeCelsius"),
//!     )
//!     .with_content(
//!         Property::new("targetTemperature", Schema::Double)
//!             .with_semantic_type("Temperature", "degreeCelsius")
//!             .writable(),
//!     )
//!     .with_content(
//!         Command::new("getMaxMinReport")
//!             .with_request(CommandPayload::new("since", Schema::DateTime)),
//!     );
//! assert_eq!(thermostat.validate(), Ok(()));
//! let json = thermostat.to_json_pretty();
//! assert!(json.contains(r#""@context": "dtmi:dtdl:context;2""#));
//! ```
//!
//! The traits [`DtdlSchema`], [`Properties`] and [`Commands`] live here too; `Telemetry` and
//! `Interface` (the traits) share their names with the DTDL types of this module and are at
//! the crate root: [`crate::Telemetry`], [`crate::Interface`].

mod impls;
mod interface;
mod json;
mod schema;
pub(crate) mod traits;
mod validate;

pub use interface::{
    Command, CommandPayload, Component, Content, Interface, Property, Telemetry, DTDL_V2_CONTEXT,
};
pub use schema::{
    ArraySchema, EnumSchema, EnumValue, EnumValueKind, EnumValueSchema, Field, MapSchema,
    ObjectSchema, Schema,
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
/// use iotc_sdk::model::{export, Component, Interface};
/// let root = Interface::new("dtmi:com:example:Controller;1")
///     .with_content(Component::new("thermostat1", "dtmi:com:example:Thermostat;1"));
/// let thermostat = Interface::new("dtmi:com:example:Thermostat;1");
/// let json: serde_json::Value = serde_json::from_str(&export(&[root, thermostat])).unwrap();
/// assert_eq!(json[1]["@id"], "dtmi:com:example:Thermostat;1");
/// ```
pub fn export(interfaces: &[Interface]) -> String {
    // Cannot fail: see `Interface::to_json_pretty`.
    serde_json::to_string_pretty(interfaces).unwrap_or_default()
}

#[cfg(test)]
mod tests;
