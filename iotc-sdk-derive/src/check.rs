//! Rules checked at compile time: DTMIs, DTDL names, display-string lengths, semantic types and
//! units.

use syn::LitStr;

use crate::ctxt::Ctxt;
use crate::vocabulary;

/// Interface ids are at most this long.
const MAX_INTERFACE_ID: usize = 128;
/// Names are at most this long (DTDL v2).
const MAX_NAME: usize = 64;
/// `displayName` is at most this long (DTDL v2).
pub(crate) const MAX_DISPLAY_NAME: usize = 64;
/// `description` and `comment` are at most this long.
pub(crate) const MAX_DESCRIPTION: usize = 512;

/// Why `id` is not a DTMI a DTDL v2 interface may use, if it is not. The rules of
/// `iotc_sdk::Dtmi` (dtdl.md §1), plus DTDL v2's: a one-part version, no reserved prefix.
pub(crate) fn dtmi_error(id: &str) -> Option<String> {
    if id.len() > MAX_INTERFACE_ID {
        return Some(format!(
            "longer than {MAX_INTERFACE_ID} characters, the limit for an interface id"
        ));
    }
    let Some(rest) = id.strip_prefix("dtmi:") else {
        return Some("must start with `dtmi:`".to_owned());
    };
    let Some((path, version)) = rest.split_once(';') else {
        return Some("missing `;<version>`, as in `dtmi:com:example:Thermostat;1`".to_owned());
    };
    for segment in path.split(':') {
        let first_is_letter = segment
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_is_letter || !rest_ok || segment.ends_with('_') {
            return Some(format!(
                "invalid segment `{segment}`: each segment must start with a letter, hold only \
                 letters, digits and `_`, and not end with `_`"
            ));
        }
    }
    if version.contains('.') {
        return Some("DTDL v2 needs a one-part version (`;1`), not `major.minor`".to_owned());
    }
    let valid_version = !version.is_empty()
        && version.len() <= 9
        && !version.starts_with('0')
        && version.bytes().all(|b| b.is_ascii_digit());
    if !valid_version {
        return Some("the version must be a number from 1 to 999999999".to_owned());
    }
    if id.starts_with("dtmi:dtdl:") || id.starts_with("dtmi:standard:") {
        return Some("the prefixes `dtmi:dtdl:` and `dtmi:standard:` are reserved".to_owned());
    }
    None
}

/// Why `name` is not a valid DTDL v2 name, if it is not:
/// `^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$`, at most 64 characters.
pub(crate) fn name_error(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let why = if name.is_empty() {
        "it is empty"
    } else if name.starts_with('_') {
        "it starts with `_` (IoT Central reserves such names)"
    } else if !bytes[0].is_ascii_alphabetic() {
        "it must start with a letter"
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        "only ASCII letters, digits and `_` are allowed"
    } else if name.ends_with('_') {
        "it must not end with `_`"
    } else if name.len() > MAX_NAME {
        "it is longer than 64 characters"
    } else {
        return None;
    };
    Some(format!("invalid DTDL name `{name}`: {why}"))
}

/// [`name_error`] for the serde name of a field: says where the name comes from.
pub(crate) fn field_name_error(name: &str) -> Option<String> {
    name_error(name).map(|error| {
        format!("{error}; DTDL names are the serde names of the fields (set `#[serde(rename = \"...\")]`)")
    })
}

/// Records an error unless `text` fits in `max` characters.
pub(crate) fn check_length(cx: &Ctxt, what: &str, text: &LitStr, max: usize) {
    if text.value().chars().count() > max {
        cx.error_spanned_by(text, format!("{what} is longer than {max} characters"));
    }
}

/// Checks `semantic_type` and `unit` against the DTDL v2 vocabulary: both or neither, a known
/// semantic type, a known unit, and a unit of that semantic type.
pub(crate) fn check_semantic_type(
    cx: &Ctxt,
    semantic_type: Option<&LitStr>,
    unit: Option<&LitStr>,
    field: &dyn quote::ToTokens,
) {
    let known_semantic_type = semantic_type.and_then(|lit| {
        let name = lit.value();
        match vocabulary::units_of(&name) {
            Some(units) => Some(units),
            None => {
                let hint = if vocabulary::is_v3_semantic_type(&name) {
                    "; it exists only in DTDL v3, and IoT Central reads DTDL v2".to_owned()
                } else {
                    match vocabulary::suggest_semantic_type(&name) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => "; see the DTDL v2 semantic types in `docs/models.md`".to_owned(),
                    }
                };
                cx.error_spanned_by(lit, format!("unknown semantic type `{name}`{hint}"));
                None
            }
        }
    });
    match (semantic_type, unit) {
        (None, None) => {}
        (None, Some(unit)) => {
            let name = unit.value();
            let types = vocabulary::semantic_types_of(&name);
            let hint = if types.is_empty() {
                String::new()
            } else {
                format!(
                    ", e.g. `semantic_type = \"{}\"`",
                    types.first().copied().unwrap_or_default()
                )
            };
            cx.error_spanned_by(
                unit,
                format!(
                    "`unit` requires a `semantic_type` (DTDL forbids a unit without one){hint}"
                ),
            );
        }
        (Some(lit), None) => {
            if let Some(units) = known_semantic_type {
                cx.error_spanned_by(
                    field,
                    format!(
                        "semantic type `{}` requires a `unit`: one of {}",
                        lit.value(),
                        list(units)
                    ),
                );
            }
        }
        (Some(semantic), Some(unit)) => {
            let name = unit.value();
            if !vocabulary::is_unit(&name) {
                let hint = match vocabulary::suggest_unit(&name) {
                    Some(u) => format!("; did you mean `{u}`?"),
                    None => String::new(),
                };
                let expected = known_semantic_type
                    .map(|units| format!(" (`{}` takes {})", semantic.value(), list(units)))
                    .unwrap_or_default();
                cx.error_spanned_by(
                    unit,
                    format!("unknown DTDL v2 unit `{name}`{hint}{expected}"),
                );
            } else if let Some(units) = known_semantic_type {
                if !units.contains(&name.as_str()) {
                    cx.error_spanned_by(
                        unit,
                        format!(
                            "unit `{name}` does not belong to semantic type `{}`; use one of {}",
                            semantic.value(),
                            list(units)
                        ),
                    );
                }
            }
        }
    }
}

/// `` `a`, `b`, `c` ``.
fn list(units: &[&str]) -> String {
    units
        .iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmis() {
        for ok in [
            "dtmi:com:example:Thermostat;1",
            "dtmi:azure:DeviceManagement:DeviceInformation;1",
            "dtmi:a;999999999",
        ] {
            assert_eq!(dtmi_error(ok), None, "{ok}");
        }
        for bad in [
            "",
            "dtmi:com:example:Thermostat",
            "DTMI:com:example:Thermostat;1",
            "dtmi:com:example:_T;1",
            "dtmi:com:example:T_;1",
            "dtmi:com::T;1",
            "dtmi:com:9x;1",
            "dtmi:com:ex-ample;1",
            "dtmi:com:example;0",
            "dtmi:com:example;01",
            "dtmi:com:example;1234567890",
            "dtmi:com:example;1.2",
            "dtmi:com:example;x",
            "dtmi:;1",
            "dtmi:dtdl:Foo;1",
            "dtmi:standard:Foo;1",
        ] {
            assert!(dtmi_error(bad).is_some(), "{bad}");
        }
        assert!(dtmi_error(&format!("dtmi:{};1", "a".repeat(130))).is_some());
    }

    #[test]
    fn names() {
        for ok in ["a", "temperature", "max_temp", "A1", "x9_y"] {
            assert_eq!(name_error(ok), None, "{ok}");
        }
        for bad in ["", "_a", "a_", "1a", "max-temp", "tempé", "a b"] {
            assert!(name_error(bad).is_some(), "{bad}");
        }
        assert!(name_error(&"a".repeat(64)).is_none());
        assert!(name_error(&"a".repeat(65)).is_some());
    }
}
