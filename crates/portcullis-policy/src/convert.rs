//! Builds the regorus input `Value` straight from a `serde_json::Value` tree, without
//! printing JSON text and without serde's deserializer round trip.
//!
//! Allocation is the whole cost of conversion (and of dropping the result), and evidence
//! documents repeat themselves: every finding has the same keys, the same handful of
//! severities and statuses, and the same `origin` object. So one conversion shares each
//! distinct key and short string, and each distinct small flat object, by reference count.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use regorus::Value;

/// Strings up to this length are shared within one conversion; longer ones (titles, purls,
/// ids) are rarely repeated and not worth the lookup.
const SHARED_STRING_MAX: usize = 24;
/// Flat objects (only scalar fields) up to this many fields are shared within one conversion.
const SHARED_OBJECT_MAX_FIELDS: usize = 6;
/// How many distinct flat objects one conversion remembers.
const SHARED_OBJECT_CAP: usize = 32;

/// Converts an evidence document to the engine's value type.
///
/// The result equals `regorus::Value::from_json_str(&input.to_string())`: numbers map to
/// the same regorus numbers (integers stay exact); a number `serde_json` cannot express as
/// `u64`, `i64` or a finite `f64` becomes undefined, like regorus' own
/// `From<serde_json::Value>`.
pub fn input_value(json: &serde_json::Value) -> Value {
    Converter::default().convert(json)
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

#[derive(Default)]
struct Converter<'a> {
    strings: HashMap<&'a str, Value, BuildHasherDefault<Fnv>>,
    objects: Vec<(&'a JsonMap, Value)>,
}

impl<'a> Converter<'a> {
    fn convert(&mut self, json: &'a serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => number(n),
            serde_json::Value::String(s) if s.len() <= SHARED_STRING_MAX => self.string(s),
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(items) => {
                Value::from(items.iter().map(|v| self.convert(v)).collect::<Vec<_>>())
            }
            serde_json::Value::Object(map) if is_flat(map) => {
                if let Some((_, shared)) = self.objects.iter().find(|(m, _)| *m == map) {
                    return shared.clone();
                }
                let value = self.object(map);
                if self.objects.len() < SHARED_OBJECT_CAP {
                    self.objects.push((map, value.clone()));
                }
                value
            }
            serde_json::Value::Object(map) => self.object(map),
        }
    }

    fn string(&mut self, s: &'a str) -> Value {
        self.strings
            .entry(s)
            .or_insert_with(|| Value::from(s))
            .clone()
    }

    fn object(&mut self, map: &'a JsonMap) -> Value {
        // The map iterates in key order, so this collect is a bulk build, not n inserts.
        let object: BTreeMap<Value, Value> = map
            .iter()
            .map(|(k, v)| (self.string(k), self.convert(v)))
            .collect();
        Value::from(object)
    }
}

/// FNV-1a: the shared strings are short and not attacker-chosen in a way that matters (the
/// table lives for one conversion), so SipHash's flood resistance is not worth its cost here.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Small objects of scalars: the shape that repeats verbatim (`origin`, `suppressed_by`).
fn is_flat(map: &JsonMap) -> bool {
    map.len() <= SHARED_OBJECT_MAX_FIELDS
        && map.values().all(|v| {
            !v.is_array()
                && !v.is_object()
                && v.as_str().is_none_or(|s| s.len() <= SHARED_STRING_MAX)
        })
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
