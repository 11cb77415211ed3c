//! [`LocalizedString`]: a `displayName` or `description`, one text per language.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// The language a plain string is in: DTDL reads `"Thermostat"` as `{"en": "Thermostat"}`.
pub const DEFAULT_LANGUAGE: &str = "en";

/// A localizable DTDL string (`displayName`, `description`): a map from a BCP 47 language
/// code to the text in that language.
///
/// DTDL reads a plain string as the English text, so `"Thermostat"` and
/// `{"en": "Thermostat"}` are the same value; this type serializes a value that holds only
/// English text as a plain string and every other value as the language map.
///
/// ```
/// use iotc_sdk::model::LocalizedString;
/// let name = LocalizedString::from("Thermostat").with("de", "Thermostat (de)");
/// assert_eq!(name.get("en"), Some("Thermostat"));
/// assert_eq!(
///     serde_json::to_string(&name).unwrap(),
///     r#"{"de":"Thermostat (de)","en":"Thermostat"}"#
/// );
/// assert_eq!(serde_json::to_string(&LocalizedString::from("x")).unwrap(), r#""x""#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalizedString(BTreeMap<String, String>);

impl LocalizedString {
    /// An empty value (no language).
    pub fn new() -> Self {
        LocalizedString(BTreeMap::new())
    }

    /// Adds (or replaces) the text in `language`.
    pub fn with(mut self, language: impl Into<String>, text: impl Into<String>) -> Self {
        self.0.insert(language.into(), text.into());
        self
    }

    /// Sets the text in `language`, returning the text it replaces.
    pub fn insert(
        &mut self,
        language: impl Into<String>,
        text: impl Into<String>,
    ) -> Option<String> {
        self.0.insert(language.into(), text.into())
    }

    /// The text in `language`.
    pub fn get(&self, language: &str) -> Option<&str> {
        self.0.get(language).map(String::as_str)
    }

    /// The English text, or else the text of the first language in code order.
    pub fn text(&self) -> Option<&str> {
        self.get(DEFAULT_LANGUAGE)
            .or_else(|| self.0.values().next().map(String::as_str))
    }

    /// Every `(language, text)` pair, in language-code order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many languages it has text in.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no text at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the only text is English, so that it is written as a plain string.
    pub fn is_plain(&self) -> bool {
        self.0.len() == 1 && self.0.contains_key(DEFAULT_LANGUAGE)
    }
}

impl From<&str> for LocalizedString {
    fn from(text: &str) -> Self {
        LocalizedString::new().with(DEFAULT_LANGUAGE, text)
    }
}

impl From<String> for LocalizedString {
    fn from(text: String) -> Self {
        LocalizedString::new().with(DEFAULT_LANGUAGE, text)
    }
}

impl From<&String> for LocalizedString {
    fn from(text: &String) -> Self {
        LocalizedString::from(text.as_str())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for LocalizedString {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        LocalizedString(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl PartialEq<str> for LocalizedString {
    fn eq(&self, other: &str) -> bool {
        self.is_plain() && self.get(DEFAULT_LANGUAGE) == Some(other)
    }
}

impl PartialEq<&str> for LocalizedString {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl fmt::Display for LocalizedString {
    /// The English text (or the first language's text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().unwrap_or_default())
    }
}

impl Serialize for LocalizedString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.get(DEFAULT_LANGUAGE) {
            Some(text) if self.0.len() == 1 => serializer.serialize_str(text),
            _ => self.0.serialize(serializer),
        }
    }
}
