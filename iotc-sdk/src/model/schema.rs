//! DTDL v2 schemas: the primitive schemas, the geospatial schemas, IoT Central's `geopoint` and
//! `vector`, references to interface schemas by DTMI, and the complex `Array`, `Enum`, `Map`
//! and `Object`.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::json::{display_entries, entry, entry_opt, meta_setters};
use super::LocalizedString;

/// A DTDL v2 schema: the type of a telemetry value, a property, a command payload, an object
/// field, an array element or a map value.
///
/// Primitive schemas serialize to their DTDL term (`"double"`); complex ones to an inline
/// schema object (`{"@type": "Object", "fields": [...]}`).
///
/// ```
/// use iotc_sdk::model::{ArraySchema, Schema};
/// let schema = Schema::array(Schema::Double);
/// assert_eq!(
///     serde_json::to_string(&schema).unwrap(),
///     r#"{"@type":"Array","elementSchema":"double"}"#
/// );
/// assert_eq!(serde_json::to_string(&Schema::DateTime).unwrap(), r#""dateTime""#);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    /// `boolean`: `true` or `false`.
    Boolean,
    /// `date`: an RFC 3339 full date, `"2020-05-17"`.
    Date,
    /// `dateTime`: an RFC 3339 date-time, `"2020-08-30T19:16:13.853Z"`.
    DateTime,
    /// `double`: a finite IEEE 754 double.
    Double,
    /// `duration`: an ISO 8601 duration, `"PT10H24M6.5S"`.
    Duration,
    /// `float`: a finite IEEE 754 single.
    Float,
    /// `integer`: a signed 32-bit integer.
    Integer,
    /// `long`: a signed 64-bit integer.
    Long,
    /// `string`: a UTF-8 string.
    String,
    /// `time`: an RFC 3339 partial time, `"13:45:00"`.
    Time,
    /// `point`: a GeoJSON Point (`{"type": "Point", "coordinates": [lon, lat]}`).
    Point,
    /// `lineString`: a GeoJSON LineString.
    LineString,
    /// `polygon`: a GeoJSON Polygon.
    Polygon,
    /// `multiPoint`: a GeoJSON MultiPoint.
    MultiPoint,
    /// `multiLineString`: a GeoJSON MultiLineString.
    MultiLineString,
    /// `multiPolygon`: a GeoJSON MultiPolygon.
    MultiPolygon,
    /// `geopoint` (IoT Central extension): `{"lat": .., "lon": .., "alt": ..}`.
    GeoPoint,
    /// `vector` (IoT Central extension): `{"x": .., "y": .., "z": ..}`.
    Vector,
    /// A reference by DTMI to a schema in an interface's `schemas`.
    Ref(std::string::String),
    /// `Array`: a JSON array of one element schema.
    Array(Box<ArraySchema>),
    /// `Enum`: a fixed set of integer or string values.
    Enum(EnumSchema),
    /// `Map`: a JSON object with string keys and values of one schema.
    Map(Box<MapSchema>),
    /// `Object`: a JSON object with named fields.
    Object(ObjectSchema),
}

/// The primitive schema terms (DTDL v2, then IoT Central's extension) and their schemas.
const TERMS: &[(&str, Schema)] = &[
    ("boolean", Schema::Boolean),
    ("date", Schema::Date),
    ("dateTime", Schema::DateTime),
    ("double", Schema::Double),
    ("duration", Schema::Duration),
    ("float", Schema::Float),
    ("integer", Schema::Integer),
    ("long", Schema::Long),
    ("string", Schema::String),
    ("time", Schema::Time),
    ("point", Schema::Point),
    ("lineString", Schema::LineString),
    ("polygon", Schema::Polygon),
    ("multiPoint", Schema::MultiPoint),
    ("multiLineString", Schema::MultiLineString),
    ("multiPolygon", Schema::MultiPolygon),
    ("geopoint", Schema::GeoPoint),
    ("vector", Schema::Vector),
];

impl Schema {
    /// An `Array` of `element_schema`, without display strings.
    pub fn array(element_schema: Schema) -> Self {
        Schema::Array(Box::new(ArraySchema::new(element_schema)))
    }

    /// A `Map` from string keys (named `key`) to `value_schema` values (named `value`), without
    /// display strings.
    pub fn map(value_schema: Schema) -> Self {
        Schema::Map(Box::new(MapSchema::new(value_schema)))
    }

    /// An `Object` with these fields, without display strings.
    pub fn object(fields: Vec<Field>) -> Self {
        Schema::Object(ObjectSchema::new(fields))
    }

    /// A reference to the interface schema with this DTMI.
    pub fn reference(id: impl Into<std::string::String>) -> Self {
        Schema::Ref(id.into())
    }

    /// The schema a primitive term names (`"double"`, `"geopoint"`), if any.
    pub fn from_term(term: &str) -> Option<Schema> {
        TERMS
            .iter()
            .find(|(name, _)| *name == term)
            .map(|(_, schema)| schema.clone())
    }

    /// The DTDL term of a primitive schema (`"double"`), or `None` for a reference or a
    /// complex schema.
    pub fn primitive_name(&self) -> Option<&'static str> {
        TERMS
            .iter()
            .find(|(_, schema)| schema == self)
            .map(|(name, _)| *name)
    }

    /// Whether this term belongs to IoT Central's extension (`geopoint`, `vector`), whose
    /// context a model using it must declare.
    pub fn is_iotcentral(&self) -> bool {
        matches!(self, Schema::GeoPoint | Schema::Vector)
    }

    /// The `@id` of a complex schema that has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Schema::Array(array) => array.id.as_deref(),
            Schema::Enum(schema) => schema.id.as_deref(),
            Schema::Map(map) => map.id.as_deref(),
            Schema::Object(object) => object.id.as_deref(),
            _ => None,
        }
    }

    /// Whether this is `double`, `float`, `integer` or `long`, the schemas a semantic type
    /// (with a unit) may be applied to.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Schema::Double | Schema::Float | Schema::Integer | Schema::Long
        )
    }

    /// Whether an `Array` occurs anywhere in this schema, geospatial schemas included (DTDL
    /// v2 forbids that in properties). A [`Schema::Ref`] counts as none: resolve it first.
    pub fn contains_array(&self) -> bool {
        match self {
            Schema::Array(_)
            | Schema::Point
            | Schema::LineString
            | Schema::Polygon
            | Schema::MultiPoint
            | Schema::MultiLineString
            | Schema::MultiPolygon => true,
            Schema::Map(map) => map.value.schema.contains_array(),
            Schema::Object(object) => object.fields.iter().any(|f| f.schema.contains_array()),
            _ => false,
        }
    }

    /// How deeply complex schemas nest here: 0 for a primitive schema (or a reference), 1 for
    /// an `Array` of a primitive, and so on. DTDL v2 allows at most 5.
    pub fn depth(&self) -> usize {
        match self {
            Schema::Array(array) => 1 + array.element_schema.depth(),
            Schema::Enum(_) => 1,
            Schema::Map(map) => 1 + map.value.schema.depth(),
            Schema::Object(object) => {
                1 + object
                    .fields
                    .iter()
                    .map(|f| f.schema.depth())
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(name) = self.primitive_name() {
            return serializer.serialize_str(name);
        }
        match self {
            Schema::Ref(id) => serializer.serialize_str(id),
            Schema::Array(array) => array.serialize(serializer),
            Schema::Enum(schema) => schema.serialize(serializer),
            Schema::Map(map) => map.serialize(serializer),
            Schema::Object(object) => object.serialize(serializer),
            // Primitive schemas returned above.
            _ => serializer.serialize_unit(),
        }
    }
}

/// Writes `@id`, `displayName`, `description` and `comment` of a schema element.
fn meta<M: SerializeMap>(
    map: &mut M,
    display_name: &Option<LocalizedString>,
    description: &Option<LocalizedString>,
    comment: &Option<std::string::String>,
) -> Result<(), M::Error> {
    display_entries(map, display_name, description)?;
    entry_opt(map, "comment", comment)
}

/// An `Array` schema: `{"@type": "Array", "elementSchema": ...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArraySchema {
    /// `@id`: required in an interface's `schemas`, optional inline.
    pub id: Option<std::string::String>,
    /// The schema of every element.
    pub element_schema: Schema,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl ArraySchema {
    /// An array of `element_schema`, without display strings.
    pub fn new(element_schema: Schema) -> Self {
        ArraySchema {
            id: None,
            element_schema,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for ArraySchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Array")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "elementSchema", &self.element_schema)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// The `valueSchema` of an [`EnumSchema`]: DTDL allows only `integer` and `string`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnumValueSchema {
    /// `integer` values.
    Integer,
    /// `string` values.
    String,
}

impl EnumValueSchema {
    /// The DTDL term: `"integer"` or `"string"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnumValueSchema::Integer => "integer",
            EnumValueSchema::String => "string",
        }
    }
}

impl Serialize for EnumValueSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An `Enum` schema: `{"@type": "Enum", "valueSchema": "string", "enumValues": [...]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumSchema {
    /// `@id`: required in an interface's `schemas`, optional inline.
    pub id: Option<std::string::String>,
    /// Whether the values are integers or strings.
    pub value_schema: EnumValueSchema,
    /// The values (1 to 100 in DTDL v2), each with a name and the value sent on the wire.
    pub values: Vec<EnumValue>,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl EnumSchema {
    /// An enum with these values, without display strings.
    pub fn new(value_schema: EnumValueSchema, values: Vec<EnumValue>) -> Self {
        EnumSchema {
            id: None,
            value_schema,
            values,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for EnumSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Enum")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "valueSchema", &self.value_schema)?;
        entry(&mut map, "enumValues", &self.values)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// One value of an [`EnumSchema`]: `{"name": "heat", "enumValue": "heat"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumValue {
    /// `@id`, when the model gives the value one.
    pub id: Option<std::string::String>,
    /// The value's DTDL name (metadata; not sent on the wire).
    pub name: std::string::String,
    /// The value sent on the wire.
    pub value: EnumValueKind,
    /// Whether `"@type": "EnumValue"` is written (optional in DTDL v2; `false` for values
    /// built here).
    pub typed: bool,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl EnumValue {
    /// A value named `name`, without display strings.
    pub fn new(name: impl Into<std::string::String>, value: EnumValueKind) -> Self {
        EnumValue {
            id: None,
            name: name.into(),
            value,
            typed: false,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for EnumValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.typed {
            entry(&mut map, "@type", "EnumValue")?;
        }
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "enumValue", &self.value)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// The wire value of an [`EnumValue`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnumValueKind {
    /// An `integer` value.
    Integer(i32),
    /// A `string` value.
    String(std::string::String),
}

impl Serialize for EnumValueKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EnumValueKind::Integer(value) => serializer.serialize_i32(*value),
            EnumValueKind::String(value) => serializer.serialize_str(value),
        }
    }
}

/// A `Map` schema: `{"@type": "Map", "mapKey": {"name": ..., "schema": "string"},
/// "mapValue": {"name": ..., "schema": ...}}`. Map keys are always strings.
#[derive(Clone, Debug, PartialEq)]
pub struct MapSchema {
    /// `@id`: required in an interface's `schemas`, optional inline.
    pub id: Option<std::string::String>,
    /// `mapKey`: the key's name and metadata (its schema is always `string`).
    pub key: MapKey,
    /// `mapValue`: the value's name, schema and metadata.
    pub value: MapValue,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl MapSchema {
    /// A map with keys named `key` and values named `value`, without display strings.
    pub fn new(value_schema: Schema) -> Self {
        MapSchema {
            id: None,
            key: MapKey::new("key"),
            value: MapValue::new("value", value_schema),
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for MapSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Map")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "mapKey", &self.key)?;
        entry(&mut map, "mapValue", &self.value)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// The `mapKey` of a [`MapSchema`]: a name (metadata) for keys whose schema is `string`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapKey {
    /// `@id`, when the model gives it one.
    pub id: Option<std::string::String>,
    /// `name` (metadata only).
    pub name: std::string::String,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl MapKey {
    /// A key named `name`.
    pub fn new(name: impl Into<std::string::String>) -> Self {
        MapKey {
            id: None,
            name: name.into(),
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for MapKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &Schema::String)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// The `mapValue` of a [`MapSchema`]: a name (metadata) and the schema of every value. DTDL
/// gives it exactly the properties of an Object's field (`@id`, `name`, `schema` and the display
/// strings), and it is written the same way, so it is a [`Field`].
pub type MapValue = Field;

/// An `Object` schema: `{"@type": "Object", "fields": [...]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectSchema {
    /// `@id`: required in an interface's `schemas`, optional inline.
    pub id: Option<std::string::String>,
    /// The fields (1 to 30 in DTDL v2).
    pub fields: Vec<Field>,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl ObjectSchema {
    /// An object with these fields, without display strings.
    pub fn new(fields: Vec<Field>) -> Self {
        ObjectSchema {
            id: None,
            fields,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for ObjectSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Object")?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "fields", &self.fields)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

/// One field of an [`ObjectSchema`] (`{"name": "maxTemp", "schema": "double"}`), and the
/// value of a [`MapSchema`] ([`MapValue`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// `@id`, when the model gives the field one.
    pub id: Option<std::string::String>,
    /// The field's name: its key in the JSON object.
    pub name: std::string::String,
    /// The field's schema.
    pub schema: Schema,
    /// `displayName` (at most 64 characters per language).
    pub display_name: Option<LocalizedString>,
    /// `description` (at most 512 characters per language).
    pub description: Option<LocalizedString>,
    /// `comment`, for model authors.
    pub comment: Option<std::string::String>,
}

impl Field {
    /// A field named `name`, without display strings.
    pub fn new(name: impl Into<std::string::String>, schema: Schema) -> Self {
        Field {
            id: None,
            name: name.into(),
            schema,
            display_name: None,
            description: None,
            comment: None,
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry_opt(&mut map, "@id", &self.id)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        meta(
            &mut map,
            &self.display_name,
            &self.description,
            &self.comment,
        )?;
        map.end()
    }
}

meta_setters!(
    ArraySchema,
    EnumSchema,
    EnumValue,
    MapSchema,
    MapKey,
    ObjectSchema,
    Field
);
