//! `#[derive(DtdlSchema)]`: structs → `Object`, fieldless enums → `Enum`, newtypes → the inner
//! schema.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use serde_derive_internals::ast::{Container, Data, Style};
use serde_derive_internals::attr::TagType;
use syn::spanned::Spanned;
use syn::{DeriveInput, Expr, ExprLit, ExprUnary, Lit, UnOp};

use super::{dummy_const, private_path, serde_container, unraw};
use crate::attr::{meta_fields, with_map_names, Attrs, Place};
use crate::check::{field_name_error, name_error};
use crate::ctxt::Ctxt;

/// DTDL v2 Objects have at most this many fields.
const MAX_FIELDS: usize = 30;
/// DTDL v2 Enums have at most this many values.
const MAX_VALUES: usize = 100;

/// What the generated impl returns.
struct Body {
    schema: TokenStream,
    numeric: TokenStream,
    has_array: TokenStream,
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let place = match input.data {
        syn::Data::Enum(_) => Place::SchemaEnum,
        _ => Place::SchemaStruct,
    };
    let attrs = Attrs::parse(&cx, &input.attrs, place);
    let p = private_path(&attrs);
    // Lifetimes and type parameters are fine here: there are no assertions outside the impl.
    // Const parameters are rejected (arrays of any length already have a schema).
    for param in input.generics.const_params() {
        cx.error_spanned_by(
            param,
            "`#[derive(DtdlSchema)]` does not support const parameters",
        );
    }

    let body = match serde_container(&cx, input) {
        Some(container) => body(&cx, &p, &attrs, &container),
        None => None,
    };
    cx.check()?;
    let Some(body) = body else {
        return Ok(TokenStream::new());
    };

    let ident = &input.ident;
    let mut generics = input.generics.clone();
    let type_params: Vec<syn::Ident> = generics.type_params().map(|t| t.ident.clone()).collect();
    if !type_params.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in type_params {
            where_clause
                .predicates
                .push(syn::parse_quote!(#param: #p::DtdlSchema));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let Body {
        schema,
        numeric,
        has_array,
    } = body;
    Ok(dummy_const(quote! {
        #[automatically_derived]
        impl #impl_generics #p::DtdlSchema for #ident #ty_generics #where_clause {
            fn schema() -> #p::model::Schema {
                #schema
            }
            const NUMERIC: bool = #numeric;
            const HAS_ARRAY: bool = #has_array;
        }
    }))
}

/// The schema of `ty` and its constants, taken over (newtypes, `transparent`, `into`).
fn forward(p: &TokenStream, ty: &syn::Type) -> Body {
    let span = ty.span();
    Body {
        schema: quote_spanned!(span=> <#ty as #p::DtdlSchema>::schema()),
        numeric: quote_spanned!(span=> <#ty as #p::DtdlSchema>::NUMERIC),
        has_array: quote_spanned!(span=> <#ty as #p::DtdlSchema>::HAS_ARRAY),
    }
}

fn body(cx: &Ctxt, p: &TokenStream, attrs: &Attrs, container: &Container<'_>) -> Option<Body> {
    let input = container.original;
    if let Some(into) = container.attrs.type_into() {
        return Some(forward(p, into));
    }
    let docs = attrs.docs.get().copied().unwrap_or(true);
    let description = attrs.description_or_doc_if(cx, &input.attrs, docs);
    let meta = meta_fields(p, attrs, description);
    match &container.data {
        Data::Struct(style, fields) => {
            if attrs.value_schema.is_set() {
                cx.error_at(
                    attrs.value_schema.span()?,
                    "`value_schema` applies to enums only",
                );
            }
            if container.attrs.transparent() {
                let field = fields.iter().find(|f| f.attrs.transparent())?;
                return Some(forward(p, field.ty));
            }
            match style {
                Style::Newtype => {
                    let field = fields.first()?;
                    Some(forward(p, field.ty))
                }
                Style::Struct => object(cx, p, container, fields, meta, docs),
                Style::Tuple => {
                    cx.error_spanned_by(
                        &input.ident,
                        "tuple structs with several fields serialize as arrays of mixed types, \
                         which DTDL cannot describe: use named fields (an Object)",
                    );
                    None
                }
                Style::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "unit structs have no DTDL schema: an Object needs 1 to 30 fields",
                    );
                    None
                }
            }
        }
        Data::Enum(variants) => enumeration(cx, p, attrs, container, variants, meta, docs),
    }
}

fn object(
    cx: &Ctxt,
    p: &TokenStream,
    container: &Container<'_>,
    fields: &[serde_derive_internals::ast::Field<'_>],
    meta: TokenStream,
    docs: bool,
) -> Option<Body> {
    let input = container.original;
    if let TagType::Internal { .. } = container.attrs.tag() {
        cx.error_spanned_by(
            &input.ident,
            "`#[serde(tag = \"...\")]` on a struct is not supported",
        );
    }
    let mut items = Vec::new();
    let mut types = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for field in fields {
        let original = field.original;
        let attrs = Attrs::parse(cx, &original.attrs, Place::SchemaField);
        if field.attrs.skip_serializing() {
            continue;
        }
        if field.attrs.flatten() {
            cx.error_spanned_by(original, "`#[serde(flatten)]` is not supported here");
            continue;
        }
        let field_name = original
            .ident
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let name = field.attrs.name().serialize_name().to_owned();
        if let Some(error) = field_name_error(&name) {
            cx.error_spanned_by(&original.ident, error);
        }
        if let Some(other) = seen.insert(name.clone(), field_name) {
            cx.error_spanned_by(
                &original.ident,
                format!("duplicate field name `{name}`: field `{other}` has it too"),
            );
        }
        let ty = attrs.schema.get().unwrap_or(field.ty).clone();
        let field_description = attrs.description_or_doc_if(cx, &original.attrs, docs);
        let field_meta = meta_fields(p, &attrs, field_description);
        let schema = with_map_names(
            p,
            &attrs,
            quote_spanned!(ty.span()=> <#ty as #p::DtdlSchema>::schema()),
        );
        items.push(quote! {
            #p::model::Field {
                name: #p::string(#name),
                schema: #schema,
                #field_meta
            }
        });
        types.push(ty);
    }
    if items.is_empty() || items.len() > MAX_FIELDS {
        cx.error_spanned_by(
            &input.ident,
            format!(
                "a DTDL v2 Object needs 1 to {MAX_FIELDS} serialized fields, and this struct has {}",
                items.len()
            ),
        );
    }
    let has_array = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #p::DtdlSchema>::HAS_ARRAY));
    Some(Body {
        schema: quote! {
            #p::model::Schema::Object(#p::model::ObjectSchema {
                fields: #p::Vec::from([#(#items),*]),
                #meta
            })
        },
        numeric: quote!(false),
        has_array: quote!(false #(|| #has_array)*),
    })
}

/// The discriminant of a variant written as an integer literal, possibly negated.
fn literal_discriminant(expr: &Expr) -> Option<i128> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<i128>().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => literal_discriminant(expr).map(|v| -v),
        Expr::Group(group) => literal_discriminant(&group.expr),
        Expr::Paren(paren) => literal_discriminant(&paren.expr),
        _ => None,
    }
}

fn enumeration(
    cx: &Ctxt,
    p: &TokenStream,
    attrs: &Attrs,
    container: &Container<'_>,
    variants: &[serde_derive_internals::ast::Variant<'_>],
    meta: TokenStream,
    docs: bool,
) -> Option<Body> {
    let input = container.original;
    let integer = attrs
        .value_schema
        .get()
        .is_some_and(|v| v.value() == "integer");
    if !integer && !matches!(container.attrs.tag(), TagType::External) {
        cx.error_spanned_by(
            &input.ident,
            "a string enum must be externally tagged (serde's default) so that each value \
             serializes as its name; remove `tag`/`untagged`",
        );
    }
    let mut items = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut values: HashMap<String, String> = HashMap::new();
    let mut next: i128 = 0;
    let mut bad_variants = false;
    for variant in variants {
        let original = variant.original;
        let variant_attrs = Attrs::parse(cx, &original.attrs, Place::SchemaVariant);
        if !matches!(variant.style, Style::Unit) {
            bad_variants = true;
            cx.error_spanned_by(
                original,
                "only fieldless enums derive `DtdlSchema` (a DTDL Enum); use a struct for \
                 structured values",
            );
            continue;
        }
        let discriminant = match &original.discriminant {
            Some((_, expr)) => match literal_discriminant(expr) {
                Some(value) => value,
                None => {
                    if integer {
                        cx.error_spanned_by(
                            expr,
                            "an integer enum needs integer literal discriminants",
                        );
                    }
                    next
                }
            },
            None => next,
        };
        next = discriminant + 1;
        if variant.attrs.skip_serializing() {
            continue;
        }
        let name = match variant_attrs.name.get() {
            Some(lit) => {
                if let Some(error) = name_error(&lit.value()) {
                    cx.error_spanned_by(lit, error);
                }
                lit.value()
            }
            None => {
                let name = unraw(&original.ident);
                if let Some(error) = name_error(&name) {
                    cx.error_spanned_by(
                        &original.ident,
                        format!("{error} (set `#[iotc(name = \"...\")]`)"),
                    );
                }
                name
            }
        };
        if let Some(other) = names.insert(name.clone(), original.ident.to_string()) {
            cx.error_spanned_by(
                &original.ident,
                format!("duplicate enum value name `{name}`: variant `{other}` has it too"),
            );
        }
        let (value_tokens, value_text) = if integer {
            let Ok(value) = i32::try_from(discriminant) else {
                cx.error_spanned_by(
                    original,
                    "DTDL enum values are 32-bit signed integers; this discriminant does not fit",
                );
                continue;
            };
            (
                quote!(#p::model::EnumValueKind::Integer(#value)),
                value.to_string(),
            )
        } else {
            let text = variant.attrs.name().serialize_name().to_owned();
            (
                quote!(#p::model::EnumValueKind::String(#p::string(#text))),
                text,
            )
        };
        if let Some(other) = values.insert(value_text.clone(), original.ident.to_string()) {
            cx.error_spanned_by(
                &original.ident,
                format!("duplicate enum value `{value_text}`: variant `{other}` has it too"),
            );
        }
        let variant_description = variant_attrs.description_or_doc_if(cx, &original.attrs, docs);
        let variant_meta = meta_fields(p, &variant_attrs, variant_description);
        let typed = variant_attrs.typed.is_set();
        items.push(quote! {
            #p::model::EnumValue {
                name: #p::string(#name),
                value: #value_tokens,
                typed: #typed,
                #variant_meta
            }
        });
    }
    if !bad_variants && (items.is_empty() || items.len() > MAX_VALUES) {
        cx.error_spanned_by(
            &input.ident,
            format!(
                "a DTDL v2 Enum needs 1 to {MAX_VALUES} values, and this enum has {}",
                items.len()
            ),
        );
    }
    let value_schema = if integer {
        quote!(#p::model::EnumValueSchema::Integer)
    } else {
        quote!(#p::model::EnumValueSchema::String)
    };
    Some(Body {
        schema: quote! {
            #p::model::Schema::Enum(#p::model::EnumSchema {
                value_schema: #value_schema,
                values: #p::Vec::from([#(#items),*]),
                #meta
            })
        },
        numeric: quote!(false),
        has_array: quote!(false),
    })
}
