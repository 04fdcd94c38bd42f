//! The fake Rekor v1 log ([`FakeRekor`], ECDSA P-256): cosign annotation bundles with a SET
//! over `hashedrekord`, and entries beyond it: the bodies of `intoto` 0.0.1, `intoto` 0.0.2 and
//! `dsse` 0.0.1 as the real log stores them, and [`FakeRekor::log`], which appends a body to
//! the fake log's Merkle tree and returns a [`LogEntry`] with its SET, inclusion proof and
//! signed checkpoint (origin `rekor.local - <tree id>`, key hint = first 4 bytes of the log id).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData as _, SigningKey as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::merkle::{self, InclusionProof};
use super::{LogEntry, canonical_json};
use crate::keyless::cert_error;
use crate::{Error, Result};

/// The key name on Rekor v1 checkpoint signature lines.
pub const REKOR_V1_NAME: &str = "rekor.local";

/// A fake Rekor log key.
///
/// It also keeps a Merkle tree of the entries logged with [`FakeRekor::log`], for inclusion
/// proofs and signed checkpoints (below).
pub struct FakeRekor {
    pub(crate) key: KeyPair,
    pub(crate) tree: merkle::Tree,
    /// Added to tree indexes to give global log indexes (Rekor v1 shards).
    pub(crate) shard_offset: u64,
}

impl FakeRekor {
    /// A fresh ECDSA P-256 log key.
    pub fn new() -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        Ok(Self {
            key,
            tree: merkle::Tree::default(),
            shard_offset: 0,
        })
    }

    /// The PEM public key a verifier trusts.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The log id: hex SHA-256 of the DER public key, as Rekor reports it.
    pub fn log_id(&self) -> String {
        hex::encode(Sha256::digest(self.key.subject_public_key_info()))
    }

    /// The `hashedrekord` 0.0.1 entry Rekor stores for `signature_b64` by `cert_pem` over `payload`.
    pub fn hashedrekord_body(payload: &[u8], signature_b64: &str, cert_pem: &str) -> Value {
        json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(payload)) } },
                "signature": {
                    "content": signature_b64,
                    "publicKey": { "content": BASE64.encode(cert_pem) },
                },
            },
        })
    }

    /// A cosign bundle for `body` integrated at `integrated_time`, with a valid SET.
    pub fn bundle(&self, body: &Value, integrated_time: i64, log_index: i64) -> Result<Value> {
        let payload = json!({
            "body": BASE64.encode(serde_json::to_vec(body)?),
            "integratedTime": integrated_time,
            "logID": self.log_id(),
            "logIndex": log_index,
        });
        let set = self.sign_set(&payload)?;
        Ok(json!({ "SignedEntryTimestamp": set, "Payload": payload }))
    }

    /// The SET over a bundle payload: a signature over its canonical JSON, base64.
    pub fn sign_set(&self, payload: &Value) -> Result<String> {
        // The payload has four ASCII-only fields and integers, so sorted-key compact JSON is
        // exactly its RFC 8785 canonical form.
        let canonical = canonical_json(payload)?;
        Ok(BASE64.encode(self.key.sign(&canonical).map_err(cert_error)?))
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The decoded payload of a DSSE envelope.
fn envelope_payload(envelope: &Value) -> Result<Vec<u8>> {
    let payload = envelope["payload"]
        .as_str()
        .ok_or_else(|| Error::Invalid("DSSE envelope without a payload".into()))?;
    BASE64
        .decode(payload)
        .map_err(|e| Error::Invalid(format!("DSSE payload is not base64: {e}")))
}

/// The `sig` strings of a DSSE envelope.
fn envelope_signatures(envelope: &Value) -> Vec<String> {
    envelope["signatures"]
        .as_array()
        .map(|sigs| {
            sigs.iter()
                .filter_map(|s| s["sig"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl FakeRekor {
    /// A log whose global log indexes are `offset` past its tree indexes, like a Rekor v1
    /// shard: the SET and `logIndex` say global, the inclusion proof says tree-relative.
    pub fn with_shard_offset(offset: u64) -> Result<Self> {
        let mut rekor = Self::new()?;
        rekor.shard_offset = offset;
        Ok(rekor)
    }

    /// The tree id in this log's checkpoint origin, derived from the key (stable per log).
    pub fn tree_id(&self) -> u64 {
        let id = Sha256::digest(self.key.subject_public_key_info());
        u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]) >> 1
    }

    /// The checkpoint origin: `rekor.local - <tree id>`.
    pub fn origin(&self) -> String {
        format!("{REKOR_V1_NAME} - {}", self.tree_id())
    }

    /// The log's public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The log id bytes (sha256 of the SPKI DER); [`FakeRekor::log_id`] is its hex form.
    pub fn log_id_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.public_key_der()).into()
    }

    /// `intoto` 0.0.1 as cosign ≤ 2.1 logged it: `content.hash` = sha256 of `envelope_json`
    /// (the `.att` layer bytes), `payloadHash` = sha256 of the decoded payload, `publicKey` =
    /// base64 of the PEM certificate.
    pub fn intoto_v001_body(envelope_json: &[u8], cert_pem: &str) -> Result<Value> {
        let envelope: Value = serde_json::from_slice(envelope_json)?;
        let payload = envelope_payload(&envelope)?;
        Ok(json!({
            "apiVersion": "0.0.1",
            "kind": "intoto",
            "spec": {
                "content": {
                    "hash": { "algorithm": "sha256", "value": sha256_hex(envelope_json) },
                    "payloadHash": { "algorithm": "sha256", "value": sha256_hex(&payload) },
                },
                "publicKey": BASE64.encode(cert_pem),
            },
        }))
    }

    /// `intoto` 0.0.2 as sigstore-js logged it: the envelope without its payload, each
    /// signature and the PEM certificate base64-encoded once more, `payloadHash` = sha256 of
    /// the decoded payload. `hash` is sha256 of the compact envelope JSON, which a verifier
    /// cannot recompute from a bundle (bind through `payloadHash` and the signatures).
    pub fn intoto_v002_body(envelope: &Value, cert_pem: &str) -> Result<Value> {
        let payload = envelope_payload(envelope)?;
        let signatures: Vec<Value> = envelope_signatures(envelope)
            .iter()
            .map(|sig| json!({ "publicKey": BASE64.encode(cert_pem), "sig": BASE64.encode(sig) }))
            .collect();
        Ok(json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {
                "content": {
                    "envelope": {
                        "payloadType": envelope["payloadType"],
                        "signatures": signatures,
                    },
                    "hash": { "algorithm": "sha256", "value": sha256_hex(&serde_json::to_vec(envelope)?) },
                    "payloadHash": { "algorithm": "sha256", "value": sha256_hex(&payload) },
                },
            },
        }))
    }

    /// `dsse` 0.0.1 as cosign ≥ 2.2 logs it: `envelopeHash` = sha256 of `envelope_json` (the
    /// `.att` layer bytes), `payloadHash`, and each signature with the base64 PEM certificate
    /// as `verifier`.
    pub fn dsse_v001_body(envelope_json: &[u8], cert_pem: &str) -> Result<Value> {
        let envelope: Value = serde_json::from_slice(envelope_json)?;
        let payload = envelope_payload(&envelope)?;
        let signatures: Vec<Value> = envelope_signatures(&envelope)
            .into_iter()
            .map(|sig| json!({ "signature": sig, "verifier": BASE64.encode(cert_pem) }))
            .collect();
        Ok(json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": sha256_hex(envelope_json) },
                "payloadHash": { "algorithm": "sha256", "value": sha256_hex(&payload) },
                "signatures": signatures,
            },
        }))
    }

    /// Appends `body` (canonicalized) to the log at `integrated_time`: returns the entry with
    /// its SET and an inclusion proof against the tree as of this entry.
    pub fn log(&self, body: &Value, integrated_time: i64) -> Result<LogEntry> {
        let canonical = canonical_json(body)?;
        let (index, leaves) = self.tree.append(&canonical)?;
        let log_index = index as u64 + self.shard_offset;
        let set_payload = json!({
            "body": BASE64.encode(&canonical),
            "integratedTime": integrated_time,
            "logID": self.log_id(),
            "logIndex": log_index,
        });
        let set = BASE64
            .decode(self.sign_set(&set_payload)?)
            .map_err(|e| Error::Invalid(format!("SET encoding: {e}")))?;
        Ok(LogEntry {
            kind: body["kind"].as_str().unwrap_or_default().to_owned(),
            version: body["apiVersion"].as_str().unwrap_or_default().to_owned(),
            body: canonical,
            log_index,
            log_id: self.log_id_bytes(),
            integrated_time,
            set: Some(set),
            proof: Some(self.prove(index, &leaves)?),
        })
    }

    /// A fresh inclusion proof of the entry at global `log_index` against the whole log as it
    /// is now.
    pub fn inclusion_proof(&self, log_index: u64) -> Result<InclusionProof> {
        let leaves = self.tree.leaves()?;
        let index = log_index
            .checked_sub(self.shard_offset)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < leaves.len())
            .ok_or_else(|| Error::Invalid(format!("no entry {log_index} in the fake log")))?;
        self.prove(index, &leaves)
    }

    /// The signed checkpoint of the log as it is now.
    pub fn checkpoint(&self) -> Result<String> {
        let leaves = self.tree.leaves()?;
        let body =
            merkle::checkpoint_body(&self.origin(), leaves.len() as u64, &merkle::root(&leaves));
        self.sign_note(&body)
    }

    fn prove(&self, index: usize, leaves: &[merkle::Hash]) -> Result<InclusionProof> {
        merkle::prove(index, leaves, &self.origin(), |body| self.sign_note(body))
    }

    fn sign_note(&self, body: &str) -> Result<String> {
        let signature = self.key.sign(body.as_bytes()).map_err(cert_error)?;
        let id = self.log_id_bytes();
        Ok(merkle::signed_note(
            body,
            REKOR_V1_NAME,
            [id[0], id[1], id[2], id[3]],
            &signature,
        ))
    }
}
