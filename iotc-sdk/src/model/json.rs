//! Small helpers for the model types: their hand-written `Serialize` impls and the display-string
//! setters they share.

use serde::ser::SerializeMap;
use serde::Serialize;

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
    display_name: &Option<String>,
    description: &Option<String>,
) -> Result<(), M::Error> {
    entry_opt(map, "displayName", display_name)?;
    entry_opt(map, "description", description)
}

/// Implements `with_display_name` and `with_description` for model types with
/// `display_name` and `description` fields.
macro_rules! display_setters {
    ($($ty:ty),* $(,)?) => {
        $(
            impl $ty {
                /// Sets `displayName`.
                pub fn with_display_name(mut self, display_name: impl Into<String>) -> Self {
                    self.display_name = Some(display_name.into());
                    self
                }

                /// Sets `description`.
                pub fn with_description(mut self, description: impl Into<String>) -> Self {
                    self.description = Some(description.into());
                    self
                }
            }
        )*
    };
}
pub(super) use display_setters;
