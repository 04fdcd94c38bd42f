//! The synthetic benchmark input must follow the input contract in
//! `policies/input.schema.json`, or the benchmark times a document the server never sends.
//! A small validator covers the keywords that schema uses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use portcullis_policy::bench::synthetic_input;
use serde_json::Value;

struct Validator<'a> {
    root: &'a Value,
    errors: Vec<String>,
}

impl Validator<'_> {
    fn check(&mut self, schema: &Value, value: &Value, at: &str) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = self
                .root
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null);
            return self.check(target, value, at);
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|o| {
                    let mut v = Validator {
                        root: self.root,
                        errors: Vec::new(),
                    };
                    v.check(o, value, at);
                    v.errors.is_empty()
                })
                .count();
            if matching != 1 {
                self.errors
                    .push(format!("{at}: matches {matching} oneOf options"));
            }
        }
        if let Some(c) = schema.get("const")
            && c != value
        {
            self.errors.push(format!("{at}: {value} is not {c}"));
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            self.errors.push(format!("{at}: {value} not in {e:?}"));
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.iter().any(|t| has_type(value, t)) {
                self.errors.push(format!("{at}: {value} is not {types:?}"));
            }
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            // The only pattern in the schema is the digest's.
            let s = value.as_str().unwrap_or_default();
            let ok = p != "^sha256:[0-9a-f]{64}$"
                || (s.len() == 71
                    && s.starts_with("sha256:")
                    && s[7..]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            if !ok {
                self.errors.push(format!("{at}: {s} does not match {p}"));
            }
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && value.as_f64().is_some_and(|n| n < min)
        {
            self.errors.push(format!("{at}: {value} < {min}"));
        }
        if let Some(obj) = value.as_object() {
            let props = schema.get("properties").and_then(Value::as_object);
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let req = req.as_str().unwrap_or_default();
                if !obj.contains_key(req) {
                    self.errors.push(format!("{at}: missing {req}"));
                }
            }
            for (k, v) in obj {
                let path = format!("{at}/{k}");
                match (
                    props.and_then(|p| p.get(k)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(s), _) => self.check(s, v, &path),
                    (None, Some(Value::Bool(false))) => {
                        self.errors.push(format!("{path}: not allowed"));
                    }
                    (None, Some(s @ Value::Object(_))) => self.check(s, v, &path),
                    _ => {}
                }
            }
        }
        if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
            for (i, v) in arr.iter().enumerate() {
                self.check(items, v, &format!("{at}/{i}"));
            }
        }
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

#[test]
fn synthetic_input_follows_the_input_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/input.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut v = Validator {
        root: &schema,
        errors: Vec::new(),
    };
    v.check(&schema, &synthetic_input(500, 300), "");
    assert!(
        v.errors.is_empty(),
        "{:#?}",
        &v.errors[..v.errors.len().min(20)]
    );
}
