//! Reading DTDL v2 JSON into the model types: [`InterfaceInfo::from_json`] and
//! [`InterfaceInfo::from_value`].
//!
//! A document is one Interface object, an array of them, or an IoT Central device template
//! (an object whose `capabilityModel` is the root interface). Interfaces written inline as a
//! Component's `schema` (as IoT Central exports them) are read as interfaces of their own,
//! after the one that holds them, and the Component refers to them by `@id`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{
    ArraySchema, CommandInfo, CommandPayloadInfo, ComponentInfo, ContentInfo, EnumSchema,
    EnumValue, EnumValueKind, EnumValueSchema, Field, InterfaceInfo, LocalizedString, MapKey,
    MapSchema, MapValue, ObjectSchema, PropertyInfo, Schema, TelemetryInfo,
};

/// Why a DTDL document could not be read; every variant but `Json` names the element's path
/// (`dtmi:com:example:Thermostat;1 contents[1] (targetTemperature).schema`).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A required property is missing.
    #[error("{path}: missing `{key}`")]
    Missing {
        /// Where.
        path: String,
        /// The missing property.
        key: &'static str,
    },
    /// A value has the wrong JSON type.
    #[error("{path}: expected {expected}")]
    WrongType {
        /// Where.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A property that the element's type does not have.
    #[error("{path}: unknown property `{key}`")]
    UnknownProperty {
        /// Where.
        path: String,
        /// The property.
        key: String,
    },
    /// A value that DTDL v2 does not allow there.
    #[error("{path}: {message}")]
    Invalid {
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn wrong(path: &str, expected: &'static str) -> ParseError {
    ParseError::WrongType {
        path: path.to_owned(),
        expected,
    }
}

fn invalid(path: &str, message: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl InterfaceInfo {
    /// Reads a DTDL v2 document: one Interface, an array of Interfaces, or an IoT Central
    /// device template. Returns every interface in document order (inline component
    /// interfaces after the interface that holds them).
    ///
    /// ```
    /// use iotc_sdk::model::{InterfaceInfo, Schema};
    /// let json = r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:T;1",
    ///   "@type": "Interface", "displayName": {"en": "T", "de": "T (de)"},
    ///   "contents": [{"@type": "Telemetry", "name": "t", "schema": "double"}]}"#;
    /// let interfaces = InterfaceInfo::from_json(json).unwrap();
    /// assert_eq!(interfaces[0].display_name.as_ref().unwrap().get("de"), Some("T (de)"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ParseError`], naming the path of the element that is wrong.
    pub fn from_json(json: &str) -> Result<Vec<InterfaceInfo>, ParseError> {
        let value: Value = serde_json::from_str(json)?;
        Self::from_value(&value)
    }

    /// [`InterfaceInfo::from_json`] on a parsed JSON value.
    ///
    /// # Errors
    ///
    /// [`ParseError`], naming the path of the element that is wrong.
    pub fn from_value(value: &Value) -> Result<Vec<InterfaceInfo>, ParseError> {
        let mut out = Vec::new();
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    interface(item, &format!("[{i}]"), None, &mut out)?;
                }
            }
            Value::Object(object) if object.contains_key("capabilityModel") => {
                let context = object.get("@context");
                let model = object.get("capabilityModel").unwrap_or(&Value::Null);
                interface(model, "capabilityModel", context, &mut out)?;
            }
            Value::Object(_) => interface(value, "", None, &mut out)?,
            _ => return Err(wrong("document", "an Interface object or an array of them")),
        }
        Ok(out)
    }
}

/// The properties of one JSON object, read one by one so that unknown ones are caught.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, path: String, what: &'static str) -> Result<Self, ParseError> {
        match value {
            Value::Object(map) => Ok(Obj {
                path,
                map,
                seen: Vec::new(),
            }),
            _ => Err(wrong(&path, what)),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.seen.push(key);
        self.map.get(key)
    }

    fn req(&mut self, key: &'static str) -> Result<&'a Value, ParseError> {
        self.get(key).ok_or_else(|| ParseError::Missing {
            path: self.path.clone(),
            key,
        })
    }

    fn string(&mut self, key: &'static str) -> Result<String, ParseError> {
        let at = self.at(key);
        self.req(key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong(&at, "a string"))
    }

    fn opt_string(&mut self, key: &'static str) -> Result<Option<String>, ParseError> {
        let at = self.at(key);
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(&at, "a string")),
        }
    }

    fn localized(&mut self, key: &'static str) -> Result<Option<LocalizedString>, ParseError> {
        let at = self.at(key);
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(LocalizedString::from(s.as_str()))),
            Some(Value::Object(map)) => {
                let mut text = LocalizedString::new();
                for (language, value) in map {
                    let value = value
                        .as_str()
                        .ok_or_else(|| wrong(&format!("{at}.{language}"), "a string"))?;
                    text.insert(language.clone(), value);
                }
                Ok(Some(text))
            }
            Some(_) => Err(wrong(&at, "a string or a language map")),
        }
    }

    /// `@type` as a list: the first entry must be `kind`; returns the co-types after it.
    fn kind(
        &mut self,
        kind: &'static str,
        required: bool,
    ) -> Result<(Vec<String>, bool), ParseError> {
        let at = self.at("@type");
        let types = match self.get("@type") {
            None if required => {
                return Err(ParseError::Missing {
                    path: self.path.clone(),
                    key: "@type",
                })
            }
            None => return Ok((Vec::new(), false)),
            Some(value) => string_list(value, &at)?,
        };
        match types.split_first() {
            Some((first, rest)) if first == kind => Ok((rest.to_vec(), true)),
            _ => Err(invalid(&at, format!("expected `{kind}` first"))),
        }
    }

    /// Every property not read yet: an error, unless `undefined` collects them.
    fn finish(self, mut undefined: Option<&mut BTreeMap<String, Value>>) -> Result<(), ParseError> {
        for (key, value) in self.map {
            if self.seen.contains(&key.as_str()) {
                continue;
            }
            match undefined.as_deref_mut() {
                Some(undefined) => {
                    undefined.insert(key.clone(), value.clone());
                }
                None => {
                    return Err(ParseError::UnknownProperty {
                        path: self.path.clone(),
                        key: key.clone(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// A string, or an array of strings.
fn string_list(value: &Value, path: &str) -> Result<Vec<String>, ParseError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong(path, "a string or an array of strings"))
            })
            .collect(),
        _ => Err(wrong(path, "a string or an array of strings")),
    }
}

fn interface(
    value: &Value,
    path: &str,
    outer_context: Option<&Value>,
    out: &mut Vec<InterfaceInfo>,
) -> Result<(), ParseError> {
    let label = value
        .get("@id")
        .and_then(Value::as_str)
        .map(|id| {
            if path.is_empty() {
                id.to_owned()
            } else {
                format!("{path} {id}")
            }
        })
        .unwrap_or_else(|| path.to_owned());
    let mut o = Obj::new(value, label, "an Interface object")?;
    let context = match o.get("@context").or(outer_context) {
        Some(context) => string_list(context, &o.at("@context"))?,
        None => Vec::new(),
    };
    let id = o.string("@id")?;
    let (co_types, _) = o.kind("Interface", true)?;
    let mut info = InterfaceInfo::new(id);
    info.context = context;
    info.co_types = co_types;
    info.display_name = o.localized("displayName")?;
    info.description = o.localized("description")?;
    info.comment = o.opt_string("comment")?;
    if let Some(extends) = o.get("extends") {
        let at = o.at("extends");
        let items: Vec<&Value> = match extends {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(id) => info.extends.push(id.clone()),
                Value::Object(_) => {
                    return Err(invalid(
                        &format!("{at}[{i}]"),
                        "an inline Interface in `extends` is not supported: give it an `@id` \
                         and refer to it by that DTMI",
                    ))
                }
                _ => return Err(wrong(&at, "a DTMI or an array of DTMIs")),
            }
        }
    }
    let mut inline = Vec::new();
    if let Some(contents) = o.get("contents") {
        let at = o.at("contents");
        let items = contents.as_array().ok_or_else(|| wrong(&at, "an array"))?;
        for (i, item) in items.iter().enumerate() {
            info.contents
                .push(content(item, &format!("{at}[{i}]"), &mut inline)?);
        }
    }
    if let Some(schemas) = o.get("schemas") {
        let at = o.at("schemas");
        let items: Vec<&Value> = match schemas {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("{at}[{i}]");
            let parsed = schema(item, &at)?;
            if parsed.id().is_none() {
                return Err(ParseError::Missing {
                    path: at,
                    key: "@id",
                });
            }
            info.schemas.push(parsed);
        }
    }
    o.finish(None)?;
    // An inline component interface is in the document of the interface that holds it.
    for component in &mut inline {
        if component.context.is_empty() {
            component.context = info.context.clone();
        }
    }
    out.push(info);
    out.append(&mut inline);
    Ok(())
}

fn content(
    value: &Value,
    path: &str,
    inline: &mut Vec<InterfaceInfo>,
) -> Result<ContentInfo, ParseError> {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
    let mut o = Obj::new(value, format!("{path} ({name})"), "a content object")?;
    let at = o.at("@type");
    let types = string_list(o.req("@type")?, &at)?;
    let (kind, co_types) = types
        .split_first()
        .ok_or_else(|| invalid(&at, "empty @type"))?;
    let co_types = co_types.to_vec();
    let id = o.opt_string("@id")?;
    let name = o.string("name")?;
    let display_name = o.localized("displayName")?;
    let description = o.localized("description")?;
    let comment = o.opt_string("comment")?;
    match kind.as_str() {
        "Telemetry" | "Property" => {
            let schema_at = o.at("schema");
            let schema = schema(o.req("schema")?, &schema_at)?;
            let unit = o.opt_string("unit")?;
            let (co_types, semantic_type) = split_semantic(co_types, unit.is_some());
            let mut undefined = BTreeMap::new();
            if kind == "Telemetry" {
                let telemetry = TelemetryInfo {
                    id,
                    name,
                    schema,
                    co_types,
                    semantic_type,
                    unit,
                    display_name,
                    description,
                    comment,
                    undefined: BTreeMap::new(),
                };
                let allow = !telemetry.co_types.is_empty() || telemetry.semantic_type.is_some();
                o.finish(allow.then_some(&mut undefined))?;
                Ok(ContentInfo::Telemetry(TelemetryInfo {
                    undefined,
                    ..telemetry
                }))
            } else {
                let writable_at = o.at("writable");
                let writable = match o.get("writable") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(wrong(&writable_at, "a boolean")),
                };
                let property = PropertyInfo {
                    id,
                    name,
                    schema,
                    co_types,
                    semantic_type,
                    unit,
                    writable,
                    display_name,
                    description,
                    comment,
                    undefined: BTreeMap::new(),
                };
                let allow = !property.co_types.is_empty() || property.semantic_type.is_some();
                o.finish(allow.then_some(&mut undefined))?;
                Ok(ContentInfo::Property(PropertyInfo {
                    undefined,
                    ..property
                }))
            }
        }
        "Command" => {
            no_co_types(&co_types, &at)?;
            let command_type = o.opt_string("commandType")?;
            let request_at = o.at("request");
            let request = o
                .get("request")
                .map(|v| payload(v, &request_at))
                .transpose()?;
            let response_at = o.at("response");
            let response = o
                .get("response")
                .map(|v| payload(v, &response_at))
                .transpose()?;
            o.finish(None)?;
            Ok(ContentInfo::Command(CommandInfo {
                id,
                name,
                request,
                response,
                command_type,
                display_name,
                description,
                comment,
            }))
        }
        "Component" => {
            no_co_types(&co_types, &at)?;
            let schema_at = o.at("schema");
            let schema = match o.req("schema")? {
                Value::String(id) => id.clone(),
                object @ Value::Object(_) => {
                    let first = inline.len();
                    interface(object, &schema_at, None, inline)?;
                    inline[first].id.clone()
                }
                _ => return Err(wrong(&schema_at, "a DTMI or an Interface object")),
            };
            o.finish(None)?;
            Ok(ContentInfo::Component(ComponentInfo {
                id,
                name,
                schema,
                display_name,
                description,
                comment,
            }))
        }
        other => Err(invalid(
            &at,
            format!(
                "`{other}` contents are not supported (Telemetry, Property, Command, Component)"
            ),
        )),
    }
}

/// With a `unit`, the last co-type is the semantic type the unit belongs to.
fn split_semantic(mut co_types: Vec<String>, has_unit: bool) -> (Vec<String>, Option<String>) {
    let semantic_type = if has_unit { co_types.pop() } else { None };
    (co_types, semantic_type)
}

fn no_co_types(co_types: &[String], at: &str) -> Result<(), ParseError> {
    match co_types.first() {
        Some(extra) => Err(invalid(at, format!("unexpected co-type `{extra}`"))),
        None => Ok(()),
    }
}

fn payload(value: &Value, path: &str) -> Result<CommandPayloadInfo, ParseError> {
    let mut o = Obj::new(value, path.to_owned(), "a CommandPayload object")?;
    let (co_types, typed) = o.kind("CommandPayload", false)?;
    no_co_types(&co_types, &o.at("@type"))?;
    let schema_at = o.at("schema");
    let info = CommandPayloadInfo {
        id: o.opt_string("@id")?,
        name: o.string("name")?,
        schema: schema(o.req("schema")?, &schema_at)?,
        typed,
        display_name: o.localized("displayName")?,
        description: o.localized("description")?,
        comment: o.opt_string("comment")?,
    };
    o.finish(None)?;
    Ok(info)
}

fn schema(value: &Value, path: &str) -> Result<Schema, ParseError> {
    let object = match value {
        Value::String(term) => {
            if let Some(schema) = Schema::from_term(term) {
                return Ok(schema);
            }
            if term.starts_with("dtmi:") {
                return Ok(Schema::Ref(term.clone()));
            }
            return Err(invalid(path, format!("unknown schema `{term}`")));
        }
        Value::Object(_) => value,
        _ => return Err(wrong(path, "a schema term, a DTMI or a schema object")),
    };
    let mut o = Obj::new(object, path.to_owned(), "a schema object")?;
    let at = o.at("@type");
    let types = string_list(o.req("@type")?, &at)?;
    let kind = match types.as_slice() {
        [kind] => kind.as_str(),
        _ => return Err(invalid(&at, "a complex schema has exactly one type")),
    };
    let id = o.opt_string("@id")?;
    let display_name = o.localized("displayName")?;
    let description = o.localized("description")?;
    let comment = o.opt_string("comment")?;
    let parsed = match kind {
        "Array" => {
            let element_at = o.at("elementSchema");
            Schema::Array(Box::new(ArraySchema {
                id,
                element_schema: schema(o.req("elementSchema")?, &element_at)?,
                display_name,
                description,
                comment,
            }))
        }
        "Enum" => {
            let vs_at = o.at("valueSchema");
            let value_schema = match o.req("valueSchema")?.as_str() {
                Some("integer") => EnumValueSchema::Integer,
                Some("string") => EnumValueSchema::String,
                _ => return Err(invalid(&vs_at, "expected `integer` or `string`")),
            };
            let values_at = o.at("enumValues");
            let items = o
                .req("enumValues")?
                .as_array()
                .ok_or_else(|| wrong(&values_at, "an array"))?;
            let values = items
                .iter()
                .enumerate()
                .map(|(i, v)| enum_value(v, &format!("{values_at}[{i}]")))
                .collect::<Result<_, _>>()?;
            Schema::Enum(EnumSchema {
                id,
                value_schema,
                values,
                display_name,
                description,
                comment,
            })
        }
        "Map" => {
            let key_at = o.at("mapKey");
            let key = map_key(o.req("mapKey")?, &key_at)?;
            let value_at = o.at("mapValue");
            let value = map_value(o.req("mapValue")?, &value_at)?;
            Schema::Map(Box::new(MapSchema {
                id,
                key,
                value,
                display_name,
                description,
                comment,
            }))
        }
        "Object" => {
            let fields_at = o.at("fields");
            let items = o
                .req("fields")?
                .as_array()
                .ok_or_else(|| wrong(&fields_at, "an array"))?;
            let fields = items
                .iter()
                .enumerate()
                .map(|(i, v)| field(v, &format!("{fields_at}[{i}]")))
                .collect::<Result<_, _>>()?;
            Schema::Object(ObjectSchema {
                id,
                fields,
                display_name,
                description,
                comment,
            })
        }
        other => return Err(invalid(&at, format!("unknown schema type `{other}`"))),
    };
    o.finish(None)?;
    Ok(parsed)
}

fn enum_value(value: &Value, path: &str) -> Result<EnumValue, ParseError> {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
    let mut o = Obj::new(value, format!("{path} ({name})"), "an EnumValue object")?;
    let (co_types, typed) = o.kind("EnumValue", false)?;
    no_co_types(&co_types, &o.at("@type"))?;
    let value_at = o.at("enumValue");
    let wire = match o.req("enumValue")? {
        Value::String(s) => EnumValueKind::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(EnumValueKind::Integer)
            .ok_or_else(|| wrong(&value_at, "a 32-bit integer or a string"))?,
        _ => return Err(wrong(&value_at, "a 32-bit integer or a string")),
    };
    let info = EnumValue {
        id: o.opt_string("@id")?,
        name: o.string("name")?,
        value: wire,
        typed,
        display_name: o.localized("displayName")?,
        description: o.localized("description")?,
        comment: o.opt_string("comment")?,
    };
    o.finish(None)?;
    Ok(info)
}

fn map_key(value: &Value, path: &str) -> Result<MapKey, ParseError> {
    let mut o = Obj::new(value, path.to_owned(), "a mapKey object")?;
    let schema_at = o.at("schema");
    if o.req("schema")?.as_str() != Some("string") {
        return Err(invalid(&schema_at, "a map key's schema must be `string`"));
    }
    let key = MapKey {
        id: o.opt_string("@id")?,
        name: o.string("name")?,
        display_name: o.localized("displayName")?,
        description: o.localized("description")?,
        comment: o.opt_string("comment")?,
    };
    o.finish(None)?;
    Ok(key)
}

fn map_value(value: &Value, path: &str) -> Result<MapValue, ParseError> {
    let mut o = Obj::new(value, path.to_owned(), "a mapValue object")?;
    let schema_at = o.at("schema");
    let info = MapValue {
        id: o.opt_string("@id")?,
        name: o.string("name")?,
        schema: schema(o.req("schema")?, &schema_at)?,
        display_name: o.localized("displayName")?,
        description: o.localized("description")?,
        comment: o.opt_string("comment")?,
    };
    o.finish(None)?;
    Ok(info)
}

fn field(value: &Value, path: &str) -> Result<Field, ParseError> {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
    let mut o = Obj::new(value, format!("{path} ({name})"), "a Field object")?;
    let (co_types, _) = o.kind("Field", false)?;
    no_co_types(&co_types, &o.at("@type"))?;
    let schema_at = o.at("schema");
    let info = Field {
        id: o.opt_string("@id")?,
        name: o.string("name")?,
        schema: schema(o.req("schema")?, &schema_at)?,
        display_name: o.localized("displayName")?,
        description: o.localized("description")?,
        comment: o.opt_string("comment")?,
    };
    o.finish(None)?;
    Ok(info)
}
