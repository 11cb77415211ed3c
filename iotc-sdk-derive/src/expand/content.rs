//! `#[derive(Telemetry)]` and `#[derive(Properties)]`: one content element per serialized field.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use serde_derive_internals::ast::{Data, Style};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::{dummy_const, private_path, reject_generics, serde_container, with_static_lifetimes};
use crate::attr::{meta_fields, opt_str, value, with_map_names, Attrs, Place};
use crate::check::{check_semantic_type, field_name_error};
use crate::ctxt::Ctxt;

/// Which derive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Telemetry,
    Properties,
}

impl Kind {
    fn derive(self) -> &'static str {
        match self {
            Kind::Telemetry => "Telemetry",
            Kind::Properties => "Properties",
        }
    }
}

pub(crate) fn expand(input: &DeriveInput, kind: Kind) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let container_attrs = Attrs::parse(&cx, &input.attrs, Place::ContentContainer);
    let p = private_path(&container_attrs);
    let docs = container_attrs.docs.get().copied().unwrap_or(true);
    reject_generics(&cx, &input.generics, kind.derive(), true);

    let mut items = Vec::new();
    let mut asserts = Vec::new();
    if let Some(container) = serde_container(&cx, input) {
        let fields = match &container.data {
            Data::Struct(Style::Struct, fields) => fields.as_slice(),
            Data::Struct(Style::Unit, _) => &[],
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    format!(
                        "`#[derive({})]` needs a struct with named fields: each field is one {}",
                        kind.derive(),
                        match kind {
                            Kind::Telemetry => "telemetry value",
                            Kind::Properties => "property",
                        }
                    ),
                );
                &[]
            }
        };
        if container.attrs.transparent() {
            cx.error_spanned_by(
                &input.ident,
                "`#[serde(transparent)]` is not supported here: the fields are the contents",
            );
        }
        let place = match kind {
            Kind::Telemetry => Place::TelemetryField,
            Kind::Properties => Place::PropertyField,
        };
        let mut seen: HashMap<String, String> = HashMap::new();
        for field in fields {
            let original = field.original;
            let attrs = Attrs::parse(&cx, &original.attrs, place);
            if field.attrs.skip_serializing() {
                continue;
            }
            let field_name = match &original.ident {
                Some(ident) => ident.to_string(),
                None => continue,
            };
            if field.attrs.flatten() {
                cx.error_spanned_by(
                    original,
                    "`#[serde(flatten)]` is not supported: list the contents in this struct",
                );
                continue;
            }
            let name = field.attrs.name().serialize_name().to_owned();
            if let Some(error) = field_name_error(&name) {
                cx.error_spanned_by(&original.ident, error);
            }
            if let Some(other) = seen.insert(name.clone(), field_name.clone()) {
                cx.error_spanned_by(
                    &original.ident,
                    format!("duplicate content name `{name}`: field `{other}` has it too"),
                );
            }
            check_semantic_type(
                &cx,
                attrs.semantic_type.get(),
                attrs.unit.get(),
                &original.ident,
            );

            let ty = attrs.schema.get().unwrap_or(field.ty);
            let static_ty = with_static_lifetimes(ty);
            let span = ty.span();
            if let Some(semantic_type) = attrs.semantic_type.get() {
                let message = format!(
                    "semantic type `{}` needs a numeric schema (double, float, integer or long), \
                     but the type of `{field_name}` is not numeric",
                    semantic_type.value()
                );
                asserts.push(quote_spanned! {span=>
                    const _: () = ::core::assert!(
                        <#static_ty as #p::DtdlSchema>::NUMERIC,
                        #message
                    );
                });
            }
            if kind == Kind::Properties {
                let message = format!(
                    "DTDL v2 does not allow an Array anywhere in a Property schema, but the type \
                     of property `{name}` contains one (send it as telemetry instead)"
                );
                asserts.push(quote_spanned! {span=>
                    const _: () = ::core::assert!(
                        !<#static_ty as #p::DtdlSchema>::HAS_ARRAY,
                        #message
                    );
                });
            }

            let schema = with_map_names(
                &p,
                &attrs,
                quote_spanned!(span=> <#ty as #p::DtdlSchema>::schema()),
            );
            let semantic_type = opt_str(value(&attrs.semantic_type));
            let unit = opt_str(value(&attrs.unit));
            let description = attrs.description_or_doc_if(&cx, &original.attrs, docs);
            let meta = meta_fields(&p, &attrs, description);
            let co_types = attrs.co_types.iter();
            let undefined_keys = attrs.undefined.iter().map(|(k, _)| k);
            let undefined_values = attrs.undefined.iter().map(|(_, v)| v);
            let common = quote! {
                name: #p::string(#name),
                schema: #schema,
                co_types: #p::Vec::from([#(#p::string(#co_types)),*]),
                semantic_type: #p::opt(#semantic_type),
                unit: #p::opt(#unit),
                undefined: #p::undefined(&[#((#undefined_keys, #undefined_values)),*]),
                #meta
            };
            let item = match kind {
                Kind::Telemetry => quote! {
                    #p::model::TelemetryInfo { #common }
                },
                Kind::Properties => {
                    let writable = attrs.writable.is_set();
                    quote! {
                        #p::model::PropertyInfo { writable: #writable, #common }
                    }
                }
            };
            items.push(item);
        }
    }
    cx.check()?;

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let imp = match kind {
        Kind::Telemetry => quote! {
            #[automatically_derived]
            impl #impl_generics #p::Telemetry for #ident #ty_generics #where_clause {
                fn telemetry() -> #p::Vec<#p::model::TelemetryInfo> {
                    #p::Vec::from([#(#items),*])
                }
            }
        },
        Kind::Properties => quote! {
            #[automatically_derived]
            impl #impl_generics #p::Properties for #ident #ty_generics #where_clause {
                fn properties() -> #p::Vec<#p::model::PropertyInfo> {
                    #p::Vec::from([#(#items),*])
                }
            }
        },
    };
    Ok(dummy_const(quote! {
        #imp
        #(#asserts)*
    }))
}
