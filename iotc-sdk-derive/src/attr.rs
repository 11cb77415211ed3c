//! Parsing `#[iotc(...)]` and doc comments.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Token, Type};

use crate::check::{check_length, MAX_DESCRIPTION, MAX_DISPLAY_NAME};
use crate::ctxt::Ctxt;
use crate::symbol::*;

/// Every key, to tell an unknown key from one misplaced.
const ALL: &[Symbol] = &[
    CO_TYPE,
    COMMAND_TYPE,
    COMMANDS,
    COMMENT,
    COMPONENT,
    CRATE,
    DESCRIPTION,
    DISPLAY_NAME,
    DOCS,
    EXTENDS,
    ID,
    IOTCENTRAL,
    MAP_KEY,
    MAP_VALUE,
    NAME,
    PROPERTIES,
    REQUEST,
    RESPONSE,
    SCHEMA,
    SCHEMAS,
    SEMANTIC_TYPE,
    TELEMETRY,
    TYPED,
    UNDEFINED,
    UNIT,
    VALUE_SCHEMA,
    WITH,
    WRITABLE,
];

/// Where an `#[iotc(...)]` attribute is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On a `#[derive(Telemetry)]` or `#[derive(Properties)]` struct.
    ContentContainer,
    /// On a field of a `#[derive(Telemetry)]` struct.
    TelemetryField,
    /// On a field of a `#[derive(Properties)]` struct.
    PropertyField,
    /// On a `#[derive(Commands)]` enum.
    CommandsContainer,
    /// On a variant of a `#[derive(Commands)]` enum.
    CommandVariant,
    /// Inside `request(...)`.
    Request,
    /// Inside `response(...)`.
    Response,
    /// On a `#[derive(DtdlSchema)]` struct.
    SchemaStruct,
    /// On a `#[derive(DtdlSchema)]` enum.
    SchemaEnum,
    /// On a field of a `#[derive(DtdlSchema)]` struct.
    SchemaField,
    /// On a variant of a `#[derive(DtdlSchema)]` enum.
    SchemaVariant,
    /// On a `#[derive(Interface)]` struct.
    Interface,
    /// Inside `component(...)`.
    Component,
}

impl Place {
    fn allowed(self) -> &'static [Symbol] {
        match self {
            Place::ContentContainer | Place::CommandsContainer => &[CRATE, DOCS],
            Place::TelemetryField => &[
                ID,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                CO_TYPE,
                SEMANTIC_TYPE,
                UNIT,
                SCHEMA,
                MAP_KEY,
                MAP_VALUE,
                UNDEFINED,
            ],
            Place::PropertyField => &[
                ID,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                CO_TYPE,
                SEMANTIC_TYPE,
                UNIT,
                WRITABLE,
                SCHEMA,
                MAP_KEY,
                MAP_VALUE,
                UNDEFINED,
            ],
            Place::CommandVariant => &[
                ID,
                NAME,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                COMMAND_TYPE,
                REQUEST,
                RESPONSE,
            ],
            Place::Request => &[
                ID,
                NAME,
                SCHEMA,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                TYPED,
                MAP_KEY,
                MAP_VALUE,
                WITH,
            ],
            Place::Response => &[
                ID,
                NAME,
                SCHEMA,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                TYPED,
                MAP_KEY,
                MAP_VALUE,
            ],
            Place::SchemaStruct => &[CRATE, DOCS, ID, DISPLAY_NAME, DESCRIPTION, COMMENT],
            Place::SchemaEnum => &[
                CRATE,
                DOCS,
                ID,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                VALUE_SCHEMA,
            ],
            Place::SchemaField => &[
                ID,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                SCHEMA,
                MAP_KEY,
                MAP_VALUE,
            ],
            Place::SchemaVariant => &[ID, NAME, DISPLAY_NAME, DESCRIPTION, COMMENT, TYPED],
            Place::Interface => &[
                CRATE,
                DOCS,
                ID,
                DISPLAY_NAME,
                DESCRIPTION,
                COMMENT,
                CO_TYPE,
                IOTCENTRAL,
                EXTENDS,
                SCHEMAS,
                TELEMETRY,
                PROPERTIES,
                COMMANDS,
                COMPONENT,
            ],
            Place::Component => &[ID, NAME, SCHEMA, DISPLAY_NAME, DESCRIPTION, COMMENT],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Place::ContentContainer => "a telemetry or properties struct",
            Place::TelemetryField => "a telemetry field",
            Place::PropertyField => "a property field",
            Place::CommandsContainer => "a commands enum",
            Place::CommandVariant => "a command variant",
            Place::Request => "`request(...)`",
            Place::Response => "`response(...)`",
            Place::SchemaStruct => "a `DtdlSchema` struct",
            Place::SchemaEnum => "a `DtdlSchema` enum",
            Place::SchemaField => "a `DtdlSchema` field",
            Place::SchemaVariant => "a `DtdlSchema` enum variant",
            Place::Interface => "an interface",
            Place::Component => "`component(...)`",
        }
    }
}

/// One attribute value and where its key was.
pub(crate) struct Attr<T>(Option<(Span, T)>);

impl<T> Default for Attr<T> {
    fn default() -> Self {
        Attr(None)
    }
}

impl<T> Attr<T> {
    fn set(&mut self, cx: &Ctxt, key: Symbol, span: Span, value: T) {
        if self.0.is_some() {
            cx.error_at(span, format!("duplicate iotc attribute `{key}`"));
        } else {
            self.0 = Some((span, value));
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.0.as_ref().map(|(_, value)| value)
    }

    pub(crate) fn span(&self) -> Option<Span> {
        self.0.as_ref().map(|(span, _)| *span)
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// `request(...)` or `response(...)` of a command: its keys, and the `with` of a request.
pub(crate) struct Payload {
    pub(crate) attrs: Box<Attrs>,
    pub(crate) with: Attr<syn::Path>,
}

/// `component(...)` of an interface.
pub(crate) struct ComponentAttr {
    pub(crate) attrs: Box<Attrs>,
}

/// `display_name("de" = "...", ...)`: texts in other languages than English.
pub(crate) type Languages = Vec<(LitStr, LitStr)>;

/// Everything `#[iotc(...)]` may hold; which keys are allowed depends on the [`Place`].
#[derive(Default)]
pub(crate) struct Attrs {
    pub(crate) crate_path: Attr<syn::Path>,
    pub(crate) id: Attr<LitStr>,
    pub(crate) name: Attr<LitStr>,
    pub(crate) display_name: Attr<LitStr>,
    pub(crate) display_name_languages: Languages,
    pub(crate) description: Attr<LitStr>,
    pub(crate) description_languages: Languages,
    pub(crate) comment: Attr<LitStr>,
    pub(crate) co_types: Vec<LitStr>,
    pub(crate) command_type: Attr<LitStr>,
    pub(crate) docs: Attr<bool>,
    pub(crate) extends: Vec<LitStr>,
    pub(crate) iotcentral: Attr<()>,
    pub(crate) map_key: Attr<LitStr>,
    pub(crate) map_value: Attr<LitStr>,
    pub(crate) schemas: Vec<Type>,
    pub(crate) typed: Attr<()>,
    pub(crate) undefined: Languages,
    pub(crate) semantic_type: Attr<LitStr>,
    pub(crate) unit: Attr<LitStr>,
    pub(crate) writable: Attr<()>,
    pub(crate) schema: Attr<Type>,
    pub(crate) value_schema: Attr<LitStr>,
    pub(crate) telemetry: Attr<Type>,
    pub(crate) properties: Attr<Type>,
    pub(crate) commands: Attr<Type>,
    pub(crate) components: Vec<ComponentAttr>,
    pub(crate) request: Attr<Payload>,
    pub(crate) response: Attr<Payload>,
}

impl Attrs {
    /// Parses every `#[iotc(...)]` in `attrs`, recording errors in `cx`.
    pub(crate) fn parse(cx: &Ctxt, attrs: &[Attribute], place: Place) -> Self {
        let mut out = Attrs::default();
        for attr in attrs {
            if *attr.path() != IOTC {
                continue;
            }
            if let Meta::Path(path) = &attr.meta {
                cx.error_spanned_by(path, "expected `#[iotc(...)]`");
                continue;
            }
            let result = attr.parse_nested_meta(|meta| out.parse_key(cx, place, meta));
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        out.check_lengths(cx);
        out
    }

    fn parse_key(&mut self, cx: &Ctxt, place: Place, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let span = meta.path.span();
        let Some(key) = symbol(&meta.path) else {
            let key = meta.path.to_token_stream().to_string().replace(' ', "");
            cx.error_at(
                span,
                format!(
                    "unknown iotc attribute `{key}` on {}; expected {}",
                    place.describe(),
                    expected(place)
                ),
            );
            return skip_value(&meta);
        };
        if !place.allowed().contains(&key) {
            let message = match (key, place) {
                (WRITABLE, Place::TelemetryField) => {
                    "`writable` is not allowed on telemetry: only properties can be writable"
                        .to_owned()
                }
                (SEMANTIC_TYPE | UNIT, Place::SchemaField | Place::Request | Place::Response) => {
                    format!(
                        "`{key}` is not allowed on {}: DTDL v2 allows semantic types and units \
                         on telemetry and properties only",
                        place.describe()
                    )
                }
                _ => format!(
                    "iotc attribute `{key}` is not allowed on {}; expected {}",
                    place.describe(),
                    expected(place)
                ),
            };
            cx.error_at(span, message);
            return skip_value(&meta);
        }
        match key {
            CRATE => {
                let lit = string(&meta)?;
                match lit.parse::<syn::Path>() {
                    Ok(path) => self.crate_path.set(cx, key, span, path),
                    Err(_) => {
                        cx.error_spanned_by(&lit, "expected a path, as in `crate = \"iotc_sdk\"`")
                    }
                }
            }
            ID => self.id.set(cx, key, span, string(&meta)?),
            NAME => self.name.set(cx, key, span, string(&meta)?),
            DISPLAY_NAME if meta.input.peek(syn::token::Paren) => {
                self.display_name_languages.extend(pairs(&meta)?)
            }
            DISPLAY_NAME => self.display_name.set(cx, key, span, string(&meta)?),
            DESCRIPTION if meta.input.peek(syn::token::Paren) => {
                self.description_languages.extend(pairs(&meta)?)
            }
            DESCRIPTION => self.description.set(cx, key, span, string(&meta)?),
            COMMENT => self.comment.set(cx, key, span, string(&meta)?),
            CO_TYPE => self.co_types.push(string(&meta)?),
            COMMAND_TYPE => self.command_type.set(cx, key, span, string(&meta)?),
            DOCS => {
                let expr: Expr = meta.value()?.parse()?;
                match expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Bool(b), ..
                    }) => self.docs.set(cx, key, span, b.value),
                    other => cx.error_spanned_by(other, "expected `docs = true` or `docs = false`"),
                }
            }
            EXTENDS => self.extends.push(string(&meta)?),
            IOTCENTRAL | TYPED => {
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    cx.error_at(
                        span,
                        format!("`{key}` takes no value: write `#[iotc({key})]`"),
                    );
                    skip_value(&meta)?;
                }
                if key == IOTCENTRAL {
                    self.iotcentral.set(cx, key, span, ());
                } else {
                    self.typed.set(cx, key, span, ());
                }
            }
            MAP_KEY => self.map_key.set(cx, key, span, string(&meta)?),
            MAP_VALUE => self.map_value.set(cx, key, span, string(&meta)?),
            SCHEMAS => {
                let content;
                syn::parenthesized!(content in meta.input);
                let types =
                    syn::punctuated::Punctuated::<Type, Token![,]>::parse_terminated(&content)?;
                self.schemas.extend(types);
            }
            UNDEFINED => self.undefined.extend(pairs(&meta)?),
            SEMANTIC_TYPE => self.semantic_type.set(cx, key, span, string(&meta)?),
            UNIT => self.unit.set(cx, key, span, string(&meta)?),
            VALUE_SCHEMA => {
                let lit = string(&meta)?;
                if lit.value() != "integer" && lit.value() != "string" {
                    cx.error_spanned_by(
                        &lit,
                        "`value_schema` must be \"integer\" or \"string\" (DTDL enums hold only those)",
                    );
                }
                self.value_schema.set(cx, key, span, lit);
            }
            WRITABLE => {
                if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                    cx.error_at(span, "`writable` takes no value: write `#[iotc(writable)]`");
                    skip_value(&meta)?;
                }
                self.writable.set(cx, key, span, ());
            }
            SCHEMA => self.schema.set(cx, key, span, meta.value()?.parse()?),
            TELEMETRY => self.telemetry.set(cx, key, span, meta.value()?.parse()?),
            PROPERTIES => self.properties.set(cx, key, span, meta.value()?.parse()?),
            COMMANDS => self.commands.set(cx, key, span, meta.value()?.parse()?),
            COMPONENT => {
                let mut nested = Attrs::default();
                meta.parse_nested_meta(|m| nested.parse_key(cx, Place::Component, m))?;
                nested.check_lengths(cx);
                if !nested.name.is_set() {
                    cx.error_at(span, "`component(...)` needs a `name = \"...\"`");
                }
                if !nested.schema.is_set() {
                    cx.error_at(
                        span,
                        "`component(...)` needs a `schema = Type` (a type that derives `Interface`)",
                    );
                }
                self.components.push(ComponentAttr {
                    attrs: Box::new(nested),
                });
            }
            REQUEST | RESPONSE => {
                let nested_place = if key == REQUEST {
                    Place::Request
                } else {
                    Place::Response
                };
                let mut nested = Attrs::default();
                let mut with = Attr::default();
                meta.parse_nested_meta(|m| {
                    if m.path == WITH && nested_place == Place::Request {
                        let lit = string(&m)?;
                        match lit.parse::<syn::Path>() {
                            Ok(path) => with.set(cx, WITH, m.path.span(), path),
                            Err(_) => cx.error_spanned_by(
                                &lit,
                                "expected a module path, as in `with = \"time::serde::rfc3339\"`",
                            ),
                        }
                        Ok(())
                    } else {
                        nested.parse_key(cx, nested_place, m)
                    }
                })?;
                nested.check_lengths(cx);
                let payload = Payload {
                    attrs: Box::new(nested),
                    with,
                };
                if key == REQUEST {
                    self.request.set(cx, key, span, payload);
                } else {
                    self.response.set(cx, key, span, payload);
                }
            }
            _ => {
                cx.error_at(
                    span,
                    format!("iotc attribute `{key}` is not supported here"),
                );
                skip_value(&meta)?;
            }
        }
        Ok(())
    }

    fn check_lengths(&self, cx: &Ctxt) {
        if let Some(lit) = self.display_name.get() {
            check_length(cx, "`display_name`", lit, MAX_DISPLAY_NAME);
        }
        if let Some(lit) = self.description.get() {
            check_length(cx, "`description`", lit, MAX_DESCRIPTION);
        }
        for (_, lit) in &self.display_name_languages {
            check_length(cx, "`display_name`", lit, MAX_DISPLAY_NAME);
        }
        for (_, lit) in &self.description_languages {
            check_length(cx, "`description`", lit, MAX_DESCRIPTION);
        }
        for (language, _) in self
            .display_name_languages
            .iter()
            .chain(&self.description_languages)
        {
            if language.value() == "en" {
                cx.error_spanned_by(
                    language,
                    "write the English text as `display_name = \"...\"` / `description = \"...\"`",
                );
            }
        }
        if let Some(lit) = self.comment.get() {
            check_length(cx, "`comment`", lit, MAX_DESCRIPTION);
        }
    }

    /// `description`, or else, when `docs`, the first paragraph of the doc comment in `attrs`.
    pub(crate) fn description_or_doc_if(
        &self,
        cx: &Ctxt,
        attrs: &[Attribute],
        docs: bool,
    ) -> Option<String> {
        if let Some(lit) = self.description.get() {
            return Some(lit.value());
        }
        if !docs {
            return None;
        }
        let (doc, first) = doc_paragraph(attrs)?;
        if doc.chars().count() > MAX_DESCRIPTION {
            cx.error_spanned_by(
                first,
                format!(
                    "the first paragraph of this doc comment is longer than {MAX_DESCRIPTION} \
                     characters, the limit for a DTDL description: shorten it, or set \
                     `#[iotc(description = \"...\")]`"
                ),
            );
        }
        Some(doc)
    }
}

/// `key("de" = "...", ...)`.
fn pairs(meta: &ParseNestedMeta<'_>) -> syn::Result<Languages> {
    let content;
    syn::parenthesized!(content in meta.input);
    let mut out = Vec::new();
    while !content.is_empty() {
        let key: LitStr = content.parse()?;
        let _: Token![=] = content.parse()?;
        let value: LitStr = content.parse()?;
        out.push((key, value));
        if content.is_empty() {
            break;
        }
        let _: Token![,] = content.parse()?;
    }
    Ok(out)
}

/// The key as a known symbol.
fn symbol(path: &syn::Path) -> Option<Symbol> {
    ALL.iter().copied().find(|s| path == s)
}

/// `` `a`, `b` or `c` `` for the keys allowed at `place`.
fn expected(place: Place) -> String {
    let keys: Vec<String> = place.allowed().iter().map(|k| format!("`{k}`")).collect();
    match keys.as_slice() {
        [] => "no attributes".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("one of {} or {last}", rest.join(", ")),
    }
}

/// `key = "..."`.
fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected a string literal: `{} = \"...\"`",
                meta.path.to_token_stream()
            ),
        )),
    }
}

/// Consumes the value of a key that was rejected, so parsing goes on with the next key.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: proc_macro2::TokenTree = meta.input.parse()?;
    }
    Ok(())
}

/// The first paragraph of the doc comment (lines joined by spaces) and the first doc attribute.
fn doc_paragraph(attrs: &[Attribute]) -> Option<(String, &Attribute)> {
    let mut first = None;
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) = &nv.value
        else {
            continue;
        };
        first.get_or_insert(attr);
        for line in lit.value().lines() {
            lines.push(line.trim().to_owned());
        }
    }
    let text = lines
        .iter()
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        None
    } else {
        first.map(|attr| (text, attr))
    }
}

/// `Some("...")` or `None` as tokens of an `Option<&str>`.
pub(crate) fn opt_str(value: Option<String>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// The tokens of an `Option<LocalizedString>`: the English text and the other languages.
pub(crate) fn localized(
    p: &TokenStream,
    english: Option<String>,
    languages: &[(LitStr, LitStr)],
) -> TokenStream {
    let english = opt_str(english);
    let keys = languages.iter().map(|(k, _)| k);
    let texts = languages.iter().map(|(_, v)| v);
    quote!(#p::text(#english, &[#((#keys, #texts)),*]))
}

/// The tokens of the shared metadata of an element: `id`, `display_name`, `description` (with
/// `description` given, e.g. from a doc comment) and `comment`, as struct fields.
pub(crate) fn meta_fields(
    p: &TokenStream,
    attrs: &Attrs,
    description: Option<String>,
) -> TokenStream {
    let id = opt_str(value(&attrs.id));
    let display_name = localized(p, value(&attrs.display_name), &attrs.display_name_languages);
    let description = localized(p, description, &attrs.description_languages);
    let comment = opt_str(value(&attrs.comment));
    quote! {
        id: #p::opt(#id),
        display_name: #display_name,
        description: #description,
        comment: #p::opt(#comment),
    }
}

/// `schema` with the map names of `map_key`/`map_value`, when either is set.
pub(crate) fn with_map_names(p: &TokenStream, attrs: &Attrs, schema: TokenStream) -> TokenStream {
    if !attrs.map_key.is_set() && !attrs.map_value.is_set() {
        return schema;
    }
    let key = opt_str(value(&attrs.map_key));
    let value = opt_str(value(&attrs.map_value));
    quote!(#p::map_names(#schema, #key, #value))
}

/// The value of an optional string attribute.
pub(crate) fn value(attr: &Attr<LitStr>) -> Option<String> {
    attr.get().map(LitStr::value)
}
