//! Signed records as DSSE envelopes (the in-toto/sigstore envelope): the payload is the
//! record's canonical JSON, the signature is over DSSE's pre-authentication encoding, and
//! the key id names the gate key that signed it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, GateKey, KeyRing, Result, canonical};

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is (`application/vnd.portcullis.<kind>.v1+json`).
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the payload bytes.
    pub payload: String,
    /// The signatures (the gate writes exactly one).
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// The gate key id.
    pub keyid: String,
    /// Base64 of the signature.
    pub sig: String,
}

/// DSSE's pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A record signed by the gate: its verified payload and the envelope.
#[derive(Debug, Clone)]
pub struct SignedRecord {
    /// The record, as signed.
    pub record: Value,
    /// The envelope that carries it.
    pub envelope: Envelope,
    /// The SHA-256 of the canonical payload, `sha256:<hex>`: the record's identity.
    pub digest: String,
}

impl Envelope {
    /// Signs `record` (canonically encoded) as `payload_type`.
    pub fn sign(key: &GateKey, payload_type: &str, record: &Value) -> Result<Self> {
        let payload = canonical::to_vec(record);
        let sig = key.sign(&pae(payload_type, &payload))?;
        Ok(Self {
            payload_type: payload_type.to_owned(),
            payload: STANDARD.encode(&payload),
            signatures: vec![EnvelopeSignature {
                keyid: key.key_id().to_owned(),
                sig: STANDARD.encode(sig),
            }],
        })
    }

    /// Parses an envelope stored as JSON.
    pub fn from_value(v: &Value) -> Result<Self> {
        serde_json::from_value(v.clone()).map_err(|e| Error::Malformed(format!("envelope: {e}")))
    }

    /// The envelope as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Verifies that exactly one signature, by a key of `ring`, covers the payload, that the
    /// payload type is `payload_type`, and that the payload is canonical JSON; returns it.
    pub fn verify(&self, ring: &KeyRing, payload_type: &str) -> Result<SignedRecord> {
        if self.payload_type != payload_type {
            return Err(Error::Malformed(format!(
                "payload type {:?}, expected {payload_type:?}",
                self.payload_type
            )));
        }
        let [sig] = self.signatures.as_slice() else {
            return Err(Error::Malformed(format!(
                "{} signatures; a gate record carries exactly one",
                self.signatures.len()
            )));
        };
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|e| Error::Malformed(format!("payload is not base64: {e}")))?;
        let raw_sig = STANDARD
            .decode(&sig.sig)
            .map_err(|e| Error::Malformed(format!("signature is not base64: {e}")))?;
        ring.verify(&sig.keyid, &pae(&self.payload_type, &payload), &raw_sig)?;
        let record: Value = serde_json::from_slice(&payload)
            .map_err(|e| Error::Malformed(format!("payload is not JSON: {e}")))?;
        if canonical::to_vec(&record) != payload {
            return Err(Error::Malformed("payload is not canonical JSON".into()));
        }
        Ok(SignedRecord {
            digest: crate::sha256_hex(&payload),
            record,
            envelope: self.clone(),
        })
    }

    /// The key id of the (first) signature.
    pub fn key_id(&self) -> Option<&str> {
        self.signatures.first().map(|s| s.keyid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TYPE: &str = "application/vnd.portcullis.test.v1+json";

    #[test]
    fn a_signed_record_verifies_and_any_change_is_refused() {
        let key = GateKey::generate().unwrap();
        let record = json!({"v": 1, "promotion_id": "p", "digest": "sha256:00"});
        let env = Envelope::sign(&key, TYPE, &record).unwrap();
        let ring = KeyRing::new(key, vec![]);
        let signed = env.verify(&ring, TYPE).unwrap();
        assert_eq!(signed.record, record);

        let mut tampered = env.clone();
        tampered.payload = STANDARD.encode(br#"{"digest":"sha256:11","promotion_id":"p","v":1}"#);
        assert!(matches!(
            tampered.verify(&ring, TYPE),
            Err(Error::BadSignature(_))
        ));
        assert!(env.verify(&ring, "application/other").is_err());
        let mut twice = env.clone();
        twice.signatures.push(env.signatures[0].clone());
        assert!(twice.verify(&ring, TYPE).is_err());
    }

    #[test]
    fn a_record_signed_by_another_key_is_refused() {
        let gate = GateKey::generate().unwrap();
        let rogue = GateKey::generate().unwrap();
        let mut env = Envelope::sign(&rogue, TYPE, &json!({"v": 1})).unwrap();
        env.signatures[0].keyid = gate.key_id().to_owned();
        let ring = KeyRing::new(gate, vec![]);
        assert!(env.verify(&ring, TYPE).is_err());
    }
}
