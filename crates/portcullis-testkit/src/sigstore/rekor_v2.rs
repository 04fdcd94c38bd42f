//! A fake Rekor v2 (tile-based) log: an Ed25519 key, `hashedrekord` and `dsse` entries of
//! version 0.0.2, inclusion proofs and C2SP checkpoints — and no SignedEntryTimestamp, so the
//! signing time has to come from an RFC 3161 timestamp. The log id is the C2SP checkpoint key
//! id `sha256(origin || 0x0A || 0x01 || raw Ed25519 key)`, its first four bytes the key hint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{KeyPair, PKCS_ED25519, PublicKeyData as _, SigningKey as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::merkle::{self, InclusionProof, Tree};
use super::{LogEntry, canonical_json};
use crate::keyless::cert_error;
use crate::{Error, Result};

/// The `keyDetails` of the ECDSA P-256 leaves the testkit issues.
pub const ECDSA_P256_KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

/// A fake Rekor v2 log.
pub struct FakeRekorV2 {
    key: KeyPair,
    origin: String,
    tree: Tree,
}

impl FakeRekorV2 {
    /// A fresh log whose checkpoint origin is `rekor-v2.local`.
    pub fn new() -> Result<Self> {
        Self::with_origin("rekor-v2.local")
    }

    /// A fresh log with checkpoint origin (and key name) `origin`.
    pub fn with_origin(origin: &str) -> Result<Self> {
        Ok(Self {
            key: KeyPair::generate_for(&PKCS_ED25519).map_err(cert_error)?,
            origin: origin.to_owned(),
            tree: Tree::default(),
        })
    }

    /// The checkpoint origin, also the key name on signature lines.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The base URL a trusted root lists for this log.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.origin)
    }

    /// The Ed25519 public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The Ed25519 public key, PEM.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The log id: the full C2SP checkpoint key id.
    pub fn log_id(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.origin.as_bytes())
            .chain_update([0x0a, 0x01])
            .chain_update(self.key.public_key_raw())
            .finalize()
            .into()
    }

    /// A `hashedrekord` 0.0.2 body: the artifact's sha256 `digest`, the `signature` over it
    /// and the signer's DER certificate.
    pub fn hashedrekord_body(digest: &[u8; 32], signature: &[u8], cert_der: &[u8]) -> Value {
        json!({
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": { "hashedRekordV002": {
                "data": { "algorithm": "SHA2_256", "digest": BASE64.encode(digest) },
                "signature": { "content": BASE64.encode(signature), "verifier": verifier(cert_der) },
            }},
        })
    }

    /// A `dsse` 0.0.2 body for `envelope` signed by the holder of `cert_der`: the payload's
    /// sha256 and every signature with that certificate as verifier.
    pub fn dsse_body(envelope: &Value, cert_der: &[u8]) -> Result<Value> {
        let payload = envelope["payload"]
            .as_str()
            .and_then(|p| BASE64.decode(p).ok())
            .ok_or_else(|| Error::Invalid("DSSE envelope without a base64 payload".into()))?;
        let signatures: Vec<Value> = envelope["signatures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["sig"].as_str())
            .map(|sig| json!({ "content": sig, "verifier": verifier(cert_der) }))
            .collect();
        Ok(json!({
            "apiVersion": "0.0.2",
            "kind": "dsse",
            "spec": { "dsseV002": {
                "payloadHash": { "algorithm": "SHA2_256", "digest": BASE64.encode(Sha256::digest(&payload)) },
                "signatures": signatures,
            }},
        }))
    }

    /// Appends `body` (canonicalized): the entry has integrated time 0, no SET, and an
    /// inclusion proof with a checkpoint for the tree as of this entry.
    pub fn log(&self, body: &Value) -> Result<LogEntry> {
        let canonical = canonical_json(body)?;
        let (index, leaves) = self.tree.append(&canonical)?;
        Ok(LogEntry {
            kind: body["kind"].as_str().unwrap_or_default().to_owned(),
            version: body["apiVersion"].as_str().unwrap_or_default().to_owned(),
            body: canonical,
            log_index: index as u64,
            log_id: self.log_id(),
            integrated_time: 0,
            set: None,
            proof: Some(self.prove(index, &leaves)?),
        })
    }

    /// A fresh inclusion proof of entry `index` against the whole log as it is now.
    pub fn inclusion_proof(&self, index: u64) -> Result<InclusionProof> {
        let leaves = self.tree.leaves()?;
        let index = usize::try_from(index)
            .ok()
            .filter(|i| *i < leaves.len())
            .ok_or_else(|| Error::Invalid(format!("no entry {index} in the fake v2 log")))?;
        self.prove(index, &leaves)
    }

    fn prove(&self, index: usize, leaves: &[merkle::Hash]) -> Result<InclusionProof> {
        merkle::prove(index, leaves, &self.origin, |body| {
            let signature = self.key.sign(body.as_bytes()).map_err(cert_error)?;
            let id = self.log_id();
            Ok(merkle::signed_note(
                body,
                &self.origin,
                [id[0], id[1], id[2], id[3]],
                &signature,
            ))
        })
    }
}

impl std::fmt::Debug for FakeRekorV2 {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRekorV2")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn verifier(cert_der: &[u8]) -> Value {
    json!({
        "keyDetails": ECDSA_P256_KEY_DETAILS,
        "x509Certificate": { "rawBytes": BASE64.encode(cert_der) },
    })
}
