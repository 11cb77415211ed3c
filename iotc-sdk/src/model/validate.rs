//! [`InterfaceInfo::validate`]: DTDL v2 rules checked on a built model.

use std::collections::HashSet;

use super::{
    CommandInfo, CommandPayloadInfo, ContentInfo, EnumSchema, EnumValueKind, EnumValueSchema,
    InterfaceInfo, LocalizedString, Schema,
};
use crate::Dtmi;

/// At most this many contents per interface.
const MAX_CONTENTS: usize = 300;
/// Names are at most this long.
const MAX_NAME: usize = 64;
/// `displayName` is at most this long.
const MAX_DISPLAY_NAME: usize = 64;
/// `description` and `comment` are at most this long.
const MAX_DESCRIPTION: usize = 512;
/// Complex schemas nest at most this deep.
const MAX_DEPTH: usize = 5;
/// Objects have 1 to this many fields.
const MAX_FIELDS: usize = 30;
/// Enums have 1 to this many values.
const MAX_ENUM_VALUES: usize = 100;
/// At most this many interfaces in `extends`.
const MAX_EXTENDS: usize = 2;
/// Interface ids are at most this long.
const MAX_INTERFACE_ID: usize = 128;

/// Whether `name` is a valid DTDL v2 name: `^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$`, at most
/// 64 characters (so it also does not start with `_`, as IoT Central requires).
pub(crate) fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            name.len() <= MAX_NAME
                && first.is_ascii_alphabetic()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        _ => false,
    }
}

/// Checks a DTMI used in a DTDL v2 model: the `Dtmi` grammar, a one-part version, no reserved
/// prefix.
fn check_dtmi(id: &str, max_len: usize) -> Result<(), String> {
    let dtmi: Dtmi = id.parse().map_err(|e| match e {
        crate::Error::Config(message) => message,
        other => other.to_string(),
    })?;
    if id.len() > max_len {
        return Err(format!("`{id}` is longer than {max_len} characters"));
    }
    if dtmi.as_str().contains('.') {
        return Err(format!(
            "`{id}`: DTDL v2 needs a one-part version (`;1`), not `major.minor`"
        ));
    }
    if id.starts_with("dtmi:dtdl:") || id.starts_with("dtmi:standard:") {
        return Err(format!(
            "`{id}`: the prefixes `dtmi:dtdl:` and `dtmi:standard:` are reserved"
        ));
    }
    Ok(())
}

struct Checker {
    errors: Vec<String>,
}

impl Checker {
    fn error(&mut self, at: &str, message: impl std::fmt::Display) {
        self.errors.push(format!("{at}: {message}"));
    }

    fn name(&mut self, at: &str, name: &str) {
        if !is_valid_name(name) {
            self.error(
                at,
                format!(
                    "invalid name `{name}`: use letters, digits and `_`, start with a letter, \
                     do not end with `_`, at most {MAX_NAME} characters"
                ),
            );
        }
    }

    fn display(
        &mut self,
        at: &str,
        display_name: &Option<LocalizedString>,
        description: &Option<LocalizedString>,
    ) {
        self.localized(at, "displayName", display_name, MAX_DISPLAY_NAME);
        self.localized(at, "description", description, MAX_DESCRIPTION);
    }

    fn localized(&mut self, at: &str, key: &str, text: &Option<LocalizedString>, max: usize) {
        for (language, text) in text.iter().flat_map(LocalizedString::iter) {
            if text.chars().count() > max {
                let which = if language == super::DEFAULT_LANGUAGE {
                    String::new()
                } else {
                    format!(" ({language})")
                };
                self.error(at, format!("{key}{which} is longer than {max} characters"));
            }
        }
    }

    fn comment(&mut self, at: &str, comment: &Option<String>) {
        if let Some(comment) = comment {
            if comment.chars().count() > MAX_DESCRIPTION {
                self.error(
                    at,
                    format!("comment is longer than {MAX_DESCRIPTION} characters"),
                );
            }
        }
    }

    fn semantic(
        &mut self,
        at: &str,
        semantic_type: &Option<String>,
        unit: &Option<String>,
        schema: &Schema,
    ) {
        match (semantic_type, unit) {
            (Some(semantic_type), None) => self.error(
                at,
                format!("semantic type `{semantic_type}` requires a unit"),
            ),
            (None, Some(unit)) => self.error(
                at,
                format!("unit `{unit}` requires a semantic type (DTDL forbids a unit without one)"),
            ),
            (Some(semantic_type), Some(_)) if !schema.is_numeric() => self.error(
                at,
                format!(
                    "semantic type `{semantic_type}` requires a numeric schema (double, float, integer or long)"
                ),
            ),
            _ => {}
        }
    }

    fn schema(&mut self, at: &str, schema: &Schema, in_property: bool) {
        if schema.depth() > MAX_DEPTH {
            self.error(
                at,
                format!("complex schemas are nested more than {MAX_DEPTH} levels deep"),
            );
        }
        if in_property && schema.contains_array() {
            self.error(
                at,
                "DTDL v2 does not allow an Array anywhere in a Property schema",
            );
        }
        self.schema_rules(at, schema);
    }

    /// Rules on every complex schema inside `schema` (names, counts, uniqueness).
    fn schema_rules(&mut self, at: &str, schema: &Schema) {
        match schema {
            Schema::Array(array) => {
                let at = format!("{at}.elementSchema");
                self.display(&at, &array.display_name, &array.description);
                self.schema_rules(&at, &array.element_schema);
            }
            Schema::Map(map) => {
                self.display(at, &map.display_name, &map.description);
                self.name(&format!("{at}.mapKey"), &map.key.name);
                self.name(&format!("{at}.mapValue"), &map.value.name);
                self.schema_rules(&format!("{at}.mapValue"), &map.value.schema);
            }
            Schema::Object(object) => {
                self.display(at, &object.display_name, &object.description);
                if object.fields.is_empty() || object.fields.len() > MAX_FIELDS {
                    self.error(
                        at,
                        format!(
                            "an Object needs 1 to {MAX_FIELDS} fields, not {}",
                            object.fields.len()
                        ),
                    );
                }
                let mut names = HashSet::new();
                for field in &object.fields {
                    let at = format!("{at}.fields ({})", field.name);
                    self.name(&at, &field.name);
                    if !names.insert(field.name.as_str()) {
                        self.error(&at, "duplicate field name");
                    }
                    self.display(&at, &field.display_name, &field.description);
                    self.schema_rules(&at, &field.schema);
                }
            }
            Schema::Enum(schema) => self.enum_schema(at, schema),
            _ => {}
        }
    }

    fn enum_schema(&mut self, at: &str, schema: &EnumSchema) {
        self.display(at, &schema.display_name, &schema.description);
        if schema.values.is_empty() || schema.values.len() > MAX_ENUM_VALUES {
            self.error(
                at,
                format!(
                    "an Enum needs 1 to {MAX_ENUM_VALUES} values, not {}",
                    schema.values.len()
                ),
            );
        }
        let mut names = HashSet::new();
        let mut values = HashSet::new();
        for value in &schema.values {
            let at = format!("{at}.enumValues ({})", value.name);
            self.name(&at, &value.name);
            if !names.insert(value.name.as_str()) {
                self.error(&at, "duplicate enum value name");
            }
            if !values.insert(&value.value) {
                self.error(&at, "duplicate enumValue");
            }
            let matches = matches!(
                (schema.value_schema, &value.value),
                (EnumValueSchema::Integer, EnumValueKind::Integer(_))
                    | (EnumValueSchema::String, EnumValueKind::String(_))
            );
            if !matches {
                self.error(
                    &at,
                    format!(
                        "enumValue does not match the valueSchema `{}`",
                        schema.value_schema.as_str()
                    ),
                );
            }
            self.display(&at, &value.display_name, &value.description);
        }
    }

    fn payload(&mut self, at: &str, payload: &CommandPayloadInfo) {
        self.name(at, &payload.name);
        self.display(at, &payload.display_name, &payload.description);
        self.schema(at, &payload.schema, false);
    }

    fn command(&mut self, at: &str, command: &CommandInfo) {
        self.display(at, &command.display_name, &command.description);
        self.comment(at, &command.comment);
        if let Some(request) = &command.request {
            self.payload(&format!("{at}.request"), request);
        }
        if let Some(response) = &command.response {
            self.payload(&format!("{at}.response"), response);
        }
    }
}

pub(super) fn validate(interface: &InterfaceInfo) -> Result<(), Vec<String>> {
    let mut c = Checker { errors: Vec::new() };
    if let Err(e) = check_dtmi(&interface.id, MAX_INTERFACE_ID) {
        c.error("@id", e);
    }
    c.display("interface", &interface.display_name, &interface.description);
    c.comment("interface", &interface.comment);
    if interface.contents.len() > MAX_CONTENTS {
        c.error(
            "contents",
            format!(
                "at most {MAX_CONTENTS} contents, not {}",
                interface.contents.len()
            ),
        );
    }
    if interface.extends.len() > MAX_EXTENDS {
        c.error(
            "extends",
            format!(
                "at most {MAX_EXTENDS} interfaces, not {}",
                interface.extends.len()
            ),
        );
    }
    for id in &interface.extends {
        if let Err(e) = check_dtmi(id, 2048) {
            c.error("extends", e);
        }
    }
    for (i, schema) in interface.schemas.iter().enumerate() {
        let at = format!("schemas[{i}]");
        match schema.id() {
            Some(id) => {
                if let Err(e) = check_dtmi(id, 2048) {
                    c.error(&at, format!("@id: {e}"));
                }
            }
            None => c.error(&at, "an interface schema needs an `@id`"),
        }
        c.schema(&at, schema, false);
    }
    let mut names = HashSet::new();
    for (i, content) in interface.contents.iter().enumerate() {
        let at = format!("contents[{i}] ({})", content.name());
        c.name(&at, content.name());
        if !names.insert(content.name()) {
            c.error(
                &at,
                "duplicate name: content names must be unique within an interface",
            );
        }
        match content {
            ContentInfo::Telemetry(t) => {
                c.display(&at, &t.display_name, &t.description);
                c.comment(&at, &t.comment);
                c.semantic(&at, &t.semantic_type, &t.unit, &t.schema);
                c.schema(&at, &t.schema, false);
            }
            ContentInfo::Property(p) => {
                c.display(&at, &p.display_name, &p.description);
                c.comment(&at, &p.comment);
                c.semantic(&at, &p.semantic_type, &p.unit, &p.schema);
                c.schema(&at, &p.schema, true);
            }
            ContentInfo::Command(command) => c.command(&at, command),
            ContentInfo::Component(component) => {
                c.display(&at, &component.display_name, &component.description);
                if let Err(e) = check_dtmi(&component.schema, 2048) {
                    c.error(&at, format!("schema: {e}"));
                }
            }
        }
    }
    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c.errors)
    }
}
