//! Small helpers for the hand-written `Serialize` impls of the model types.

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
