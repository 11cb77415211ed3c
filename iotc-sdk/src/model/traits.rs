//! The traits that tie Rust types to DTDL: [`DtdlSchema`], [`Telemetry`], [`Properties`],
//! [`Commands`] and [`Interface`], usually implemented with the derives of the same names.

use std::fmt;
use std::marker::PhantomData;

use super::{CommandInfo, InterfaceInfo, PropertyInfo, Schema, TelemetryInfo};

/// A Rust type with a DTDL v2 schema: the schema of a telemetry value, property, command
/// payload, object field, array element or map value of this type.
///
/// Implemented for the primitive types DTDL has a schema for (see the table in
/// `docs/models.md`), for `Vec<T>`, `[T; N]`, `[T]` (`Array`), `HashMap<String, T>` and
/// `BTreeMap<String, T>` (`Map`), for `Option<T>`, `Box<T>`, `&T` and friends (the schema of
/// `T`), and by `#[derive(DtdlSchema)]` for structs (`Object`) and fieldless enums (`Enum`).
/// There is deliberately no implementation for `u64`, `i128` and `u128`: DTDL v2 has no
/// schema that holds them (use `i64`, or a `String`).
///
/// ```
/// use iotc_sdk::{model::Schema, DtdlSchema};
/// assert_eq!(<Option<f64> as DtdlSchema>::schema(), Schema::Double);
/// assert!(<Vec<u8> as DtdlSchema>::HAS_ARRAY);
/// assert!(<u32 as DtdlSchema>::NUMERIC);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no DTDL schema",
    label = "no DTDL schema for this type",
    note = "derive `DtdlSchema` for your own structs and fieldless enums; DTDL v2 has no schema for `u64`, `i128`, `u128` (use `i64` or `String`)"
)]
pub trait DtdlSchema {
    /// The DTDL schema of this type.
    fn schema() -> Schema;

    /// Whether the schema is `double`, `float`, `integer` or `long`, so that a semantic type
    /// and unit may apply.
    const NUMERIC: bool = false;

    /// Whether an `Array` occurs anywhere in the schema (DTDL v2 forbids that in properties).
    const HAS_ARRAY: bool = false;
}

/// A telemetry message: a struct whose fields are the telemetry values of an interface.
///
/// Derive it with `#[derive(Serialize, Telemetry)]`; `()` means "no telemetry".
pub trait Telemetry: serde::Serialize {
    /// The DTDL `Telemetry` contents, one per serialized field.
    fn telemetry() -> Vec<TelemetryInfo>;
}

/// The properties of an interface: a struct whose fields are read-only or writable properties.
///
/// Derive it with `#[derive(Serialize, Properties)]`; `()` means "no properties".
pub trait Properties: serde::Serialize {
    /// The DTDL `Property` contents, one per serialized field.
    fn properties() -> Vec<PropertyInfo>;
}

/// The commands of an interface: an enum with one variant per command, holding the parsed
/// request.
///
/// Derive it with `#[derive(Commands)]`; [`NoCommands`] means "no commands".
pub trait Commands: Sized {
    /// The DTDL `Command` contents, one per variant.
    fn commands() -> Vec<CommandInfo>;

    /// Parses an invocation of command `name` (without any `component*` prefix) with its JSON
    /// request `payload`. An empty payload reads as JSON `null`.
    ///
    /// # Errors
    ///
    /// [`CommandParseError::Unknown`] for a name that is not one of the commands,
    /// [`CommandParseError::InvalidRequest`] when the payload does not deserialize to the
    /// request type.
    fn parse(name: &str, payload: &[u8]) -> Result<Self, CommandParseError>;
}

/// Why [`Commands::parse`] failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CommandParseError {
    /// The interface has no command of this name.
    #[error("unknown command `{0}`")]
    Unknown(String),
    /// The request payload does not match the command's request schema.
    #[error("invalid request for `{command}`: {message}")]
    InvalidRequest {
        /// The command name.
        command: String,
        /// What was wrong with the payload.
        message: String,
    },
}

/// A DTDL interface: a DTMI with telemetry, properties, commands and components.
///
/// Derive it with `#[derive(Interface)]` on a unit struct:
/// `#[iotc(id = "dtmi:com:example:Thermostat;1", telemetry = T, properties = P, commands = C)]`.
pub trait Interface {
    /// The interface's DTMI (`@id`), the model id a device announces.
    const ID: &'static str;

    /// Whether the interface has components (a component's interface may not).
    const HAS_COMPONENTS: bool;

    /// The root component's telemetry message type.
    type Telemetry: Telemetry;

    /// The root component's properties type.
    type Properties: Properties;

    /// The root component's commands type.
    type Commands: Commands;

    /// The DTDL model of this interface.
    fn interface() -> InterfaceInfo;

    /// This interface followed by the interfaces of its components, each DTMI once (for export).
    fn interfaces() -> Vec<InterfaceInfo>;
}

/// A component of interface `I`, by name: generated as associated consts by
/// `#[derive(Interface)]` (`TemperatureController::THERMOSTAT1`).
pub struct ComponentRef<I> {
    name: &'static str,
    _marker: PhantomData<fn() -> I>,
}

impl<I> ComponentRef<I> {
    /// The component called `name`, whose interface is `I`.
    pub const fn new(name: &'static str) -> Self {
        ComponentRef {
            name,
            _marker: PhantomData,
        }
    }

    /// The component name, as used on the wire.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<I> Clone for ComponentRef<I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I> Copy for ComponentRef<I> {}

impl<I> fmt::Debug for ComponentRef<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentRef")
            .field("name", &self.name)
            .field("interface", &std::any::type_name::<I>())
            .finish()
    }
}

impl Telemetry for () {
    fn telemetry() -> Vec<TelemetryInfo> {
        Vec::new()
    }
}

impl Properties for () {
    fn properties() -> Vec<PropertyInfo> {
        Vec::new()
    }
}

/// The commands of an interface without commands: it has no values, and parsing any command
/// fails with [`CommandParseError::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoCommands {}

impl Commands for NoCommands {
    fn commands() -> Vec<CommandInfo> {
        Vec::new()
    }

    fn parse(name: &str, _payload: &[u8]) -> Result<Self, CommandParseError> {
        Err(CommandParseError::Unknown(name.to_owned()))
    }
}
