//! IoT Plug and Play conventions: component envelopes, writable-property updates and their
//! acknowledgements (protocol.md §7.2–7.3). Pure functions over JSON, no I/O.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Result;

/// The marker IoT Plug and Play puts in a component's object.
pub const COMPONENT_MARKER: &str = "__t";

/// A device twin as the device sees it: the desired and reported sections, each with its
/// `$version`.
#[derive(Clone, Debug, PartialEq)]
pub struct Twin {
    /// The desired properties (set by the cloud), including `$version`.
    pub desired: Value,
    /// The reported properties (set by the device), including `$version`.
    pub reported: Value,
}

impl Twin {
    /// The desired section's `$version` (0 when absent).
    pub fn desired_version(&self) -> u64 {
        self.desired
            .get("$version")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// The reported section's `$version` (0 when absent).
    pub fn reported_version(&self) -> u64 {
        self.reported
            .get("$version")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    pub(crate) fn from_json(body: &[u8]) -> Result<Twin> {
        let mut value: Value = serde_json::from_slice(body)?;
        // An old service version wrapped the twin in {"properties": …}.
        if let Some(properties) = value.get_mut("properties").filter(|p| p.is_object()) {
            value = properties.take();
        }
        let desired = value
            .get("desired")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let reported = value
            .get("reported")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        Ok(Twin { desired, reported })
    }
}

/// One writable property the cloud set, to apply and then acknowledge with
/// [`Device::acknowledge`](crate::Device::acknowledge).
#[derive(Clone, Debug, PartialEq)]
pub struct WritableProperty {
    component: Option<String>,
    name: String,
    value: Value,
    version: u64,
}

impl WritableProperty {
    /// The component the property belongs to (`None` for the default component).
    pub fn component(&self) -> Option<&str> {
        self.component.as_deref()
    }

    /// The property name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The desired value as JSON; `Value::Null` when the cloud deleted the property.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The desired value deserialized into `T`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`](crate::Error::Serialization) when the value does not fit `T`.
    pub fn value_as<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_value(self.value.clone())?)
    }

    /// The desired `$version` this value came with; the acknowledgement's `av`.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A set of writable-property changes: one desired-property patch, or the pending properties of
/// the full twin read at connect.
#[derive(Clone, Debug, PartialEq)]
pub struct WritablePropertyUpdate {
    version: u64,
    initial: bool,
    properties: Vec<WritableProperty>,
}

impl WritablePropertyUpdate {
    /// The desired `$version` of this update.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// True when the update comes from the full twin read at connect (properties set while the
    /// device was offline), false for a live patch.
    pub fn is_initial(&self) -> bool {
        self.initial
    }

    /// The changed properties.
    pub fn properties(&self) -> &[WritableProperty] {
        &self.properties
    }

    /// The property `name` of the default component, if it is in this update.
    pub fn get(&self, name: &str) -> Option<&WritableProperty> {
        self.properties
            .iter()
            .find(|p| p.component.is_none() && p.name == name)
    }

    /// Parses a desired-property patch (`{"targetTemperature":21.3,"$version":3}`, components as
    /// `{"c":{"__t":"c",…}}`). `topic_version` is the `$version` from the topic, if any.
    pub(crate) fn from_patch(patch: &Value, topic_version: Option<u64>) -> Self {
        let version = topic_version
            .or_else(|| patch.get("$version").and_then(Value::as_u64))
            .unwrap_or(0);
        let properties = flatten(patch, version, |_, _| true);
        WritablePropertyUpdate {
            version,
            initial: false,
            properties,
        }
    }

    /// The desired properties of a full twin that the reported section has not yet
    /// acknowledged with this value (the Plug and Play start-up rule, protocol.md §7.3).
    pub(crate) fn pending_from_twin(twin: &Twin) -> Self {
        let version = twin.desired_version();
        let properties = flatten(&twin.desired, version, |component, property| {
            !is_acknowledged(&twin.reported, component, property, version)
        });
        WritablePropertyUpdate {
            version,
            initial: true,
            properties,
        }
    }
}

fn is_metadata(key: &str) -> bool {
    key.starts_with('$') || key == COMPONENT_MARKER
}

fn is_component(value: &Value) -> bool {
    value.get(COMPONENT_MARKER).and_then(Value::as_str) == Some("c")
}

fn flatten(
    desired: &Value,
    version: u64,
    keep: impl Fn(Option<&str>, &WritableProperty) -> bool,
) -> Vec<WritableProperty> {
    let mut out = Vec::new();
    let Some(map) = desired.as_object() else {
        return out;
    };
    for (key, value) in map.iter().filter(|(k, _)| !is_metadata(k)) {
        if is_component(value) {
            let Some(inner) = value.as_object() else {
                continue;
            };
            for (name, v) in inner.iter().filter(|(k, _)| !is_metadata(k)) {
                let property = WritableProperty {
                    component: Some(key.clone()),
                    name: name.clone(),
                    value: v.clone(),
                    version,
                };
                if keep(Some(key), &property) {
                    out.push(property);
                }
            }
        } else {
            let property = WritableProperty {
                component: None,
                name: key.clone(),
                value: value.clone(),
                version,
            };
            if keep(None, &property) {
                out.push(property);
            }
        }
    }
    out
}

fn is_acknowledged(
    reported: &Value,
    component: Option<&str>,
    property: &WritableProperty,
    version: u64,
) -> bool {
    let section = match component {
        Some(c) => reported.get(c),
        None => Some(reported),
    };
    let Some(ack) = section.and_then(|s| s.get(&property.name)) else {
        return false;
    };
    let av = ack.get("av").and_then(Value::as_u64).unwrap_or(0);
    let value = ack.get("value");
    av >= version
        || (value == Some(&property.value) && ack.get("ac").and_then(Value::as_u64) == Some(200))
}

/// Wraps `properties` (a JSON object) for `component`: `{"c":{"__t":"c",…}}`; unchanged for
/// the default component.
pub(crate) fn component_patch(component: Option<&str>, properties: Value) -> Result<Value> {
    let Some(component) = component else {
        return Ok(properties);
    };
    let Value::Object(mut map) = properties else {
        return Err(crate::Error::Serialization(
            "component properties must serialize to a JSON object".into(),
        ));
    };
    map.insert(COMPONENT_MARKER.into(), Value::String("c".into()));
    let mut outer = Map::new();
    outer.insert(component.to_owned(), Value::Object(map));
    Ok(Value::Object(outer))
}

/// The reported patch acknowledging `property` (protocol.md §7.3):
/// `{"name":{"value":…,"ac":…,"av":…,"ad":…}}`, component-wrapped when needed.
pub(crate) fn ack_patch<T: Serialize + ?Sized>(
    property: &WritableProperty,
    value: &T,
    status: u16,
    description: Option<&str>,
) -> Result<Value> {
    let mut ack = Map::new();
    ack.insert("value".into(), serde_json::to_value(value)?);
    ack.insert("ac".into(), status.into());
    ack.insert("av".into(), property.version.into());
    if let Some(d) = description {
        ack.insert("ad".into(), d.into());
    }
    let mut patch = Map::new();
    patch.insert(property.name.clone(), Value::Object(ack));
    component_patch(property.component.as_deref(), Value::Object(patch))
}

/// One reported patch acknowledging several writable properties at once: each entry is a
/// property with the value to report for it, all with one `status` and `description`.
/// Properties of one component share that component's wrapper, so a whole
/// [`WritablePropertyUpdate`] is one twin PATCH (one round trip) instead of one per property.
pub(crate) fn ack_patch_all<'a>(
    acks: impl IntoIterator<Item = (&'a WritableProperty, Value)>,
    status: u16,
    description: Option<&str>,
) -> Result<Value> {
    let mut patch = Map::new();
    let mut components: Vec<(String, Map<String, Value>)> = Vec::new();
    for (property, value) in acks {
        let mut ack = Map::new();
        ack.insert("value".into(), value);
        ack.insert("ac".into(), status.into());
        ack.insert("av".into(), property.version.into());
        if let Some(d) = description {
            ack.insert("ad".into(), d.into());
        }
        let target = match property.component.as_deref() {
            None => &mut patch,
            Some(component) => {
                let at = match components.iter().position(|(name, _)| name == component) {
                    Some(at) => at,
                    None => {
                        let mut map = Map::new();
                        map.insert(COMPONENT_MARKER.into(), Value::String("c".into()));
                        components.push((component.to_owned(), map));
                        components.len() - 1
                    }
                };
                &mut components[at].1
            }
        };
        target.insert(property.name.clone(), Value::Object(ack));
    }
    for (component, acks) in components {
        if patch.contains_key(&component) {
            // A default-component property and a component of the same name cannot share
            // the key of the reported patch.
            return Err(crate::Error::Serialization(format!(
                "`{component}` is both a property and a component in this update"
            )));
        }
        patch.insert(component, Value::Object(acks));
    }
    Ok(Value::Object(patch))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_patch_acknowledges_a_whole_update() {
        let update = WritablePropertyUpdate::from_patch(
            &json!({"targetTemperature": 21.3, "thermostat1": {"__t": "c", "targetTemperature": 25, "mode": "eco"}, "$version": 7}),
            None,
        );
        let patch = ack_patch_all(
            update.properties().iter().map(|p| (p, p.value().clone())),
            200,
            Some("applied"),
        )
        .unwrap();
        assert_eq!(
            patch,
            json!({
                "targetTemperature": {"value": 21.3, "ac": 200, "av": 7, "ad": "applied"},
                "thermostat1": {
                    "__t": "c",
                    "targetTemperature": {"value": 25, "ac": 200, "av": 7, "ad": "applied"},
                    "mode": {"value": "eco", "ac": 200, "av": 7, "ad": "applied"}
                }
            })
        );
        // A default-component property named like a component cannot share its key.
        let clash = WritablePropertyUpdate::from_patch(
            &json!({"thermostat1": {"__t": "c", "t": 1}, "$version": 2}),
            None,
        );
        let mut acks: Vec<_> = clash
            .properties()
            .iter()
            .map(|p| (p.clone(), p.value().clone()))
            .collect();
        acks.push((
            WritableProperty {
                component: None,
                name: "thermostat1".into(),
                value: json!(1),
                version: 2,
            },
            json!(1),
        ));
        let result = ack_patch_all(acks.iter().map(|(p, v)| (p, v.clone())), 200, None);
        assert!(result.is_err(), "{result:?}");
        acks.reverse();
        let result = ack_patch_all(acks.iter().map(|(p, v)| (p, v.clone())), 200, None);
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn patch_with_default_and_component_properties() {
        let update = WritablePropertyUpdate::from_patch(
            &json!({"targetTemperature": 21.3, "thermostat1": {"__t": "c", "targetTemperature": 25}, "$version": 3}),
            None,
        );
        assert_eq!(update.version(), 3);
        assert!(!update.is_initial());
        assert_eq!(update.properties().len(), 2);
        let root = update.get("targetTemperature").unwrap();
        assert_eq!(root.value_as::<f64>().unwrap(), 21.3);
        let comp = update
            .properties()
            .iter()
            .find(|p| p.component().is_some())
            .unwrap();
        assert_eq!(comp.component(), Some("thermostat1"));
        assert_eq!(comp.version(), 3);
    }

    #[test]
    fn topic_version_wins() {
        let update = WritablePropertyUpdate::from_patch(&json!({"a": 1, "$version": 2}), Some(5));
        assert_eq!(update.version(), 5);
        assert_eq!(update.properties()[0].version(), 5);
    }

    #[test]
    fn ack_matches_convention() {
        let update = WritablePropertyUpdate::from_patch(
            &json!({"targetTemperature": 21.3, "$version": 3}),
            None,
        );
        let p = &update.properties()[0];
        assert_eq!(
            ack_patch(p, p.value(), 200, Some("completed")).unwrap(),
            json!({"targetTemperature": {"value": 21.3, "ac": 200, "av": 3, "ad": "completed"}})
        );
        let update = WritablePropertyUpdate::from_patch(
            &json!({"c": {"__t": "c", "targetTemperature": 21.3}, "$version": 3}),
            None,
        );
        let p = &update.properties()[0];
        assert_eq!(
            ack_patch(p, &21.3, 200, Some("completed")).unwrap(),
            json!({"c": {"__t": "c", "targetTemperature": {"value": 21.3, "ac": 200, "av": 3, "ad": "completed"}}})
        );
    }

    #[test]
    fn pending_from_twin_skips_acknowledged() {
        let twin = Twin {
            desired: json!({"a": 1, "b": 2, "c": {"__t": "c", "x": true}, "$version": 7}),
            reported: json!({
                "a": {"value": 1, "ac": 200, "av": 7},
                "b": {"value": 1, "ac": 200, "av": 6},
                "$version": 4
            }),
        };
        let update = WritablePropertyUpdate::pending_from_twin(&twin);
        assert!(update.is_initial());
        let names: Vec<_> = update
            .properties()
            .iter()
            .map(|p| (p.component(), p.name()))
            .collect();
        assert_eq!(names, vec![(None, "b"), (Some("c"), "x")]);
    }

    #[test]
    fn component_patch_requires_object() {
        assert!(component_patch(Some("c"), json!(1)).is_err());
        assert_eq!(component_patch(None, json!(1)).unwrap(), json!(1));
        assert_eq!(
            component_patch(Some("c"), json!({"x": 1})).unwrap(),
            json!({"c": {"__t": "c", "x": 1}})
        );
    }

    #[test]
    fn twin_parses_wrapped_and_unwrapped() {
        let t =
            Twin::from_json(br#"{"desired":{"$version":2},"reported":{"$version":5}}"#).unwrap();
        assert_eq!((t.desired_version(), t.reported_version()), (2, 5));
        let t =
            Twin::from_json(br#"{"properties":{"desired":{"$version":3},"reported":{}}}"#).unwrap();
        assert_eq!(t.desired_version(), 3);
        assert!(Twin::from_json(b"nope").is_err());
    }
}
