//! The Rekor bundle of a keyless signature: its SignedEntryTimestamp is checked by sigstore
//! against the configured Rekor keys, then its body is matched to this very signature the
//! way cosign does (a valid SET only proves *some* entry was logged).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use sigstore::cosign::bundle::SignedArtifactBundle;
use sigstore::crypto::CosignVerificationKey;

use crate::{Error, Result};

/// A Rekor entry whose SET verified.
pub(super) struct Entry {
    /// The decoded entry body (JSON, as Rekor canonicalized it).
    pub(super) body: Vec<u8>,
    /// When Rekor integrated the entry, in Unix seconds.
    pub(super) integrated_time: i64,
}

/// Rekor keys by log id: the hex SHA-256 of the key's DER, which is what a bundle's `logID` holds.
pub(super) fn load_rekor_keys(pem_bytes: &[u8]) -> Result<BTreeMap<String, CosignVerificationKey>> {
    let invalid = |reason: String| Error::InvalidKeyless(format!("rekor_public_key: {reason}"));
    let blocks = pem::parse_many(pem_bytes).map_err(|e| invalid(format!("invalid PEM: {e}")))?;
    let mut keys = BTreeMap::new();
    for block in blocks {
        if block.tag() != "PUBLIC KEY" {
            return Err(invalid(format!(
                "unexpected PEM block {:?}, want PUBLIC KEY",
                block.tag()
            )));
        }
        let key = CosignVerificationKey::try_from_der(block.contents())
            .map_err(|e| invalid(format!("unusable public key: {e}")))?;
        keys.insert(hex::encode(Sha256::digest(block.contents())), key);
    }
    if keys.is_empty() {
        return Err(invalid("no PEM public key found".into()));
    }
    Ok(keys)
}

/// Verifies the bundle annotation's SET with sigstore and returns its entry.
pub(super) fn verify_bundle(
    raw: &str,
    rekor_keys: &BTreeMap<String, CosignVerificationKey>,
) -> std::result::Result<Entry, String> {
    let bundle: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("bundle is not JSON: {e}"))?;
    // sigstore's public entry point for a cosign `Bundle` wraps it in a sign-blob bundle; only
    // `rekorBundle` is verified there (canonical JSON payload, key looked up by logID, SET).
    let wrapped = serde_json::json!({ "base64Signature": "", "cert": "", "rekorBundle": bundle });
    let verified = SignedArtifactBundle::new_verified(&wrapped.to_string(), rekor_keys)
        .map_err(|e| format!("Rekor bundle does not verify with the configured Rekor key: {e}"))?;
    let payload = verified.rekor_bundle.payload;
    let body = BASE64
        .decode(payload.body.as_bytes())
        .map_err(|e| format!("bundle body is not base64: {e}"))?;
    Ok(Entry {
        body,
        integrated_time: payload.integrated_time,
    })
}

/// The logged entry must be a `hashedrekord` of this payload, signature and certificate.
pub(super) fn verify_body_matches(
    body: &[u8],
    payload: &[u8],
    signature_b64: &str,
    leaf_der: &[u8],
) -> std::result::Result<(), String> {
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("bundle body is not JSON: {e}"))?;
    let field = |pointer: &str| {
        body.pointer(pointer)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("bundle body lacks {pointer}"))
    };
    let (kind, version) = (field("/kind")?, field("/apiVersion")?);
    if (kind, version) != ("hashedrekord", "0.0.1") {
        return Err(format!(
            "bundle body is a {kind} {version} entry, want hashedrekord 0.0.1"
        ));
    }
    if field("/spec/data/hash/algorithm")? != "sha256"
        || field("/spec/data/hash/value")? != hex::encode(Sha256::digest(payload))
    {
        return Err("bundle body does not log this payload's hash".into());
    }
    let logged_sig = decode(field("/spec/signature/content")?, "logged signature")?;
    if logged_sig != decode(signature_b64, "signature annotation")? {
        return Err("bundle body logs a different signature".into());
    }
    let logged_pem = decode(field("/spec/signature/publicKey/content")?, "logged key")?;
    let logged = pem::parse(&logged_pem).map_err(|e| format!("logged certificate: {e}"))?;
    if logged.tag() != "CERTIFICATE" || logged.contents() != leaf_der {
        return Err("bundle body logs a different certificate".into());
    }
    Ok(())
}

fn decode(text: &str, what: &str) -> std::result::Result<Vec<u8>, String> {
    BASE64
        .decode(text.trim().as_bytes())
        .map_err(|e| format!("{what} is not base64: {e}"))
}
