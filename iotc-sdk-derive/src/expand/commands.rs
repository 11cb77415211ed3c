//! `#[derive(Commands)]`: one command per enum variant; a newtype variant holds the request.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

use super::{dummy_const, lower_camel, private_path, reject_generics, unraw};
use crate::attr::{meta_fields, opt_str, value, with_map_names, Attrs, Payload, Place};
use crate::check::name_error;
use crate::ctxt::Ctxt;

const VARIANT_SHAPES: &str = "a command variant is a unit variant (no request, as in `Reboot`) \
                              or a newtype variant holding the request type (as in \
                              `Reboot(i32)`)";

/// A `request(...)`/`response(...)` payload: its checks and its `model::CommandPayload`.
fn payload(
    cx: &Ctxt,
    p: &TokenStream,
    attrs: Option<&Payload>,
    default_name: &str,
    ty: &syn::Type,
) -> TokenStream {
    let name = attrs
        .and_then(|a| a.attrs.name.get())
        .map(|lit| {
            if let Some(error) = name_error(&lit.value()) {
                cx.error_spanned_by(lit, error);
            }
            lit.value()
        })
        .unwrap_or_else(|| default_name.to_owned());
    let empty = Attrs::default();
    let attrs = attrs.map_or(&empty, |a| &*a.attrs);
    let ty = attrs.schema.get().unwrap_or(ty);
    let meta = meta_fields(p, attrs, value(&attrs.description));
    let typed = attrs.typed.is_set();
    let schema = with_map_names(
        p,
        attrs,
        quote_spanned!(ty.span()=> <#ty as #p::DtdlSchema>::schema()),
    );
    quote! {
        #p::Option::Some(#p::model::CommandPayloadInfo {
            name: #p::string(#name),
            schema: #schema,
            typed: #typed,
            #meta
        })
    }
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let container_attrs = Attrs::parse(&cx, &input.attrs, Place::CommandsContainer);
    let p = private_path(&container_attrs);
    let docs = container_attrs.docs.get().copied().unwrap_or(true);
    reject_generics(&cx, &input.generics, "Commands", false);

    let mut commands = Vec::new();
    let mut arms = Vec::new();
    match &input.data {
        Data::Enum(data) => {
            let mut seen: HashMap<String, String> = HashMap::new();
            for variant in &data.variants {
                let attrs = Attrs::parse(&cx, &variant.attrs, Place::CommandVariant);
                let ident = &variant.ident;
                let name = match attrs.name.get() {
                    Some(lit) => {
                        if let Some(error) = name_error(&lit.value()) {
                            cx.error_spanned_by(lit, error);
                        }
                        lit.value()
                    }
                    None => {
                        let name = lower_camel(&unraw(ident));
                        if let Some(error) = name_error(&name) {
                            cx.error_spanned_by(
                                ident,
                                format!("{error} (set `#[iotc(name = \"...\")]`)"),
                            );
                        }
                        name
                    }
                };
                if let Some(other) = seen.insert(name.clone(), ident.to_string()) {
                    cx.error_spanned_by(
                        ident,
                        format!("duplicate command name `{name}`: variant `{other}` has it too"),
                    );
                }

                let request_ty = match &variant.fields {
                    Fields::Unit => None,
                    Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                        fields.unnamed.first().map(|f| &f.ty)
                    }
                    Fields::Unnamed(fields) => {
                        cx.error_spanned_by(
                            fields,
                            format!("tuple variants with several fields are not supported: {VARIANT_SHAPES}"),
                        );
                        continue;
                    }
                    Fields::Named(fields) => {
                        cx.error_spanned_by(
                            fields,
                            format!(
                                "struct variants are not supported: {VARIANT_SHAPES}; for an \
                                 object request, derive `DtdlSchema` and `Deserialize` for a \
                                 struct and hold it in a newtype variant"
                            ),
                        );
                        continue;
                    }
                };

                let request = match (request_ty, attrs.request.get()) {
                    (Some(ty), request) => payload(&cx, &p, request, "request", ty),
                    (None, Some(_)) => {
                        if let Some(span) = attrs.request.span() {
                            cx.error_at(
                                span,
                                format!(
                                    "`request(...)` describes the request of a newtype variant, \
                                     but `{ident}` holds none: {VARIANT_SHAPES}"
                                ),
                            );
                        }
                        quote!(#p::Option::None)
                    }
                    (None, None) => quote!(#p::Option::None),
                };
                let response = match attrs.response.get() {
                    Some(response) => match response.attrs.schema.get() {
                        Some(ty) => payload(&cx, &p, Some(response), "response", ty),
                        None => {
                            if let Some(span) = attrs.response.span() {
                                cx.error_at(
                                    span,
                                    "`response(...)` needs `schema = Type`, the type the device \
                                     answers with (it must implement `DtdlSchema`)",
                                );
                            }
                            quote!(#p::Option::None)
                        }
                    },
                    None => quote!(#p::Option::None),
                };
                let description = attrs.description_or_doc_if(&cx, &variant.attrs, docs);
                let meta = meta_fields(&p, &attrs, description);
                let command_type = opt_str(value(&attrs.command_type));
                commands.push(quote! {
                    #p::model::CommandInfo {
                        name: #p::string(#name),
                        request: #request,
                        response: #response,
                        command_type: #p::opt(#command_type),
                        #meta
                    }
                });

                let arm = match request_ty {
                    None => quote! {
                        #name => #p::Result::Ok(Self::#ident),
                    },
                    Some(ty) => {
                        let with = attrs.request.get().and_then(|r| r.with.get());
                        let parse = match with {
                            Some(path) => quote_spanned! {path.span()=>
                                #p::parse_request_with::<#ty>(#name, __payload, {
                                    fn deserialize(
                                        deserializer: &mut #p::JsonDeserializer<'_>,
                                    ) -> #p::Result<#ty, #p::serde_json::Error> {
                                        #path::deserialize(deserializer)
                                    }
                                    deserialize
                                })
                            },
                            None => quote_spanned! {ty.span()=>
                                #p::parse_request::<#ty>(#name, __payload)
                            },
                        };
                        quote! {
                            #name => #p::Result::map(#parse, Self::#ident),
                        }
                    }
                };
                arms.push(arm);
            }
        }
        _ => cx.error_spanned_by(
            &input.ident,
            "`#[derive(Commands)]` needs an enum with one variant per command",
        ),
    }
    cx.check()?;

    let ident = &input.ident;
    Ok(dummy_const(quote! {
        #[automatically_derived]
        impl #p::Commands for #ident {
            fn commands() -> #p::Vec<#p::model::CommandInfo> {
                #p::Vec::from([#(#commands),*])
            }

            fn parse(
                __name: &str,
                __payload: &[u8],
            ) -> #p::Result<Self, #p::CommandParseError> {
                let _ = __payload;
                match __name {
                    #(#arms)*
                    _ => #p::unknown_command(__name),
                }
            }
        }
    }))
}
