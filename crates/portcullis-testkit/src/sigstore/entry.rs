//! A transparency-log entry as the fake logs return it, in the two shapes signers store it:
//! a bundle's `tlogEntries[]` item and cosign's `dev.sigstore.cosign/bundle` annotation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::merkle::InclusionProof;
use crate::{Error, Result};

/// One logged entry; fields are public so tests can tamper with any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Entry kind (`hashedrekord`, `intoto`, `dsse`).
    pub kind: String,
    /// Entry version (`0.0.1`, `0.0.2`).
    pub version: String,
    /// The canonicalized body, exactly as hashed into the tree.
    pub body: Vec<u8>,
    /// The log index (global and, for these logs, also the tree index).
    pub log_index: u64,
    /// The log id (Rekor v1: sha256 of the key; v2: the checkpoint key id).
    pub log_id: [u8; 32],
    /// Integrated time, Unix seconds (0 for Rekor v2).
    pub integrated_time: i64,
    /// The SignedEntryTimestamp (DER ECDSA), Rekor v1 only.
    pub set: Option<Vec<u8>>,
    /// Inclusion proof and signed checkpoint.
    pub proof: Option<InclusionProof>,
}

impl LogEntry {
    /// The protobuf-specs `TransparencyLogEntry` JSON (int64 as strings, bytes as base64).
    pub fn to_bundle_json(&self) -> Value {
        let mut entry = json!({
            "logIndex": self.log_index.to_string(),
            "logId": { "keyId": BASE64.encode(self.log_id) },
            "kindVersion": { "kind": self.kind, "version": self.version },
            "integratedTime": self.integrated_time.to_string(),
            "canonicalizedBody": BASE64.encode(&self.body),
        });
        if let Some(set) = &self.set {
            entry["inclusionPromise"] = json!({ "signedEntryTimestamp": BASE64.encode(set) });
        }
        if let Some(proof) = &self.proof {
            entry["inclusionProof"] = proof.to_json();
        }
        entry
    }

    /// Cosign's annotation bundle `{SignedEntryTimestamp, Payload{body, integratedTime,
    /// logIndex, logID}}` (integers, hex log id); needs a SET, so Rekor v1 only.
    pub fn cosign_bundle(&self) -> Result<Value> {
        let set = self
            .set
            .as_ref()
            .ok_or_else(|| Error::Invalid("a cosign bundle needs a SET (Rekor v1 entry)".into()))?;
        Ok(json!({
            "SignedEntryTimestamp": BASE64.encode(set),
            "Payload": {
                "body": BASE64.encode(&self.body),
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": hex::encode(self.log_id),
            },
        }))
    }
}

/// RFC 8785-style canonical JSON for the ASCII documents the fake logs store: object keys
/// sorted at every level, no whitespace.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key)?);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let v = json!({"b": {"z": 1, "a": [{"y": true, "x": null}]}, "a": "s"});
        let out = canonical_json(&v).ok();
        assert_eq!(
            out.as_deref(),
            Some(&br#"{"a":"s","b":{"a":[{"x":null,"y":true}],"z":1}}"#[..])
        );
    }
}
