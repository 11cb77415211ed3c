//! Writing Rust from the model types: one module per interface, with its schema types, its
//! telemetry struct, properties struct, commands enum and the interface type.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use iotc_sdk::model::{
    CommandInfo, CommandPayloadInfo, ComponentInfo, ContentInfo, EnumSchema, EnumValueKind,
    EnumValueSchema, InterfaceInfo, LocalizedString, ObjectSchema, PropertyInfo, Schema,
    TelemetryInfo, DEFAULT_LANGUAGE, DTDL_V2_CONTEXT, IOTCENTRAL_CONTEXT,
};

use crate::names::{camel, snake, Scope};

/// The DTDL v2 semantic types `#[iotc(semantic_type)]` accepts (the derive's whitelist). Any
/// other co-type with a `unit` (IoT Central's vector types, types no context defines), and a
/// semantic type on a non-numeric schema, are generated as `co_type` and `undefined("unit")`,
/// which export the same JSON.
const SEMANTIC_TYPES: &[&str] = &[
    "Acceleration",
    "Angle",
    "AngularAcceleration",
    "AngularVelocity",
    "Area",
    "Capacitance",
    "Current",
    "DataRate",
    "DataSize",
    "Density",
    "Distance",
    "ElectricCharge",
    "Energy",
    "Force",
    "Frequency",
    "Humidity",
    "Illuminance",
    "Inductance",
    "Latitude",
    "Length",
    "Longitude",
    "Luminance",
    "Luminosity",
    "LuminousFlux",
    "LuminousIntensity",
    "MagneticFlux",
    "MagneticInduction",
    "Mass",
    "MassFlowRate",
    "Power",
    "Pressure",
    "RelativeHumidity",
    "Resistance",
    "SoundPressure",
    "Temperature",
    "Thrust",
    "TimeSpan",
    "Torque",
    "Velocity",
    "Voltage",
    "Volume",
    "VolumeFlowRate",
];

/// Variant names come from the model's names, which often share a prefix or suffix.
const NAMES_FROM_MODEL: &str = "#[allow(clippy::enum_variant_names)]\n";

/// Why an interface cannot be generated.
pub(crate) type Unsupported = String;

/// The Rust types of one schema: the wire type, the type whose `DtdlSchema` is the schema, and
/// the map key/value names when the schema is a Map with other names than `key`/`value`.
struct RustType {
    rust: String,
    dtdl: String,
    map_names: Option<(String, String)>,
}

impl RustType {
    fn same(ty: &str) -> Self {
        RustType {
            rust: ty.to_owned(),
            dtdl: ty.to_owned(),
            map_names: None,
        }
    }

    fn marker(rust: &str, marker: &str) -> Self {
        RustType {
            rust: rust.to_owned(),
            dtdl: format!("iotc_sdk::model::marker::{marker}"),
            map_names: None,
        }
    }
}

/// A Rust string literal.
fn lit(text: &str) -> String {
    format!("{text:?}")
}

/// A doc comment line's text, safe for rustdoc (no links, HTML or bare URLs).
fn doc_text(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.contains("://") {
            let _ = write!(out, "`{}`", word.replace('`', "'"));
        } else {
            for c in word.chars() {
                if matches!(c, '[' | ']' | '<' | '>' | '`' | '*' | '_' | '#' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

/// `#[doc = "..."]` from a description (its English text), or else `fallback`.
fn doc(description: &Option<LocalizedString>, fallback: &str) -> String {
    let text = description
        .as_ref()
        .and_then(LocalizedString::text)
        .map(doc_text)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| fallback.to_owned());
    format!("/// {text}\n")
}

/// `display_name = "...", display_name("de" = "...")` and the same for `description`.
fn localized(key: &str, text: &Option<LocalizedString>, out: &mut Vec<String>) {
    let Some(text) = text else { return };
    if let Some(english) = text.get(DEFAULT_LANGUAGE) {
        out.push(format!("{key} = {}", lit(english)));
    }
    let others: Vec<String> = text
        .iter()
        .filter(|(language, _)| *language != DEFAULT_LANGUAGE)
        .map(|(language, value)| format!("{} = {}", lit(language), lit(value)))
        .collect();
    if !others.is_empty() {
        out.push(format!("{key}({})", others.join(", ")));
    }
}

/// The shared metadata as `iotc` keys.
fn meta(
    id: &Option<String>,
    display_name: &Option<LocalizedString>,
    description: &Option<LocalizedString>,
    comment: &Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = id {
        out.push(format!("id = {}", lit(id)));
    }
    localized("display_name", display_name, &mut out);
    localized("description", description, &mut out);
    if let Some(comment) = comment {
        out.push(format!("comment = {}", lit(comment)));
    }
    out
}

/// `#[iotc(...)]`, or nothing without keys.
fn iotc(keys: &[String]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!("#[iotc({})]\n", keys.join(", "))
    }
}

/// Where the generated type of an interface is: `(module, type)`.
pub(crate) type Paths = BTreeMap<String, (String, String)>;

/// One interface's module.
pub(crate) struct Module<'a> {
    interface: &'a InterfaceInfo,
    paths: &'a Paths,
    scope: Scope,
    items: String,
    /// Interface schemas by `@id`: their type names.
    schema_types: BTreeMap<String, String>,
}

impl<'a> Module<'a> {
    /// The module text (not formatted) of `interface`, whose own type is `paths[id].1`.
    pub(crate) fn generate(
        interface: &'a InterfaceInfo,
        paths: &'a Paths,
    ) -> Result<String, Unsupported> {
        let own = paths
            .get(&interface.id)
            .map(|(_, ty)| ty.clone())
            .unwrap_or_else(|| "Model".to_owned());
        let mut module = Module {
            interface,
            paths,
            scope: Scope::with(&[own.as_str()]),
            items: String::new(),
            schema_types: BTreeMap::new(),
        };
        module.body(&own)
    }

    fn body(&mut self, own: &str) -> Result<String, Unsupported> {
        let interface = self.interface;
        for context in &interface.context {
            if context != DTDL_V2_CONTEXT && context != IOTCENTRAL_CONTEXT {
                return Err(format!(
                    "@context `{context}` (DTDL v2 and IoT Central only)"
                ));
            }
        }
        if !interface.co_types.is_empty() {
            return Err("co-types on the interface".to_owned());
        }
        // Interface schemas first, named before any is written, so that references (also
        // between them, in any order) resolve.
        for schema in &interface.schemas {
            let id = schema.id().unwrap_or_default().to_owned();
            let last = id.rsplit(':').next().unwrap_or("Schema");
            let base = last.split(';').next().unwrap_or("Schema");
            let name = self.scope.claim(&camel(base));
            self.schema_types.insert(id, name);
        }
        let mut schema_list = Vec::new();
        for schema in &interface.schemas {
            let name = self.schema_types[schema.id().unwrap_or_default()].clone();
            let ty = match schema {
                Schema::Object(object) => {
                    self.object(&name, object)?;
                    name
                }
                Schema::Enum(enumeration) => {
                    self.enumeration(&name, enumeration)?;
                    name
                }
                _ => return Err("an Array or Map in the interface's `schemas`".to_owned()),
            };
            schema_list.push(ty);
        }

        let mut telemetry = Vec::new();
        let mut properties = Vec::new();
        let mut commands = Vec::new();
        let mut components = Vec::new();
        for content in &interface.contents {
            match content {
                ContentInfo::Telemetry(t) => telemetry.push(t),
                ContentInfo::Property(p) => properties.push(p),
                ContentInfo::Command(c) => commands.push(c),
                ContentInfo::Component(c) => components.push(c),
            }
        }
        let mut keys = vec![
            format!("id = {}", lit(&interface.id)),
            "docs = false".to_owned(),
        ];
        keys.extend(meta(
            &None,
            &interface.display_name,
            &interface.description,
            &interface.comment,
        ));
        if interface.context.iter().any(|c| c == IOTCENTRAL_CONTEXT) {
            keys.push("iotcentral".to_owned());
        }
        for extends in &interface.extends {
            keys.push(format!("extends = {}", lit(extends)));
        }
        if !schema_list.is_empty() {
            keys.push(format!("schemas({})", schema_list.join(", ")));
        }
        if !telemetry.is_empty() {
            let name = self.scope.claim(&format!("{own}Telemetry"));
            self.contents_struct(&name, own, &telemetry, &[])?;
            keys.push(format!("telemetry = {name}"));
        }
        if !properties.is_empty() {
            let name = self.scope.claim(&format!("{own}Properties"));
            self.contents_struct(&name, own, &[], &properties)?;
            keys.push(format!("properties = {name}"));
        }
        if !commands.is_empty() {
            let name = self.scope.claim(&format!("{own}Command"));
            self.commands_enum(&name, own, &commands)?;
            keys.push(format!("commands = {name}"));
        }
        let mut component_attrs = String::new();
        for component in &components {
            component_attrs.push_str(&self.component(component)?);
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "//! `{}`{}. Generated by iotc-codegen from DTDL: edit the model, not this file.\n",
            interface.id,
            interface
                .display_name
                .as_ref()
                .and_then(LocalizedString::text)
                .map(|t| format!(": {}", doc_text(t)))
                .unwrap_or_default()
        );
        out.push_str(&self.items);
        out.push_str(&doc(
            &interface.description,
            &format!("The interface `{}`.", interface.id),
        ));
        out.push_str("#[derive(Clone, Copy, Debug, Default, iotc_sdk::Interface)]\n");
        out.push_str(&iotc(&keys));
        out.push_str(&component_attrs);
        let _ = writeln!(out, "pub struct {own};");
        Ok(out)
    }

    fn component(&self, component: &ComponentInfo) -> Result<String, Unsupported> {
        let (module, ty) = self.paths.get(&component.schema).ok_or_else(|| {
            format!(
                "component `{}`: `{}` not generated",
                component.name, component.schema
            )
        })?;
        let mut keys = vec![
            format!("name = {}", lit(&component.name)),
            format!("schema = super::{module}::{ty}"),
        ];
        keys.extend(meta(
            &component.id,
            &component.display_name,
            &component.description,
            &component.comment,
        ));
        Ok(format!("#[iotc(component({}))]\n", keys.join(", ")))
    }

    /// The Rust type of `schema`, emitting the types it needs; `name` names a new type.
    fn rust_type(&mut self, schema: &Schema, name: &str) -> Result<RustType, Unsupported> {
        Ok(match schema {
            Schema::Boolean => RustType::same("bool"),
            Schema::Integer => RustType::same("i32"),
            Schema::Long => RustType::same("i64"),
            Schema::Double => RustType::same("f64"),
            Schema::Float => RustType::same("f32"),
            Schema::String => RustType::same("String"),
            Schema::Date => RustType::marker("String", "Date"),
            Schema::Time => RustType::marker("String", "Time"),
            Schema::DateTime => RustType::marker("String", "DateTime"),
            Schema::Duration => RustType::marker("String", "Duration"),
            Schema::Point => RustType::marker("serde_json::Value", "Point"),
            Schema::LineString => RustType::marker("serde_json::Value", "LineString"),
            Schema::Polygon => RustType::marker("serde_json::Value", "Polygon"),
            Schema::MultiPoint => RustType::marker("serde_json::Value", "MultiPoint"),
            Schema::MultiLineString => RustType::marker("serde_json::Value", "MultiLineString"),
            Schema::MultiPolygon => RustType::marker("serde_json::Value", "MultiPolygon"),
            Schema::GeoPoint => RustType::marker("serde_json::Value", "GeoPoint"),
            Schema::Vector => RustType::marker("serde_json::Value", "Vector"),
            Schema::Ref(id) => match self.schema_types.get(id) {
                Some(ty) => RustType::same(ty),
                None => {
                    return Err(format!(
                        "reference to `{id}`, not a schema of this interface"
                    ))
                }
            },
            Schema::Array(array) => {
                if array.id.is_some()
                    || array.display_name.is_some()
                    || array.description.is_some()
                    || array.comment.is_some()
                {
                    return Err("`@id`/display strings/comment on an Array schema".to_owned());
                }
                let element = self.rust_type(&array.element_schema, &format!("{name}Item"))?;
                if element.map_names.is_some() {
                    return Err("map key/value names of a Map inside an Array".to_owned());
                }
                RustType {
                    rust: format!("Vec<{}>", element.rust),
                    dtdl: format!("Vec<{}>", element.dtdl),
                    map_names: None,
                }
            }
            Schema::Map(map) => {
                if map.id.is_some()
                    || map.display_name.is_some()
                    || map.description.is_some()
                    || map.comment.is_some()
                    || map.key.id.is_some()
                    || map.key.display_name.is_some()
                    || map.key.description.is_some()
                    || map.key.comment.is_some()
                    || map.value.id.is_some()
                    || map.value.display_name.is_some()
                    || map.value.description.is_some()
                    || map.value.comment.is_some()
                {
                    return Err(
                        "`@id`/display strings/comment on a Map, its key or value".to_owned()
                    );
                }
                let value = self.rust_type(&map.value.schema, &format!("{name}Value"))?;
                if value.map_names.is_some() {
                    return Err("map key/value names of a Map inside a Map".to_owned());
                }
                let names = (map.key.name.clone(), map.value.name.clone());
                RustType {
                    rust: format!("std::collections::BTreeMap<String, {}>", value.rust),
                    dtdl: format!("std::collections::BTreeMap<String, {}>", value.dtdl),
                    map_names: (names.0 != "key" || names.1 != "value").then_some(names),
                }
            }
            Schema::Object(object) => {
                let ty = self.scope.claim(name);
                self.object(&ty, object)?;
                RustType::same(&ty)
            }
            Schema::Enum(schema) => {
                let ty = self.scope.claim(name);
                self.enumeration(&ty, schema)?;
                RustType::same(&ty)
            }
        })
    }

    fn object(&mut self, ty: &str, object: &ObjectSchema) -> Result<(), Unsupported> {
        let mut fields = String::new();
        let mut names = Scope::default();
        for field in &object.fields {
            let rust_name = names.claim(&snake(&field.name));
            let field_ty = self.rust_type(&field.schema, &format!("{ty}{}", camel(&field.name)))?;
            let mut keys = meta(
                &field.id,
                &field.display_name,
                &field.description,
                &field.comment,
            );
            push_schema_keys(&field_ty, &mut keys);
            fields.push_str(&doc(&field.description, &format!("`{}`.", field.name)));
            fields.push_str(&serde_field(&field.name, &rust_name));
            fields.push_str(&iotc(&keys));
            let _ = writeln!(fields, "pub {rust_name}: Option<{}>,", field_ty.rust);
        }
        let mut keys = vec!["docs = false".to_owned()];
        keys.extend(meta(
            &object.id,
            &object.display_name,
            &object.description,
            &object.comment,
        ));
        let mut out = doc(&object.description, "An Object of the model.");
        out.push_str("#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, iotc_sdk::DtdlSchema)]\n");
        out.push_str(&iotc(&keys));
        let _ = writeln!(out, "pub struct {ty} {{\n{fields}}}\n");
        self.items.push_str(&out);
        Ok(())
    }

    fn enumeration(&mut self, ty: &str, schema: &EnumSchema) -> Result<(), Unsupported> {
        let integer = schema.value_schema == EnumValueSchema::Integer;
        let mut variants = String::new();
        let mut arms = String::new();
        let mut names = Scope::default();
        for value in &schema.values {
            let variant = names.claim(&camel(&value.name));
            let mut keys = vec![format!("name = {}", lit(&value.name))];
            keys.extend(meta(
                &value.id,
                &value.display_name,
                &value.description,
                &value.comment,
            ));
            if value.typed {
                keys.push("typed".to_owned());
            }
            variants.push_str(&doc(&value.description, &format!("`{}`.", value.name)));
            match &value.value {
                EnumValueKind::Integer(n) => {
                    variants.push_str(&iotc(&keys));
                    let _ = writeln!(variants, "{variant} = {n},");
                    let _ = writeln!(arms, "{n} => Ok(Self::{variant}),");
                }
                EnumValueKind::String(text) => {
                    let _ = writeln!(variants, "#[serde(rename = {})]", lit(text));
                    variants.push_str(&iotc(&keys));
                    let _ = writeln!(variants, "{variant},");
                }
            }
        }
        let mut keys = vec!["docs = false".to_owned()];
        if integer {
            keys.push("value_schema = \"integer\"".to_owned());
        }
        keys.extend(meta(
            &schema.id,
            &schema.display_name,
            &schema.description,
            &schema.comment,
        ));
        let mut out = doc(&schema.description, "An Enum of the model.");
        if integer {
            out.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, iotc_sdk::DtdlSchema)]\n#[repr(i32)]\n");
        } else {
            out.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, iotc_sdk::DtdlSchema)]\n");
        }
        out.push_str(&iotc(&keys));
        out.push_str(NAMES_FROM_MODEL);
        let _ = writeln!(out, "pub enum {ty} {{\n{variants}}}\n");
        if integer {
            let _ = writeln!(
                out,
                "impl serde::Serialize for {ty} {{\n\
                 fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{\n\
                 serializer.serialize_i32(*self as i32)\n}}\n}}\n\n\
                 impl<'de> serde::Deserialize<'de> for {ty} {{\n\
                 fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{\n\
                 match <i32 as serde::Deserialize>::deserialize(deserializer)? {{\n\
                 {arms}other => Err(serde::de::Error::custom(format!(\"{ty}: unknown value {{other}}\"))),\n\
                 }}\n}}\n}}\n"
            );
        }
        self.items.push_str(&out);
        Ok(())
    }

    fn contents_struct(
        &mut self,
        name: &str,
        own: &str,
        telemetry: &[&TelemetryInfo],
        properties: &[&PropertyInfo],
    ) -> Result<(), Unsupported> {
        let mut fields = String::new();
        let mut names = Scope::default();
        let is_telemetry = !telemetry.is_empty();
        let rows: Vec<Row<'_>> = if is_telemetry {
            telemetry.iter().map(|t| Row::Telemetry(t)).collect()
        } else {
            properties.iter().map(|p| Row::Property(p)).collect()
        };
        for row in rows {
            let (content_name, schema) = row.name_schema();
            let rust_name = names.claim(&snake(content_name));
            let ty = self.rust_type(schema, &camel(content_name))?;
            let mut keys = row.keys();
            push_schema_keys(&ty, &mut keys);
            fields.push_str(&doc(row.description(), &format!("`{content_name}`.")));
            fields.push_str(&serde_field(content_name, &rust_name));
            fields.push_str(&iotc(&keys));
            let _ = writeln!(fields, "pub {rust_name}: Option<{}>,", ty.rust);
        }
        let (derive, what) = if is_telemetry {
            (
                "serde::Serialize, serde::Deserialize, iotc_sdk::Telemetry",
                "telemetry",
            )
        } else {
            (
                "serde::Serialize, serde::Deserialize, iotc_sdk::Properties",
                "properties",
            )
        };
        let mut out = format!("/// The {what} of [`{own}`].\n");
        let _ = writeln!(out, "#[derive(Clone, Debug, Default, PartialEq, {derive})]");
        out.push_str("#[iotc(docs = false)]\n");
        let _ = writeln!(out, "pub struct {name} {{\n{fields}}}\n");
        self.items.push_str(&out);
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &CommandPayloadInfo,
        name: &str,
    ) -> Result<(RustType, Vec<String>), Unsupported> {
        let ty = self.rust_type(&payload.schema, name)?;
        let mut keys = vec![format!("name = {}", lit(&payload.name))];
        keys.extend(meta(
            &payload.id,
            &payload.display_name,
            &payload.description,
            &payload.comment,
        ));
        if payload.typed {
            keys.push("typed".to_owned());
        }
        if let Some((key, value)) = &ty.map_names {
            keys.push(format!("map_key = {}", lit(key)));
            keys.push(format!("map_value = {}", lit(value)));
        }
        Ok((ty, keys))
    }

    fn commands_enum(
        &mut self,
        name: &str,
        own: &str,
        commands: &[&CommandInfo],
    ) -> Result<(), Unsupported> {
        let mut variants = String::new();
        let mut names = Scope::default();
        for command in commands {
            let variant = names.claim(&camel(&command.name));
            let mut keys = vec![format!("name = {}", lit(&command.name))];
            keys.extend(meta(
                &command.id,
                &command.display_name,
                &command.description,
                &command.comment,
            ));
            if let Some(kind) = &command.command_type {
                keys.push(format!("command_type = {}", lit(kind)));
            }
            let mut request_ty = None;
            if let Some(request) = &command.request {
                let (ty, mut request_keys) = self.payload(request, &format!("{variant}Request"))?;
                if ty.dtdl != ty.rust {
                    request_keys.push(format!("schema = {}", ty.dtdl));
                }
                keys.push(format!("request({})", request_keys.join(", ")));
                request_ty = Some(ty.rust);
            }
            if let Some(response) = &command.response {
                let (ty, mut response_keys) =
                    self.payload(response, &format!("{variant}Response"))?;
                response_keys.push(format!("schema = {}", ty.dtdl));
                keys.push(format!("response({})", response_keys.join(", ")));
            }
            variants.push_str(&doc(&command.description, &format!("`{}`.", command.name)));
            variants.push_str(&iotc(&keys));
            match request_ty {
                Some(ty) => {
                    let _ = writeln!(variants, "{variant}({ty}),");
                }
                None => {
                    let _ = writeln!(variants, "{variant},");
                }
            }
        }
        let mut out = format!("/// The commands of [`{own}`], with their requests.\n");
        out.push_str(
            "#[derive(Clone, Debug, PartialEq, iotc_sdk::Commands)]\n#[iotc(docs = false)]\n",
        );
        out.push_str(NAMES_FROM_MODEL);
        let _ = writeln!(out, "pub enum {name} {{\n{variants}}}\n");
        self.items.push_str(&out);
        Ok(())
    }
}

/// A telemetry or property row of a contents struct.
enum Row<'a> {
    Telemetry(&'a TelemetryInfo),
    Property(&'a PropertyInfo),
}

impl Row<'_> {
    fn name_schema(&self) -> (&str, &Schema) {
        match self {
            Row::Telemetry(t) => (&t.name, &t.schema),
            Row::Property(p) => (&p.name, &p.schema),
        }
    }

    fn description(&self) -> &Option<LocalizedString> {
        match self {
            Row::Telemetry(t) => &t.description,
            Row::Property(p) => &p.description,
        }
    }

    fn keys(&self) -> Vec<String> {
        let (id, display_name, description, comment, co_types, semantic_type, unit, undefined) =
            match self {
                Row::Telemetry(t) => (
                    &t.id,
                    &t.display_name,
                    &t.description,
                    &t.comment,
                    &t.co_types,
                    &t.semantic_type,
                    &t.unit,
                    &t.undefined,
                ),
                Row::Property(p) => (
                    &p.id,
                    &p.display_name,
                    &p.description,
                    &p.comment,
                    &p.co_types,
                    &p.semantic_type,
                    &p.unit,
                    &p.undefined,
                ),
            };
        let mut keys = Vec::new();
        if let Row::Property(p) = self {
            if p.writable {
                keys.push("writable".to_owned());
            }
        }
        keys.extend(meta(id, display_name, description, comment));
        for co_type in co_types {
            keys.push(format!("co_type = {}", lit(co_type)));
        }
        let mut undefined = undefined.clone();
        let checked = semantic_type
            .as_deref()
            .is_some_and(|s| SEMANTIC_TYPES.contains(&s) && self.name_schema().1.is_numeric());
        if checked {
            if let Some(semantic_type) = semantic_type {
                keys.push(format!("semantic_type = {}", lit(semantic_type)));
            }
            if let Some(unit) = unit {
                keys.push(format!("unit = {}", lit(unit)));
            }
        } else {
            if let Some(semantic_type) = semantic_type {
                keys.push(format!("co_type = {}", lit(semantic_type)));
            }
            if let Some(unit) = unit {
                undefined.insert("unit".to_owned(), serde_json::Value::String(unit.clone()));
            }
        }
        if !undefined.is_empty() {
            let pairs: Vec<String> = undefined
                .iter()
                .map(|(k, v)| format!("{} = {}", lit(k), lit(&v.to_string())))
                .collect();
            keys.push(format!("undefined({})", pairs.join(", ")));
        }
        keys
    }
}

/// `schema = ...` when the DTDL type differs from the field type, and the map names.
fn push_schema_keys(ty: &RustType, keys: &mut Vec<String>) {
    if ty.dtdl != ty.rust {
        keys.push(format!("schema = {}", ty.dtdl));
    }
    if let Some((key, value)) = &ty.map_names {
        keys.push(format!("map_key = {}", lit(key)));
        keys.push(format!("map_value = {}", lit(value)));
    }
}

/// `#[serde(...)]` of an optional field named `dtdl` on the wire.
fn serde_field(dtdl: &str, rust_name: &str) -> String {
    let rename = if rust_name.trim_start_matches("r#") == dtdl {
        String::new()
    } else {
        format!("rename = {}, ", lit(dtdl))
    };
    format!("#[serde({rename}default, skip_serializing_if = \"Option::is_none\")]\n")
}
