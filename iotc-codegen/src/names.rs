//! Rust names from DTDL names: `snake_case` fields and modules, `CamelCase` types, keywords as
//! raw identifiers, collisions resolved by a numeric suffix in order of appearance.

use std::collections::BTreeSet;

/// Rust keywords (2021 edition, strict and reserved).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super"];

/// The words of a DTDL name: split at `_`, at a lower-case letter or digit followed by an
/// upper-case one, and before the last capital of a run followed by a lower-case letter
/// (`LEDState` is `LED`, `State`).
pub(crate) fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `snake_case`, a valid identifier (keywords raw, a leading digit prefixed).
pub(crate) fn snake(name: &str) -> String {
    let joined = words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    ident(
        if joined.is_empty() {
            "value".to_owned()
        } else {
            joined
        },
        "v_",
    )
}

/// `CamelCase`, a valid identifier.
pub(crate) fn camel(name: &str) -> String {
    let joined: String = words(name)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect();
    ident(
        if joined.is_empty() {
            "Value".to_owned()
        } else {
            joined
        },
        "V",
    )
}

fn ident(name: String, digit_prefix: &str) -> String {
    let name = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{digit_prefix}{name}")
    } else {
        name
    };
    if NOT_RAW.contains(&name.as_str()) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// Names already taken in one scope; [`Scope::claim`] returns a free one.
#[derive(Default)]
pub(crate) struct Scope {
    taken: BTreeSet<String>,
}

impl Scope {
    /// A scope where `names` are taken already.
    pub(crate) fn with(names: &[&str]) -> Self {
        Scope {
            taken: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    /// `name`, or `name2`, `name3`... (`name_2` for snake case) when taken.
    pub(crate) fn claim(&mut self, name: &str) -> String {
        let bare = name.trim_start_matches("r#");
        let mut candidate = name.to_owned();
        let mut n = 2;
        while self.taken.contains(candidate.trim_start_matches("r#")) {
            candidate = if bare.contains('_') || bare.chars().all(|c| !c.is_ascii_uppercase()) {
                format!("{bare}_{n}")
            } else {
                format!("{bare}{n}")
            };
            n += 1;
        }
        self.taken
            .insert(candidate.trim_start_matches("r#").to_owned());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("telemetry_Int_1"), "telemetry_int_1");
        assert_eq!(snake("disableTelemetry"), "disable_telemetry");
        assert_eq!(snake("LED0"), "led0");
        assert_eq!(snake("ALT2_altitude"), "alt2_altitude");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(camel("LEDState"), "LedState");
        assert_eq!(camel("thermostat"), "Thermostat");
        assert_eq!(camel("sam_iot_wx_v2"), "SamIotWxV2");
        assert_eq!(camel("Self"), "Self_");
        let mut scope = Scope::with(&["Thermostat"]);
        assert_eq!(scope.claim("Thermostat"), "Thermostat2");
        assert_eq!(scope.claim("Thermostat"), "Thermostat3");
        let mut fields = Scope::default();
        assert_eq!(fields.claim("led"), "led");
        assert_eq!(fields.claim("led"), "led_2");
    }
}
