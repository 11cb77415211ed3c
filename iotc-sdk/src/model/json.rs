//! Small helpers for the model types: their hand-written `Serialize` impls and the setters of
//! the metadata every DTDL element shares (`@id`, `displayName`, `description`, `comment`).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::LocalizedString;

/// Writes `key: value`.
pub(super) fn entry<M: SerializeMap, V: Serialize + ?Sized>(
    map: &mut M,
    key: &str,
    value: &V,
) -> Result<(), M::Error> {
    map.serialize_entry(key, value)
}

/// Writes `key: value` when `value` is present.
pub(super) fn entry_opt<M: SerializeMap, V: Serialize>(
    map: &mut M,
    key: &str,
    value: &Option<V>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

/// Writes `displayName` and `description` when present.
pub(super) fn display_entries<M: SerializeMap>(
    map: &mut M,
    display_name: &Option<LocalizedString>,
    description: &Option<LocalizedString>,
) -> Result<(), M::Error> {
    entry_opt(map, "displayName", display_name)?;
    entry_opt(map, "description", description)
}

/// A list written as a single value when it has one element (`@context`, `extends`), as
/// JSON-LD reads both the same.
pub(super) struct OneOrMany<'a, T>(pub(super) &'a [T]);

impl<T: Serialize> Serialize for OneOrMany<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

/// `@type`: the element's kind alone, or an array of the kind and its co-types.
pub(super) struct TypeEntry<'a> {
    pub(super) kind: &'static str,
    pub(super) co_types: &'a [String],
    pub(super) semantic_type: Option<&'a str>,
}

impl Serialize for TypeEntry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.co_types.is_empty() && self.semantic_type.is_none() {
            return serializer.serialize_str(self.kind);
        }
        let all: Vec<&str> = std::iter::once(self.kind)
            .chain(self.co_types.iter().map(String::as_str))
            .chain(self.semantic_type)
            .collect();
        all.serialize(serializer)
    }
}

/// Implements the setters of the shared metadata (`with_id`, `with_display_name`,
/// `with_description`, `with_comment`) for model types with `id`, `display_name`,
/// `description` and `comment` fields.
macro_rules! meta_setters {
    ($($ty:ty),* $(,)?) => {
        $(
            impl $ty {
                /// Sets `@id` (a DTMI).
                pub fn with_id(mut self, id: impl Into<String>) -> Self {
                    self.id = Some(id.into());
                    self
                }

                /// Sets `displayName` (a plain string is the English text).
                pub fn with_display_name(
                    mut self,
                    display_name: impl Into<$crate::model::LocalizedString>,
                ) -> Self {
                    self.display_name = Some(display_name.into());
                    self
                }

                /// Sets `description` (a plain string is the English text).
                pub fn with_description(
                    mut self,
                    description: impl Into<$crate::model::LocalizedString>,
                ) -> Self {
                    self.description = Some(description.into());
                    self
                }

                /// Sets `comment`.
                pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
                    self.comment = Some(comment.into());
                    self
                }
            }
        )*
    };
}
pub(super) use meta_setters;
