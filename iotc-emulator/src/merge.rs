//! JSON merge patch (RFC 7396) for twin sections, plus the twin document limits
//! (protocol.md 4.6).

use serde_json::{Map, Value};

/// Maximum size of a twin section (desired or reported), excluding `$version`.
pub(crate) const MAX_SECTION_BYTES: usize = 32 * 1024;
/// Maximum nesting depth of a twin section.
pub(crate) const MAX_DEPTH: usize = 10;
/// Maximum length of one string value.
pub(crate) const MAX_STRING_BYTES: usize = 4 * 1024;

/// Applies `patch` to `target`: members set to `null` are removed, objects merge recursively,
/// anything else replaces.
pub(crate) fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(sub_patch) => {
                let entry = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(sub_target) = entry {
                    merge_patch(sub_target, sub_patch);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Checks a twin patch: keys (no `.`, `$`, space or control characters, at most 1 KB; except
/// the `$version` the service may carry at the root, which the caller removes first), depth and
/// string sizes. Returns a message on failure.
pub(crate) fn validate_patch(patch: &Map<String, Value>) -> Result<(), String> {
    fn walk(map: &Map<String, Value>, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("twin nesting deeper than {MAX_DEPTH} levels"));
        }
        for (key, value) in map {
            if key.is_empty()
                || key.len() > 1024
                || key
                    .chars()
                    .any(|c| c == '.' || c == '$' || c == ' ' || c.is_control())
            {
                return Err(format!("invalid twin property name {key:?}"));
            }
            match value {
                Value::Object(sub) => walk(sub, depth + 1)?,
                Value::String(s) if s.len() > MAX_STRING_BYTES => {
                    return Err(format!("value of {key:?} is longer than 4 KB"));
                }
                Value::Array(items) => {
                    for item in items {
                        if let Value::String(s) = item {
                            if s.len() > MAX_STRING_BYTES {
                                return Err(format!("value in {key:?} is longer than 4 KB"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    walk(patch, 1)
}

/// Size of a section without `$version`, as serialized JSON.
pub(crate) fn section_size(section: &Map<String, Value>) -> usize {
    let mut copy = section.clone();
    copy.remove("$version");
    serde_json::to_vec(&copy)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn merge_add_replace_delete_nested() {
        let mut t = obj(json!({"a":1,"b":{"c":2,"d":3},"e":[1,2],"f":"x"}));
        merge_patch(
            &mut t,
            &obj(
                json!({"a":null,"b":{"c":null,"g":{"h":1}},"e":[3],"f":{"i":null,"j":2},"k":{"l":null}}),
            ),
        );
        assert_eq!(
            Value::Object(t),
            json!({"b":{"d":3,"g":{"h":1}},"e":[3],"f":{"j":2},"k":{}})
        );
    }

    #[test]
    fn merge_component_shape() {
        let mut t = obj(json!({"thermostat1":{"__t":"c","maxTempSinceLastReboot":20}}));
        merge_patch(
            &mut t,
            &obj(
                json!({"thermostat1":{"__t":"c","targetTemperature":{"value":21.5,"ac":200,"av":2}}}),
            ),
        );
        assert_eq!(
            t["thermostat1"],
            json!({"__t":"c","maxTempSinceLastReboot":20,"targetTemperature":{"value":21.5,"ac":200,"av":2}})
        );
    }

    #[test]
    fn validation() {
        assert!(validate_patch(&obj(json!({"a":{"b":1},"__t":"c"}))).is_ok());
        assert!(validate_patch(&obj(json!({"a.b":1}))).is_err());
        assert!(validate_patch(&obj(json!({"$x":1}))).is_err());
        assert!(validate_patch(&obj(json!({"a b":1}))).is_err());
        assert!(validate_patch(&obj(json!({"a":"x".repeat(5000)}))).is_err());
        let mut deep = json!(1);
        for _ in 0..11 {
            deep = json!({ "n": deep });
        }
        assert!(validate_patch(&obj(deep)).is_err());
        assert_eq!(section_size(&obj(json!({"$version":3}))), 2);
    }
}
