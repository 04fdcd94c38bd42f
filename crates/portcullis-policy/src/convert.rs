//! Builds the regorus input `Value` straight from a `serde_json::Value` tree, without
//! printing JSON text and without serde's deserializer round trip. Object keys repeat in
//! every list item (`id`, `severity`, `package`, …), so each distinct key is allocated once
//! per conversion and shared by reference count.

use std::collections::{BTreeMap, HashMap};

use regorus::Value;

/// Converts an evidence document to the engine's value type.
///
/// Numbers map to the same regorus numbers JSON parsing would give (integers stay exact);
/// a number `serde_json` cannot express as `u64`, `i64` or a finite `f64` becomes undefined,
/// like regorus' own `From<serde_json::Value>`.
pub fn input_value(json: &serde_json::Value) -> Value {
    let mut keys = HashMap::new();
    convert(json, &mut keys)
}

fn convert<'a>(json: &'a serde_json::Value, keys: &mut HashMap<&'a str, Value>) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => number(n),
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(|v| convert(v, keys)).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => {
            let mut object = BTreeMap::new();
            for (k, v) in map {
                let key = keys
                    .entry(k.as_str())
                    .or_insert_with(|| Value::from(k.as_str()))
                    .clone();
                object.insert(key, convert(v, keys));
            }
            Value::from(object)
        }
    }
}

fn number(n: &serde_json::Number) -> Value {
    if let Some(u) = n.as_u64() {
        Value::from(u)
    } else if let Some(i) = n.as_i64() {
        Value::from(i)
    } else {
        match n.as_f64() {
            Some(f) if f.is_finite() => Value::from(f),
            _ => Value::Undefined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_conversion_equals_parsing_the_json_text() {
        let doc = json!({
            "a": [1, -2, 3.5, 18446744073709551615u64, null, true, "x"],
            "nested": {"k": {"deeper": [], "empty": {}}, "b": false},
            "unicode": "ünïcødé",
        });
        let parsed = Value::from_json_str(&doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(input_value(&doc), parsed);
    }

    #[test]
    fn synthetic_document_converts_like_the_json_text() {
        let doc = crate::bench::synthetic_input(50, 30);
        let parsed = Value::from_json_str(&doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(input_value(&doc), parsed);
    }
}
