//! DTDL v2 schemas: the primitive schemas and the complex `Array`, `Enum`, `Map` and `Object`.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::json::{display_entries, entry};

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
    /// `Array`: a JSON array of one element schema.
    Array(Box<ArraySchema>),
    /// `Enum`: a fixed set of integer or string values.
    Enum(EnumSchema),
    /// `Map`: a JSON object with string keys and values of one schema.
    Map(Box<MapSchema>),
    /// `Object`: a JSON object with named fields.
    Object(ObjectSchema),
}

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

    /// The DTDL term of a primitive schema (`"double"`), or `None` for a complex schema.
    pub fn primitive_name(&self) -> Option<&'static str> {
        Some(match self {
            Schema::Boolean => "boolean",
            Schema::Date => "date",
            Schema::DateTime => "dateTime",
            Schema::Double => "double",
            Schema::Duration => "duration",
            Schema::Float => "float",
            Schema::Integer => "integer",
            Schema::Long => "long",
            Schema::String => "string",
            Schema::Time => "time",
            Schema::Array(_) | Schema::Enum(_) | Schema::Map(_) | Schema::Object(_) => return None,
        })
    }

    /// Whether this is `double`, `float`, `integer` or `long`, the schemas a semantic type
    /// (with a unit) may be applied to.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Schema::Double | Schema::Float | Schema::Integer | Schema::Long
        )
    }

    /// Whether an `Array` occurs anywhere in this schema (DTDL v2 forbids that in properties).
    pub fn contains_array(&self) -> bool {
        match self {
            Schema::Array(_) => true,
            Schema::Map(map) => map.value_schema.contains_array(),
            Schema::Object(object) => object.fields.iter().any(|f| f.schema.contains_array()),
            _ => false,
        }
    }

    /// How deeply complex schemas nest here: 0 for a primitive schema, 1 for an `Array` of a
    /// primitive, and so on. DTDL v2 allows at most 5.
    pub fn depth(&self) -> usize {
        match self {
            Schema::Array(array) => 1 + array.element_schema.depth(),
            Schema::Enum(_) => 1,
            Schema::Map(map) => 1 + map.value_schema.depth(),
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
            Schema::Array(array) => array.serialize(serializer),
            Schema::Enum(schema) => schema.serialize(serializer),
            Schema::Map(map) => map.serialize(serializer),
            Schema::Object(object) => object.serialize(serializer),
            // Primitive schemas returned above.
            _ => serializer.serialize_unit(),
        }
    }
}

/// An `Array` schema: `{"@type": "Array", "elementSchema": ...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArraySchema {
    /// The schema of every element.
    pub element_schema: Schema,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl ArraySchema {
    /// An array of `element_schema`, without display strings.
    pub fn new(element_schema: Schema) -> Self {
        ArraySchema {
            element_schema,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for ArraySchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Array")?;
        entry(&mut map, "elementSchema", &self.element_schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
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
    /// Whether the values are integers or strings.
    pub value_schema: EnumValueSchema,
    /// The values (1 to 100 in DTDL v2), each with a name and the value sent on the wire.
    pub values: Vec<EnumValue>,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl EnumSchema {
    /// An enum with these values, without display strings.
    pub fn new(value_schema: EnumValueSchema, values: Vec<EnumValue>) -> Self {
        EnumSchema {
            value_schema,
            values,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for EnumSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Enum")?;
        entry(&mut map, "valueSchema", &self.value_schema)?;
        entry(&mut map, "enumValues", &self.values)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

/// One value of an [`EnumSchema`]: `{"name": "heat", "enumValue": "heat"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumValue {
    /// The value's DTDL name (metadata; not sent on the wire).
    pub name: String,
    /// The value sent on the wire.
    pub value: EnumValueKind,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl EnumValue {
    /// A value named `name`, without display strings.
    pub fn new(name: impl Into<String>, value: EnumValueKind) -> Self {
        EnumValue {
            name: name.into(),
            value,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for EnumValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "enumValue", &self.value)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

/// The wire value of an [`EnumValue`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnumValueKind {
    /// An `integer` value.
    Integer(i32),
    /// A `string` value.
    String(String),
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
    /// The name of the key (metadata; `mapKey.name`).
    pub key_name: String,
    /// The name of the value (metadata; `mapValue.name`).
    pub value_name: String,
    /// The schema of every value.
    pub value_schema: Schema,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl MapSchema {
    /// A map with keys named `key` and values named `value`, without display strings.
    pub fn new(value_schema: Schema) -> Self {
        MapSchema {
            key_name: "key".to_owned(),
            value_name: "value".to_owned(),
            value_schema,
            display_name: None,
            description: None,
        }
    }
}

/// `mapKey` / `mapValue`.
struct MapPart<'a> {
    name: &'a str,
    schema: &'a Schema,
}

impl Serialize for MapPart<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        entry(&mut map, "name", self.name)?;
        entry(&mut map, "schema", self.schema)?;
        map.end()
    }
}

impl Serialize for MapSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Map")?;
        entry(
            &mut map,
            "mapKey",
            &MapPart {
                name: &self.key_name,
                schema: &Schema::String,
            },
        )?;
        entry(
            &mut map,
            "mapValue",
            &MapPart {
                name: &self.value_name,
                schema: &self.value_schema,
            },
        )?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

/// An `Object` schema: `{"@type": "Object", "fields": [...]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectSchema {
    /// The fields (1 to 30 in DTDL v2).
    pub fields: Vec<Field>,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl ObjectSchema {
    /// An object with these fields, without display strings.
    pub fn new(fields: Vec<Field>) -> Self {
        ObjectSchema {
            fields,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for ObjectSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "@type", "Object")?;
        entry(&mut map, "fields", &self.fields)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}

/// One field of an [`ObjectSchema`]: `{"name": "maxTemp", "schema": "double"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The field's name: its key in the JSON object.
    pub name: String,
    /// The field's schema.
    pub schema: Schema,
    /// `displayName` (at most 64 characters).
    pub display_name: Option<String>,
    /// `description` (at most 512 characters).
    pub description: Option<String>,
}

impl Field {
    /// A field named `name`, without display strings.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        Field {
            name: name.into(),
            schema,
            display_name: None,
            description: None,
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "name", &self.name)?;
        entry(&mut map, "schema", &self.schema)?;
        display_entries(&mut map, &self.display_name, &self.description)?;
        map.end()
    }
}
