//! The keys of `#[iotc(...)]`.

use std::fmt;

use syn::{Ident, Path};

/// An attribute key.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct Symbol(pub(crate) &'static str);

pub(crate) const IOTC: Symbol = Symbol("iotc");

pub(crate) const CO_TYPE: Symbol = Symbol("co_type");
pub(crate) const COMMAND_TYPE: Symbol = Symbol("command_type");
pub(crate) const COMMANDS: Symbol = Symbol("commands");
pub(crate) const COMMENT: Symbol = Symbol("comment");
pub(crate) const COMPONENT: Symbol = Symbol("component");
pub(crate) const CRATE: Symbol = Symbol("crate");
pub(crate) const DESCRIPTION: Symbol = Symbol("description");
pub(crate) const DISPLAY_NAME: Symbol = Symbol("display_name");
pub(crate) const DOCS: Symbol = Symbol("docs");
pub(crate) const EXTENDS: Symbol = Symbol("extends");
pub(crate) const ID: Symbol = Symbol("id");
pub(crate) const IOTCENTRAL: Symbol = Symbol("iotcentral");
pub(crate) const MAP_KEY: Symbol = Symbol("map_key");
pub(crate) const MAP_VALUE: Symbol = Symbol("map_value");
pub(crate) const NAME: Symbol = Symbol("name");
pub(crate) const PROPERTIES: Symbol = Symbol("properties");
pub(crate) const REQUEST: Symbol = Symbol("request");
pub(crate) const RESPONSE: Symbol = Symbol("response");
pub(crate) const SCHEMA: Symbol = Symbol("schema");
pub(crate) const SCHEMAS: Symbol = Symbol("schemas");
pub(crate) const SEMANTIC_TYPE: Symbol = Symbol("semantic_type");
pub(crate) const TELEMETRY: Symbol = Symbol("telemetry");
pub(crate) const TYPED: Symbol = Symbol("typed");
pub(crate) const UNDEFINED: Symbol = Symbol("undefined");
pub(crate) const UNIT: Symbol = Symbol("unit");
pub(crate) const VALUE_SCHEMA: Symbol = Symbol("value_schema");
pub(crate) const WITH: Symbol = Symbol("with");
pub(crate) const WRITABLE: Symbol = Symbol("writable");

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
