//! The DTDL v2 `Interface` description ([`InterfaceInfo`]) and its contents:
//! [`TelemetryInfo`], [`PropertyInfo`], [`CommandInfo`], [`ComponentInfo`].

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::json::{display_entries, entry, entry_opt, meta_setters, OneOrMany, TypeEntry};
use super::{LocalizedString, Schema};

/// The `@context` of a DTDL v2 document.
pub const DTDL_V2_CONTEXT: &str = "dtmi:dtdl:context;2";

/// The `@context` of IoT Central's DTDL v2 extension (co-types `Event`, `State`, `Location`,
/// `AccelerationVector`, `VelocityVector`...; schemas `geopoint` and `vector`).
pub const IOTCENTRAL_CONTEXT: &str = "dtmi:iotcentral:context;2";

/// A DTDL v2 `Interface`: a device model (or a component's model) with its contents.
///
/// Serializes to a DTDL v2 JSON document and holds everything such a document says as IoT
/// Central uses it; [`InterfaceInfo::from_json`] reads one.
///
/// ```
/// use iotc_sdk::model::{InterfaceInfo, Schema, TelemetryInfo};
/// let mut interface = InterfaceInfo::new("dtmi:com:example:Thermostat;1");
/// interface.contents.push(
///     TelemetryInfo::new("temperature", Schema::Double)
///         .with_semantic_type("Temperature", "degreeCelsius")
///         .into(),
/// );
/// assert!(interface.validate().is_ok());
/// let json: serde_json::Value = serde_json::from_str(&interface.to_json_pretty()).unwrap();
/// assert_eq!(json["contents"][0]["@type"], serde_json::json!(["Telemetry", "Temperature"]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceInfo {
    /// `@context`, in the order written: `["dtmi:dtdl:context;2"]` by default, with
    /// [`IOTCENTRAL_CONTEXT`] when the interface uses IoT Central's extension. Written as a
    /// string when it has one entry.
    pub context: Vec<String>,
    /// `@id`: the interface's DTMI, e.g. `dtmi:com:example:Thermostat;1` (at most 128
    /// characters; DTDL v2 requires a one-part version).
    pub id: String,
    /// Co-types after `Interface` in `@type` (rare; IoT Central once wrote `NamedInterface`).
    pub co_types: Vec<String>,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
    /// `extends`: the DTMIs of the interfaces whose contents this one inherits (at most 2).
    pub extends: Vec<String>,
    /// `contents`: telemetry, properties, commands and components (at most 300).
    pub contents: Vec<ContentInfo>,
    /// `schemas`: complex schemas with an `@id`, which contents refer to with
    /// [`Schema::Ref`].
    pub schemas: Vec<Schema>,
}

impl InterfaceInfo {
    /// An interface with this `@id`, the DTDL v2 context, and nothing else.
    pub fn new(id: impl Into<String>) -> Self {
        InterfaceInfo {
            context: vec![DTDL_V2_CONTEXT.to_owned()],
            id: id.into(),
            co_types: Vec::new(),
            display_name: None,
            description: None,
            comment: None,
            extends: Vec::new(),
            contents: Vec::new(),
            schemas: Vec::new(),
        }
    }

    /// Appends one content element.
    pub fn with_content(mut self, content: impl Into<ContentInfo>) -> Self {
        self.contents.push(content.into());
        self
    }

    /// Appends one interface schema (it should carry an `@id`).
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schemas.push(schema);
        self
    }

    /// Appends the DTMI of an interface this one extends.
    pub fn with_extends(mut self, id: impl Into<String>) -> Self {
        self.extends.push(id.into());
        self
    }

    /// Adds IoT Central's extension context (after the DTDL context) unless present.
    pub fn with_iotcentral_context(mut self) -> Self {
        if !self.context.iter().any(|c| c == IOTCENTRAL_CONTEXT) {
            self.context.push(IOTCENTRAL_CONTEXT.to_owned());
        }
        self
    }

    /// The content element named `name`.
    pub fn content(&self, name: &str) -> Option<&ContentInfo> {
        self.contents.iter().find(|c| c.name() == name)
    }

    /// The interface schema whose `@id` is `id`.
    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id() == Some(id))
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
    /// 5 deep, no Array inside a Property schema, at most 2 `extends`, an `@id` on every
    /// interface schema.
    ///
    /// # Errors
    ///
    /// Every rule broken, one message each, naming the element (`contents[2] (targetTemperature)`).
    pub fn validate(&self) -> Result<(), Vec<String>> {
        super::validate::validate(self)
    }
}

impl Serialize for InterfaceInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@context", &OneOrMany(&self.context))?;
        entry(&mut map, "@id", &self.id)?;
        let kind = TypeEntry {
            kind: "Interface",
            co_types: &self.co_types,
            semantic_type: None,
        };
        entry(&mut map, "@type", &kind)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        if !self.extends.is_empty() {
            entry(&mut map, "extends", &OneOrMany(&self.extends))?;
        }
        entry(&mut map, "contents", &self.contents)?;
        if !self.schemas.is_empty() {
            entry(&mut map, "schemas", &self.schemas)?;
        }
        map.end()
    }
}

/// One element of an interface's `contents`.
// Model descriptions are built once per device and exported; unboxed variants keep matching
// on them simple.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ContentInfo {
    /// A `Telemetry`.
    Telemetry(TelemetryInfo),
    /// A `Property`.
    Property(PropertyInfo),
    /// A `Command`.
    Command(CommandInfo),
    /// A `Component`.
    Component(ComponentInfo),
}

impl ContentInfo {
    /// The element's `name`.
    pub fn name(&self) -> &str {
        match self {
            ContentInfo::Telemetry(t) => &t.name,
            ContentInfo::Property(p) => &p.name,
            ContentInfo::Command(c) => &c.name,
            ContentInfo::Component(c) => &c.name,
        }
    }

    /// The element's DTDL type: `"Telemetry"`, `"Property"`, `"Command"` or `"Component"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ContentInfo::Telemetry(_) => "Telemetry",
            ContentInfo::Property(_) => "Property",
            ContentInfo::Command(_) => "Command",
            ContentInfo::Component(_) => "Component",
        }
    }
}

impl Serialize for ContentInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentInfo::Telemetry(t) => t.serialize(serializer),
            ContentInfo::Property(p) => p.serialize(serializer),
            ContentInfo::Command(c) => c.serialize(serializer),
            ContentInfo::Component(c) => c.serialize(serializer),
        }
    }
}

impl From<TelemetryInfo> for ContentInfo {
    fn from(value: TelemetryInfo) -> Self {
        ContentInfo::Telemetry(value)
    }
}

impl From<PropertyInfo> for ContentInfo {
    fn from(value: PropertyInfo) -> Self {
        ContentInfo::Property(value)
    }
}

impl From<CommandInfo> for ContentInfo {
    fn from(value: CommandInfo) -> Self {
        ContentInfo::Command(value)
    }
}

impl From<ComponentInfo> for ContentInfo {
    fn from(value: ComponentInfo) -> Self {
        ContentInfo::Component(value)
    }
}

/// A DTDL v2 `Telemetry`: a value the device sends in telemetry messages.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryInfo {
    /// `@id`, when the model gives the element one.
    pub id: Option<String>,
    /// `name`: the key in the telemetry JSON object.
    pub name: String,
    /// `schema`: the value's schema.
    pub schema: Schema,
    /// Co-types in `@type` other than the semantic type: IoT Central's `Event`, `State`,
    /// `Location`, `AccelerationVector`..., or types no context defines (kept as written).
    pub co_types: Vec<String>,
    /// The semantic type added to `@type` (e.g. `Temperature`); requires `unit` and a numeric
    /// schema. Written last in `@type`.
    pub semantic_type: Option<String>,
    /// `unit` (e.g. `degreeCelsius`): one of the semantic type's units.
    pub unit: Option<String>,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
    /// Properties that neither DTDL v2 nor IoT Central's extension defines, which come with
    /// undefined co-types (`NumberValue`'s `minValue`...): kept as written, in key order.
    pub undefined: BTreeMap<String, serde_json::Value>,
}

impl TelemetryInfo {
    /// A telemetry named `name` without semantic type or display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        TelemetryInfo {
            id: None,
            name: name.into(),
            schema,
            co_types: Vec::new(),
            semantic_type: None,
            unit: None,
            display_name: None,
            description: None,
            comment: None,
            undefined: BTreeMap::new(),
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

    /// Adds a co-type that is not a semantic type (e.g. IoT Central's `Event`).
    pub fn with_co_type(mut self, co_type: impl Into<String>) -> Self {
        self.co_types.push(co_type.into());
        self
    }
}

impl Serialize for TelemetryInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = TypeEntry {
            kind: "Telemetry",
            co_types: &self.co_types,
            semantic_type: self.semantic_type.as_deref(),
        };
        entry(&mut map, "@type", &kind)?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        entry_opt(&mut map, "unit", &self.unit)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        for (key, value) in &self.undefined {
            entry(&mut map, key, value)?;
        }
        map.end()
    }
}

/// A DTDL v2 `Property`: device state reported in the twin, optionally writable from the cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyInfo {
    /// `@id`, when the model gives the element one.
    pub id: Option<String>,
    /// `name`: the key in the twin's reported (and desired) properties.
    pub name: String,
    /// `schema`: the value's schema (DTDL v2 forbids Arrays anywhere inside it).
    pub schema: Schema,
    /// Co-types in `@type` other than the semantic type (see [`TelemetryInfo::co_types`]).
    pub co_types: Vec<String>,
    /// The semantic type added to `@type` (e.g. `Temperature`); requires `unit` and a numeric
    /// schema. Written last in `@type`.
    pub semantic_type: Option<String>,
    /// `unit` (e.g. `degreeCelsius`): one of the semantic type's units.
    pub unit: Option<String>,
    /// `writable`: the cloud may set it and the device acknowledges. Serialized only when
    /// `true` (DTDL's default is `false`).
    pub writable: bool,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
    /// Properties no context defines, kept as written (see [`TelemetryInfo::undefined`]).
    pub undefined: BTreeMap<String, serde_json::Value>,
}

impl PropertyInfo {
    /// A read-only property named `name` without semantic type or display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        PropertyInfo {
            id: None,
            name: name.into(),
            schema,
            co_types: Vec::new(),
            semantic_type: None,
            unit: None,
            writable: false,
            display_name: None,
            description: None,
            comment: None,
            undefined: BTreeMap::new(),
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

    /// Adds a co-type that is not a semantic type (e.g. IoT Central's `State`).
    pub fn with_co_type(mut self, co_type: impl Into<String>) -> Self {
        self.co_types.push(co_type.into());
        self
    }
}

impl Serialize for PropertyInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = TypeEntry {
            kind: "Property",
            co_types: &self.co_types,
            semantic_type: self.semantic_type.as_deref(),
        };
        entry(&mut map, "@type", &kind)?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        entry_opt(&mut map, "unit", &self.unit)?;
        if self.writable {
            entry(&mut map, "writable", &true)?;
        }
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        for (key, value) in &self.undefined {
            entry(&mut map, key, value)?;
        }
        map.end()
    }
}

/// A DTDL v2 `Command`: a direct method the cloud invokes, with optional request and response.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandInfo {
    /// `@id`, when the model gives the element one.
    pub id: Option<String>,
    /// `name`: the method name (`{component}*{name}` on the wire for a component's command).
    pub name: String,
    /// `request`: the payload the cloud sends, if any.
    pub request: Option<CommandPayloadInfo>,
    /// `response`: the payload the device answers with, if any.
    pub response: Option<CommandPayloadInfo>,
    /// `commandType` (`synchronous` or `asynchronous`): deprecated in DTDL v2, where both
    /// mean the same; kept when a model has it.
    pub command_type: Option<String>,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl CommandInfo {
    /// A command named `name` without request, response or display strings.
    pub fn new(name: impl Into<String>) -> Self {
        CommandInfo {
            id: None,
            name: name.into(),
            request: None,
            response: None,
            command_type: None,
            display_name: None,
            description: None,
            comment: None,
        }
    }

    /// Sets the request payload.
    pub fn with_request(mut self, request: CommandPayloadInfo) -> Self {
        self.request = Some(request);
        self
    }

    /// Sets the response payload.
    pub fn with_response(mut self, response: CommandPayloadInfo) -> Self {
        self.response = Some(response);
        self
    }
}

impl Serialize for CommandInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Command")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry_opt(&mut map, "commandType", &self.command_type)?;
        entry_opt(&mut map, "request", &self.request)?;
        entry_opt(&mut map, "response", &self.response)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

/// A DTDL v2 `CommandPayload`: the `request` or `response` of a [`CommandInfo`].
#[derive(Clone, Debug, PartialEq)]
pub struct CommandPayloadInfo {
    /// `@id`, when the model gives the element one.
    pub id: Option<String>,
    /// `name`: metadata only (the payload on the wire is the bare value).
    pub name: String,
    /// `schema`: the payload's schema.
    pub schema: Schema,
    /// Whether `"@type": "CommandPayload"` is written (it is optional in DTDL v2; `false` for
    /// payloads built with [`CommandPayloadInfo::new`]).
    pub typed: bool,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl CommandPayloadInfo {
    /// A payload named `name`, without `@type` or display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        CommandPayloadInfo {
            id: None,
            name: name.into(),
            schema,
            typed: false,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for CommandPayloadInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.typed {
            entry(&mut map, "@type", "CommandPayload")?;
        }
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

/// A DTDL v2 `Component`: another interface included by value under a name.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentInfo {
    /// `@id`, when the model gives the element one.
    pub id: Option<String>,
    /// `name`: the component name on the wire (`$.sub`, `{"name": {"__t": "c", ...}}`,
    /// `name*command`).
    pub name: String,
    /// `schema`: the DTMI of the component's interface.
    pub schema: String,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors (at most 512 characters).
    pub comment: Option<String>,
}

impl ComponentInfo {
    /// A component named `name` of the interface with DTMI `schema`, without display strings.
    pub fn new(name: impl Into<String>, schema: impl Into<String>) -> Self {
        ComponentInfo {
            id: None,
            name: name.into(),
            schema: schema.into(),
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for ComponentInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Component")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        entry_opt(&mut map, "comment", &self.comment)?;
        map.end()
    }
}

meta_setters!(
    TelemetryInfo,
    PropertyInfo,
    CommandInfo,
    CommandPayloadInfo,
    ComponentInfo
);

impl InterfaceInfo {
    /// Sets `displayName` (a plain string is the English text).
    pub fn with_display_name(mut self, display_name: impl Into<LocalizedString>) -> Self {
        self.display_name = Some(display_name.into());
        self
    }

    /// Sets `description` (a plain string is the English text).
    pub fn with_description(mut self, description: impl Into<LocalizedString>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `comment`.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}
