//! Builds the regorus input `Value` straight from a `serde_json::Value` tree, without
//! printing JSON text and without serde's deserializer round trip.
//!
//! Allocation is the whole cost of conversion (and of dropping the result), and evidence
//! documents repeat themselves: every finding has the same keys, the same handful of
//! severities and statuses, the same `origin` object, the same few licence objects, empty
//! lists. So one conversion shares each distinct key and short string, and each distinct
//! small array or object, by reference count.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use regorus::Value;

/// Strings up to this length are shared within one conversion (severities, statuses,
/// versions, short package names); longer ones (ids, titles, purls) rarely repeat and are
/// not worth the lookup. Keys are always shared.
const SHARED_STRING_MAX: usize = 12;
/// Containers with more direct entries than this are never shared (findings, components).
const SHARED_TREE_MAX_WIDTH: usize = 6;
/// Slots of the string cache; a few times the number of distinct keys in a document.
const STRING_SLOTS: usize = 256;
/// At most this many distinct small containers are kept per hash value.
const SHARED_TREE_BUCKET_MAX: usize = 4;
/// Small containers may hold strings up to this length and still be shared whole.
const SHARED_TREE_STRING_MAX: usize = 40;
/// Arrays and objects of at most this many values in all (counting nested ones), none of
/// them a long string, are shared within one conversion.
const SHARED_TREE_MAX_NODES: usize = 16;

/// Converts an evidence document to the engine's value type.
///
/// The result equals `regorus::Value::from_json_str(&input.to_string())`: numbers map to
/// the same regorus numbers (integers stay exact); a number `serde_json` cannot express as
/// `u64`, `i64` or a finite `f64` becomes undefined, like regorus' own
/// `From<serde_json::Value>`.
pub fn input_value(json: &serde_json::Value) -> Value {
    let mut converter = Converter {
        strings: vec![None; STRING_SLOTS],
        trees: HashMap::with_capacity_and_hasher(64, BuildHasherDefault::default()),
    };
    converter.convert(json)
}

struct Converter<'a> {
    /// Direct-mapped: a string shares the value last converted in its slot when equal.
    strings: Vec<Option<(&'a str, Value)>>,
    /// Small containers by a hash of their content; equal content is checked on a hit.
    trees: HashMap<u64, Vec<(&'a serde_json::Value, Value)>, BuildHasherDefault<Fx>>,
}

impl<'a> Converter<'a> {
    fn convert(&mut self, json: &'a serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => number(n),
            serde_json::Value::String(s) if s.len() <= SHARED_STRING_MAX => self.string(s),
            serde_json::Value::String(s) => Value::from(s.as_str()),
            container => {
                let mut hasher = Fx::default();
                if !small_tree_hash(container, &mut { SHARED_TREE_MAX_NODES }, &mut hasher) {
                    return self.container(container, true);
                }
                let candidates = self.trees.entry(hasher.finish()).or_default();
                if let Some((_, shared)) = candidates.iter().find(|(t, _)| *t == container) {
                    return shared.clone();
                }
                // Its parts are small too but rarely repeat on their own: build them directly.
                let value = self.container(container, false);
                let bucket = self.trees.entry(hasher.finish()).or_default();
                if bucket.len() < SHARED_TREE_BUCKET_MAX {
                    bucket.push((container, value.clone()));
                }
                value
            }
        }
    }

    fn container(&mut self, json: &'a serde_json::Value, share_parts: bool) -> Value {
        match json {
            serde_json::Value::Array(items) => Value::from(
                items
                    .iter()
                    .map(|v| self.part(v, share_parts))
                    .collect::<Vec<_>>(),
            ),
            serde_json::Value::Object(map) => {
                // The map iterates in key order, so this collect is a bulk build, not n inserts.
                let object: BTreeMap<Value, Value> = map
                    .iter()
                    .map(|(k, v)| (self.string(k), self.part(v, share_parts)))
                    .collect();
                Value::from(object)
            }
            scalar => self.convert(scalar),
        }
    }

    fn part(&mut self, json: &'a serde_json::Value, share: bool) -> Value {
        match json {
            serde_json::Value::Array(_) | serde_json::Value::Object(_) if !share => {
                self.container(json, false)
            }
            _ => self.convert(json),
        }
    }

    fn string(&mut self, s: &'a str) -> Value {
        let bytes = s.as_bytes();
        let mix =
            |h: usize, b: Option<&u8>| h.wrapping_mul(31) ^ usize::from(b.copied().unwrap_or(0));
        let h = mix(
            mix(mix(bytes.len(), bytes.first()), bytes.get(bytes.len() / 2)),
            bytes.last(),
        );
        let slot = (h ^ (h >> 7)) % STRING_SLOTS;
        if let Some(Some((k, v))) = self.strings.get(slot)
            && *k == s
        {
            return v.clone();
        }
        let value = Value::from(s);
        if let Some(entry) = self.strings.get_mut(slot) {
            *entry = Some((s, value.clone()));
        }
        value
    }
}

/// FxHash-style, eight bytes a step: SipHash was a sixth of the conversion. It resists no
/// crafted collisions, so buckets are bounded instead (`SHARED_TREE_BUCKET_MAX`): a hostile
/// document can only make sharing useless, not slow. The string cache is direct-mapped for
/// the same reason.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            self.add(tail.iter().fold(0, |w, b| (w << 8) | u64::from(*b)));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether `json` holds at most `budget` values in all, none a long string: the shape
/// that repeats verbatim (`origin`, `suppressed_by`, licences, `[]`). Hashes it meanwhile.
fn small_tree_hash(json: &serde_json::Value, budget: &mut usize, h: &mut Fx) -> bool {
    let Some(left) = budget.checked_sub(1) else {
        return false;
    };
    *budget = left;
    let width = match json {
        serde_json::Value::Array(items) => items.len(),
        serde_json::Value::Object(map) => map.len(),
        _ => 0,
    };
    if width > SHARED_TREE_MAX_WIDTH {
        return false;
    }
    match json {
        serde_json::Value::Null => h.write_u8(0),
        serde_json::Value::Bool(b) => h.write_u8(1 + u8::from(*b)),
        serde_json::Value::Number(n) => {
            h.write_u8(3);
            h.write_u64(n.as_f64().map_or(0, f64::to_bits));
        }
        serde_json::Value::String(s) if s.len() <= SHARED_TREE_STRING_MAX => {
            h.write_u8(4);
            h.write(s.as_bytes());
        }
        serde_json::Value::String(_) => return false,
        serde_json::Value::Array(items) => {
            h.write_u8(5);
            h.write_usize(items.len());
            return items.iter().all(|v| small_tree_hash(v, budget, h));
        }
        serde_json::Value::Object(map) => {
            h.write_u8(6);
            h.write_usize(map.len());
            return map.iter().all(|(k, v)| {
                h.write(k.as_bytes());
                small_tree_hash(v, budget, h)
            });
        }
    }
    true
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
