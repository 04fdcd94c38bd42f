//! The canonical encoding of signed and keyed records: JSON with object keys sorted by their
//! bytes (every key we write is ASCII, so this is also RFC 8785's order); no insignificant
//! white space; strings escaped as serde_json escapes them; integers only (a
//! record never carries a float). It is independent of serde_json's map feature flags and of
//! Rust type layouts: records are built field by field with explicit names and a `"v"`
//! version, so what was signed can always be rebuilt from the stored fields.

use serde_json::Value;

/// The canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(value, &mut out);
    out.into_bytes()
}

/// The canonical text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level_and_no_white_space_is_written() {
        let v = json!({"z": 1, "a": {"y": [true, null, "x\u{1f}"], "b": "é"}});
        assert_eq!(
            to_string(&v),
            r#"{"a":{"b":"é","y":[true,null,"x\u001f"]},"z":1}"#
        );
    }

    #[test]
    fn encoding_survives_a_reparse() {
        let v = json!({"b": [1, 2, {"d": 4, "c": 3}], "a": "s"});
        let reparsed: Value = serde_json::from_str(&to_string(&v)).unwrap_or_default();
        assert_eq!(to_vec(&v), to_vec(&reparsed));
    }
}
