//! `#[derive(Interface)]`: a DTMI, the telemetry, properties and commands types, components.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput};

use super::{dummy_const, private_path, reject_generics, screaming_snake};
use crate::attr::{localized, meta_fields, opt_str, value, Attrs, Place};
use crate::check::{dtmi_error, name_error};
use crate::ctxt::Ctxt;

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let attrs = Attrs::parse(&cx, &input.attrs, Place::Interface);
    let p = private_path(&attrs);
    reject_generics(&cx, &input.generics, "Interface", false);
    if !matches!(input.data, Data::Struct(_)) {
        cx.error_spanned_by(
            &input.ident,
            "`#[derive(Interface)]` goes on a struct, usually a unit struct: `struct Thermostat;`",
        );
    }
    let ident = &input.ident;

    let id = match attrs.id.get() {
        Some(lit) => {
            let id = lit.value();
            if let Some(error) = dtmi_error(&id) {
                cx.error_spanned_by(lit, format!("invalid DTMI `{id}`: {error}"));
            }
            id
        }
        None => {
            cx.error_spanned_by(
                ident,
                "missing `#[iotc(id = \"dtmi:...;1\")]`: the interface's DTMI",
            );
            String::new()
        }
    };

    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut components = Vec::new();
    let mut consts = Vec::new();
    let mut interfaces = Vec::new();
    let mut asserts = Vec::new();
    for component in &attrs.components {
        let component = &*component.attrs;
        let (Some(name_lit), Some(schema)) = (component.name.get(), component.schema.get()) else {
            continue;
        };
        let name = name_lit.value();
        let valid_name = match name_error(&name) {
            Some(error) => {
                cx.error_spanned_by(name_lit, error);
                false
            }
            None => true,
        };
        if seen.insert(name.clone(), ()).is_some() {
            cx.error_spanned_by(name_lit, format!("duplicate component name `{name}`"));
        }
        let meta = meta_fields(&p, component, value(&component.description));
        let span = schema.span();
        components.push(quote! {
            #p::model::ComponentInfo {
                name: #p::string(#name),
                schema: #p::string(<#schema as #p::Interface>::ID),
                #meta
            }
        });
        interfaces.push(quote_spanned! {span=>
            #p::push_interfaces(&mut list, <#schema as #p::Interface>::interfaces());
        });
        let message = format!(
            "component `{name}`: its interface has components itself, and DTDL does not allow \
             components inside a component's interface"
        );
        asserts.push(quote_spanned! {span=>
            const _: () = ::core::assert!(!<#schema as #p::Interface>::HAS_COMPONENTS, #message);
        });
        if !valid_name {
            continue;
        }
        let const_name = format_ident!("{}", screaming_snake(&name), span = name_lit.span());
        let doc = match component.display_name.get() {
            Some(display) => format!("The `{name}` component ({}).", display.value()),
            None => format!("The `{name}` component."),
        };
        let vis = &input.vis;
        consts.push(quote! {
            #[doc = #doc]
            #vis const #const_name: #p::ComponentRef<#schema> = #p::ComponentRef::new(#name);
        });
    }

    let unit = quote!(());
    let telemetry = attrs.telemetry.get().map_or(unit.clone(), |t| quote!(#t));
    let properties = attrs.properties.get().map_or(unit, |t| quote!(#t));
    let commands = attrs
        .commands
        .get()
        .map_or(quote!(#p::NoCommands), |t| quote!(#t));
    let docs = attrs.docs.get().copied().unwrap_or(true);
    let display_name = localized(
        &p,
        value(&attrs.display_name),
        &attrs.display_name_languages,
    );
    let description = localized(
        &p,
        attrs.description_or_doc_if(&cx, &input.attrs, docs),
        &attrs.description_languages,
    );
    let comment = opt_str(value(&attrs.comment));
    let co_types = attrs.co_types.iter();
    let extends = attrs.extends.iter();
    let iotcentral = if attrs.iotcentral.is_set() {
        quote!(interface = interface.with_iotcentral_context();)
    } else {
        TokenStream::new()
    };
    let schemas = attrs
        .schemas
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as #p::DtdlSchema>::schema()));
    let has_components = !components.is_empty();
    cx.check()?;

    let inherent = if consts.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            #[automatically_derived]
            impl #ident {
                #(#consts)*
            }
        }
    };
    Ok(dummy_const(quote! {
        #[automatically_derived]
        impl #p::Interface for #ident {
            const ID: &'static str = #id;
            const HAS_COMPONENTS: bool = #has_components;
            type Telemetry = #telemetry;
            type Properties = #properties;
            type Commands = #commands;

            fn interface() -> #p::model::InterfaceInfo {
                let mut contents = #p::Vec::new();
                for telemetry in <#telemetry as #p::Telemetry>::telemetry() {
                    contents.push(#p::model::ContentInfo::Telemetry(telemetry));
                }
                for property in <#properties as #p::Properties>::properties() {
                    contents.push(#p::model::ContentInfo::Property(property));
                }
                for command in <#commands as #p::Commands>::commands() {
                    contents.push(#p::model::ContentInfo::Command(command));
                }
                #(contents.push(#p::model::ContentInfo::Component(#components));)*
                let mut interface = #p::model::InterfaceInfo::new(#id);
                #iotcentral
                interface.co_types = #p::Vec::from([#(#p::string(#co_types)),*]);
                interface.display_name = #display_name;
                interface.description = #description;
                interface.comment = #p::opt(#comment);
                interface.extends = #p::Vec::from([#(#p::string(#extends)),*]);
                interface.contents = contents;
                interface.schemas = #p::Vec::from([#(#schemas),*]);
                #p::refer_schemas(&mut interface);
                interface

            }

            fn interfaces() -> #p::Vec<#p::model::InterfaceInfo> {
                let mut list = #p::Vec::from([<Self as #p::Interface>::interface()]);
                #(#interfaces)*
                list
            }
        }
        #inherent
        #(#asserts)*
    }))
}
