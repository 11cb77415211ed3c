//! Code generation, one module per derive.

pub(crate) mod commands;
pub(crate) mod content;
pub(crate) mod interface;
pub(crate) mod schema;

use proc_macro2::TokenStream;
use quote::quote;
use serde_derive_internals::{ast, Derive};
use syn::visit_mut::VisitMut;
use syn::{DeriveInput, GenericParam, Generics, Lifetime, Type};

use crate::attr::Attrs;
use crate::ctxt::Ctxt;

/// The path of the `_private` module generated code calls: `::iotc_sdk::_private`, or
/// `<crate>::_private` with `#[iotc(crate = "...")]`.
pub(crate) fn private_path(attrs: &Attrs) -> TokenStream {
    match attrs.crate_path.get() {
        Some(path) => quote!(#path::_private),
        None => quote!(::iotc_sdk::_private),
    }
}

/// Wraps generated items so that they add no names to the user's module.
pub(crate) fn dummy_const(items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_attributes, unused_mut, unused_qualifications, clippy::all)]
        const _: () = {
            #items
        };
    }
}

/// Records an error for generic parameters `derive` does not support: every type and const
/// parameter, and also lifetimes unless `lifetimes_ok`.
pub(crate) fn reject_generics(cx: &Ctxt, generics: &Generics, derive: &str, lifetimes_ok: bool) {
    for param in &generics.params {
        match param {
            GenericParam::Lifetime(_) if lifetimes_ok => {}
            GenericParam::Lifetime(_) => cx.error_spanned_by(
                param,
                format!("`#[derive({derive})]` does not support lifetime parameters"),
            ),
            GenericParam::Type(_) | GenericParam::Const(_) => cx.error_spanned_by(
                param,
                format!(
                    "`#[derive({derive})]` does not support generic type or const parameters: \
                     the model must be fixed at compile time"
                ),
            ),
        }
    }
}

/// `ty` with every lifetime replaced by `'static`, for compile-time assertions outside the
/// impl (where the type's lifetime parameters are not in scope).
pub(crate) fn with_static_lifetimes(ty: &Type) -> Type {
    struct Replace;
    impl VisitMut for Replace {
        fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
            *lifetime = Lifetime::new("'static", lifetime.apostrophe);
        }
    }
    let mut ty = ty.clone();
    Replace.visit_type_mut(&mut ty);
    ty
}

/// The type as serde sees it (field names after `rename`/`rename_all`, `skip`), or `None` after
/// recording serde's own attribute errors.
pub(crate) fn serde_container<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Option<ast::Container<'a>> {
    let serde_cx = serde_derive_internals::Ctxt::new();
    let container = ast::Container::from_ast(&serde_cx, input, Derive::Serialize);
    match serde_cx.check() {
        Ok(()) => container,
        Err(error) => {
            cx.syn_error(error);
            None
        }
    }
}

/// `GetMaxMinReport` → `getMaxMinReport` (serde's `camelCase` for variants).
pub(crate) fn lower_camel(ident: &str) -> String {
    let mut chars = ident.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `deviceInformation` → `DEVICE_INFORMATION`, `thermostat1` → `THERMOSTAT1`.
pub(crate) fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The name of an identifier without `r#`.
pub(crate) fn unraw(ident: &syn::Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(lower_camel("GetMaxMinReport"), "getMaxMinReport");
        assert_eq!(lower_camel("Reboot"), "reboot");
        assert_eq!(screaming_snake("deviceInformation"), "DEVICE_INFORMATION");
        assert_eq!(screaming_snake("thermostat1"), "THERMOSTAT1");
        assert_eq!(screaming_snake("sensor_2B"), "SENSOR_2_B");
    }

    #[test]
    fn static_lifetimes() {
        let ty: Type = syn::parse_quote!(&'a [Cow<'b, str>]);
        let ty = with_static_lifetimes(&ty);
        assert_eq!(
            quote!(#ty).to_string(),
            quote!(&'static [Cow<'static, str>]).to_string()
        );
    }
}
