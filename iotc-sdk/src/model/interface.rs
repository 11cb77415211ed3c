//! DTDL v2 `Interface` and its contents: `Telemetry`, `Property`, `Command`, `Component`.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::json::{display_entries, display_setters, entry, entry_opt};
use super::Schema;

/// The `@context` of a DTDL v2 document.
pub const DTDL_V2_CONTEXT: &str = "dtmi:dtdl:context;2";

/// A DTDL v2 `Interface`: a device model (or a component's model) with its contents.
///
/// Serializes to a DTDL v2 JSON document with `"@context": "dtmi:dtdl:context;2"`.
///
/// ```
/// use iotc_sdk::model::{Interface, Schema, Telemetry};
/// let mut interface = Interface::new("dtmi:com:example:Thermostat;1");
/// interface.contents.push(
///     Telemetry::new("temperature", Schema::Double)
///         .with_semantic_type("Temperature", "degreeCelsius")
///         .into(),
/// );
/// assert!(interface.validate().is_ok());
/// let json: serde_json::Value = serde_json::from_str(&interface.to_json_pretty()).unwrap();
/// assert_eq!(json["contents"][0]["@type"], serde_json::json!(["Telemetry", "Temperature"]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Interface {
    /// `@id`: the interface's DTMI, e.g. `dtmi:com:example:Thermostat;1` (at most 128
    /// characters; DTDL v2 requires a one-part version).
    pub id: String,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
    /// `contents`: telemetry, properties, commands and components (at most 300).
    pub contents: Vec<Content>,
}

impl Interface {
    /// An interface with this `@id` and no display strings or contents.
    pub fn new(id: impl Into<String>) -> Self {
        Interface {
            id: id.into(),
            display_name: None,
            description: None,
            comment: None,
            contents: Vec::new(),
        }
    }

    /// Appends one content element.
    pub fn with_content(mut self, content: impl Into<Content>) -> Self {
        self.contents.push(content.into());
        self
    }

    /// The interface as a pretty-printed DTDL v2 JSON document (one Interface object), ready to
    /// import into IoT Central when it has no components (otherwise see [`export`]).
    ///
    /// [`export`]: crate::model::export
    pub fn to_json_pretty(&self) -> String {
        // Serializing these types into a `String` cannot fail: every map key is a string and
        // every value is a string, a number, a boolean or a nested object or array.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the DTDL v2 rules that `#[derive(Interface)]` cannot check at compile time: the
    /// DTMI, unique content names, at most 300 contents, names (letters, digits and `_`,
    /// starting with a letter, not ending with `_`, at most 64 characters), display-string
    /// lengths, `unit` only with a semantic type and a numeric schema, Objects with 1 to 30
    /// fields, Enums with 1 to 100 unique values of the declared kind, schemas nested at most
    /// 5 deep, no Array inside a Property schema.
    ///
    /// # Errors
    ///
    /// Every rule broken, one message each, naming the element (`contents[2] (targetTemperature)`).
    pub fn validate(&self) -> Result<(), Vec<String>> {
        super::validate::validate(self)
    }
}

impl Serialize for Interface {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@context", DTDL_V2_CONTEXT)?;
        entry(&mut map, "@id", &self.id)?;
        entry(&mut map, "@type", "Interface")?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        entry(&mut map, "contents", &self.contents)?;
        map.end()
    }
}

/// One element of an interface's `contents`.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// A `Telemetry`.
    Telemetry(Telemetry),
    /// A `Property`.
    Property(Property),
    /// A `Command`.
    Command(Command),
    /// A `Component`.
    Component(Component),
}

impl Content {
    /// The element's `name`.
    pub fn name(&self) -> &str {
        match self {
            Content::Telemetry(t) => &t.name,
            Content::Property(p) => &p.name,
            Content::Command(c) => &c.name,
            Content::Component(c) => &c.name,
        }
    }

    /// The element's DTDL type: `"Telemetry"`, `"Property"`, `"Command"` or `"Component"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Telemetry(_) => "Telemetry",
            Content::Property(_) => "Property",
            Content::Command(_) => "Command",
            Content::Component(_) => "Component",
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Telemetry(t) => t.serialize(serializer),
            Content::Property(p) => p.serialize(serializer),
            Content::Command(c) => c.serialize(serializer),
            Content::Component(c) => c.serialize(serializer),
        }
    }
}

impl From<Telemetry> for Content {
    fn from(value: Telemetry) -> Self {
        Content::Telemetry(value)
    }
}

impl From<Property> for Content {
    fn from(value: Property) -> Self {
        Content::Property(value)
    }
}

impl From<Command> for Content {
    fn from(value: Command) -> Self {
        Content::Command(value)
    }
}

impl From<Component> for Content {
    fn from(value: Component) -> Self {
        Content::Component(value)
    }
}

/// `@type`: `"Telemetry"`, or `["Telemetry", "Temperature"]` with a semantic type.
struct ContentType<'a> {
    kind: &'static str,
    semantic_type: Option<&'a str>,
}

impl Serialize for ContentType<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.semantic_type {
            Some(semantic_type) => [self.kind, semantic_type].serialize(serializer),
            None => serializer.serialize_str(self.kind),
        }
    }
}

/// A DTDL v2 `Telemetry`: a value the device sends in telemetry messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Telemetry {
    /// `name`: the key in the telemetry JSON object.
    pub name: String,
    /// `schema`: the value's schema.
    pub schema: Schema,
    /// The semantic type added to `@type` (e.g. `Temperature`); requires `unit` and a numeric
    /// schema.
    pub semantic_type: Option<String>,
    /// `unit` (e.g. `degreeCelsius`): one of the semantic type's units.
    pub unit: Option<String>,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl Telemetry {
    /// A telemetry named `name` without semantic type or display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        Telemetry {
            name: name.into(),
            schema,
            semantic_type: None,
            unit: None,
            display_name: None,
            description: None,
            comment: None,
        }
    }

    /// Sets the semantic type and its unit.
    pub fn with_semantic_type(
        mut self,
        semantic_type: impl Into<String>,
        unit: impl Into<String>,
    ) -> Self {
        self.semantic_type = Some(semantic_type.into());
        self.unit = Some(unit.into());
        self
    }
}

impl Serialize for Telemetry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = ContentType {
            kind: "Telemetry",
            semantic_type: self.semantic_type.as_deref(),
        };
        entry(&mut map, "@type", &kind)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        entry_opt(&mut map, "unit", &self.unit)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

/// A DTDL v2 `Property`: device state reported in the twin, optionally writable from the cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// `name`: the key in the twin's reported (and desired) properties.
    pub name: String,
    /// `schema`: the value's schema (DTDL v2 forbids Arrays anywhere inside it).
    pub schema: Schema,
    /// The semantic type added to `@type` (e.g. `Temperature`); requires `unit` and a numeric
    /// schema.
    pub semantic_type: Option<String>,
    /// `unit` (e.g. `degreeCelsius`): one of the semantic type's units.
    pub unit: Option<String>,
    /// `writable`: the cloud may set it and the device acknowledges. Serialized only when
    /// `true`.
    pub writable: bool,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl Property {
    /// A read-only property named `name` without semantic type or display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        Property {
            name: name.into(),
            schema,
            semantic_type: None,
            unit: None,
            writable: false,
            display_name: None,
            description: None,
            comment: None,
        }
    }

    /// Makes the property writable.
    pub fn writable(mut self) -> Self {
        self.writable = true;
        self
    }

    /// Sets the semantic type and its unit.
    pub fn with_semantic_type(
        mut self,
        semantic_type: impl Into<String>,
        unit: impl Into<String>,
    ) -> Self {
        self.semantic_type = Some(semantic_type.into());
        self.unit = Some(unit.into());
        self
    }
}

impl Serialize for Property {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = ContentType {
            kind: "Property",
            semantic_type: self.semantic_type.as_deref(),
        };
        entry(&mut map, "@type", &kind)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        entry_opt(&mut map, "unit", &self.unit)?;
        if self.writable {
            entry(&mut map, "writable", &true)?;
        }
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

/// A DTDL v2 `Command`: a direct method the cloud invokes, with optional request and response.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// `name`: the method name (`{component}*{name}` on the wire for a component's command).
    pub name: String,
    /// `request`: the payload the cloud sends, if any.
    pub request: Option<CommandPayload>,
    /// `response`: the payload the device answers with, if any.
    pub response: Option<CommandPayload>,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl Command {
    /// A command named `name` without request, response or display strings.
    pub fn new(name: impl Into<String>) -> Self {
        Command {
            name: name.into(),
            request: None,
            response: None,
            display_name: None,
            description: None,
            comment: None,
        }
    }

    /// Sets `request`.
    pub fn with_request(mut self, request: CommandPayload) -> Self {
        self.request = Some(request);
        self
    }

    /// Sets `response`.
    pub fn with_response(mut self, response: CommandPayload) -> Self {
        self.response = Some(response);
        self
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Command")?;
        entry(&mut map, "name", &self.name)?;
        entry_opt(&mut map, "request", &self.request)?;
        entry_opt(&mut map, "response", &self.response)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

/// A command's `request` or `response` (a DTDL v2 `CommandPayload`). Its `name` is metadata
/// only: the payload on the wire is the bare value.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandPayload {
    /// `name` of the payload.
    pub name: String,
    /// `schema` of the payload.
    pub schema: Schema,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl CommandPayload {
    /// A payload named `name` without display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        CommandPayload {
            name: name.into(),
            schema,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for CommandPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

/// A DTDL v2 `Component`: another interface included by value under a name.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// `name`: the component name on the wire (`$.sub`, `{"name": {"__t": "c", ...}}`,
    /// `name*command`).
    pub name: String,
    /// `schema`: the DTMI of the component's interface.
    pub schema: String,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl Component {
    /// A component named `name` of the interface with DTMI `schema`, without display strings.
    pub fn new(name: impl Into<String>, schema: impl Into<String>) -> Self {
        Component {
            name: name.into(),
            schema: schema.into(),
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for Component {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Component")?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

display_setters!(
    Interface,
    Telemetry,
    Property,
    Command,
    CommandPayload,
    Component
);
