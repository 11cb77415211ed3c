#![doc = include_str!("../attributes.md")]
#![warn(missing_docs)]

mod attr;
mod check;
mod ctxt;
mod expand;
mod symbol;
mod vocabulary;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

use expand::content::Kind;

/// Runs an expansion, turning its errors into `compile_error!`s.
fn run(
    input: TokenStream,
    expand: fn(&DeriveInput) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `iotc_sdk::DtdlSchema`: a struct with named fields becomes an `Object`, a
/// fieldless enum an `Enum` (string values from the serde names, or integer values from the
/// discriminants with `#[iotc(value_schema = "integer")]`), a newtype struct the inner schema.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(DtdlSchema, attributes(iotc))]
pub fn derive_dtdl_schema(input: TokenStream) -> TokenStream {
    run(input, expand::schema::expand)
}

/// Implements `iotc_sdk::Telemetry`: each serialized field of the struct is one DTDL
/// `Telemetry`, named by its serde name.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(Telemetry, attributes(iotc))]
pub fn derive_telemetry(input: TokenStream) -> TokenStream {
    run(input, |input| {
        expand::content::expand(input, Kind::Telemetry)
    })
}

/// Implements `iotc_sdk::Properties`: each serialized field of the struct is one DTDL
/// `Property` (`#[iotc(writable)]` for writable ones), named by its serde name.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(Properties, attributes(iotc))]
pub fn derive_properties(input: TokenStream) -> TokenStream {
    run(input, |input| {
        expand::content::expand(input, Kind::Properties)
    })
}

/// Implements `iotc_sdk::Commands` for an enum: each variant is one DTDL `Command`, a unit
/// variant without request, a newtype variant holding the request.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(Commands, attributes(iotc))]
pub fn derive_commands(input: TokenStream) -> TokenStream {
    run(input, expand::commands::expand)
}

/// Implements `iotc_sdk::Interface` for a (unit) struct from
/// `#[iotc(id = "...", telemetry = T, properties = P, commands = C, component(...))]`, and
/// adds one `ComponentRef` associated const per component.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(Interface, attributes(iotc))]
pub fn derive_interface(input: TokenStream) -> TokenStream {
    run(input, expand::interface::expand)
}

/// `#[skip_none]` on a struct (above its `#[derive(Serialize)]`): every field of type
/// `Option<...>` gets `#[serde(skip_serializing_if = "Option::is_none")]` (unless it has a
/// `skip_serializing_if` already), so that a telemetry message or a properties patch carries
/// only the values that are set.
///
/// ```ignore
/// #[iotc_sdk::skip_none]
/// #[derive(serde::Serialize, iotc_sdk::Properties)]
/// struct Settings {
///     target: Option<f64>,
///     mode: Option<String>,
/// }
/// ```
#[proc_macro_attribute]
pub fn skip_none(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let mut item = parse_macro_input!(input as syn::ItemStruct);
    if !args.is_empty() {
        return syn::Error::new_spanned(args, "`#[skip_none]` takes no arguments")
            .to_compile_error()
            .into();
    }
    for field in item.fields.iter_mut() {
        let is_option = matches!(&field.ty, syn::Type::Path(path)
            if path.qself.is_none()
                && path.path.segments.last().is_some_and(|s| s.ident == "Option"));
        let has_skip = field.attrs.iter().any(|attr| {
            attr.path().is_ident("serde")
                && quote::ToTokens::to_token_stream(&attr.meta)
                    .to_string()
                    .contains("skip_serializing")
        });
        if is_option && !has_skip {
            field.attrs.push(syn::parse_quote!(
                #[serde(skip_serializing_if = "::core::option::Option::is_none")]
            ));
        }
    }
    quote::quote!(#item).into()
}
