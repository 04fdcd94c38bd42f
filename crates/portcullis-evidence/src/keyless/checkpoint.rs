//! Transparency-log inclusion: the RFC 6962 / RFC 9162 Merkle audit path of one entry, and
//! the signed-note checkpoint (C2SP `tlog-checkpoint` + `signed-note`) that commits the log
//! key to a tree size and root hash. Both are pure functions over data already in a bundle.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// What a verified checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The log's origin line, e.g. `rekor.sigstore.dev - 1193050959916656506`.
    pub origin: String,
    /// The number of leaves in the tree.
    pub tree_size: u64,
    /// The Merkle tree head.
    pub root_hash: [u8; 32],
}

/// The em dash that opens every signature line of a signed note.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// The signature-type byte that signed-note hashes into an Ed25519 key ID.
const ED25519_NOTE_TYPE: u8 = 0x01;

fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(entry)
        .finalize()
        .into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// RFC 6962 / RFC 9162 Merkle audit path check: leaf hash = sha256(0x00 || entry),
/// node = sha256(0x01 || l || r). The path must be exactly as long as the tree needs.
pub(crate) fn verify_inclusion(
    entry: &[u8],
    index: u64,
    tree_size: u64,
    root_hash: &[u8; 32],
    path: &[[u8; 32]],
) -> Result<(), String> {
    if index >= tree_size {
        return Err(format!(
            "inclusion proof: leaf index {index} is outside a tree of size {tree_size}"
        ));
    }
    // RFC 9162 section 2.1.3.2: walk up from the leaf; `last` is the index of the tree's
    // last node at the current level.
    let (mut node, mut last) = (index, tree_size - 1);
    let mut hash = leaf_hash(entry);
    for sibling in path {
        if last == 0 {
            return Err(format!(
                "inclusion proof: {} hashes, more than a tree of size {tree_size} needs",
                path.len()
            ));
        }
        if node % 2 == 1 || node == last {
            hash = node_hash(sibling, &hash);
            if node % 2 == 0 {
                // A right-edge node with no sibling at this level moves up unchanged.
                while node % 2 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(format!(
            "inclusion proof: {} hashes, fewer than a tree of size {tree_size} needs",
            path.len()
        ));
    }
    if &hash != root_hash {
        return Err(format!(
            "inclusion proof: computed root {} does not match root hash {}",
            hex::encode(hash),
            hex::encode(root_hash)
        ));
    }
    Ok(())
}

/// Verifies that some signature line of the signed-note checkpoint `envelope` is by `key`
/// (whose SubjectPublicKeyInfo DER is `key_spki_der`) and returns the parsed body. Lines by
/// other keys are ignored, as the note spec says; any line whose key hint matches but whose
/// signature does not verify rejects the checkpoint. For ECDSA/RSA (Rekor v1) keys the hint
/// is sha256(SPKI DER)[:4] and the signer name is not bound (the caller may check the origin).
pub(crate) fn verify_checkpoint(
    envelope: &str,
    key: &CosignVerificationKey,
    key_spki_der: &[u8],
) -> Result<Checkpoint, String> {
    if key_spki(key) != key_spki_der {
        return Err("checkpoint: the key and its SubjectPublicKeyInfo DER differ".into());
    }
    let split = envelope
        .rfind("\n\n")
        .ok_or("checkpoint: no blank line between the note text and its signatures")?;
    let (text, signatures) = (&envelope[..=split], &envelope[split + 2..]);
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("checkpoint: note text holds a control character".into());
    }
    let checkpoint = parse_body(text)?;
    let Some(signatures) = signatures.strip_suffix('\n') else {
        return Err("checkpoint: signature block does not end with a newline".into());
    };
    let mut verified = false;
    for line in signatures.split('\n') {
        let (name, hint, signature) = parse_signature_line(line)?;
        if hint != key_hint(key, key_spki_der, name)? {
            continue;
        }
        // signed-note: a failing signature by a known key rejects the whole note.
        key.verify_signature(Signature::Raw(&signature), text.as_bytes())
            .map_err(|_| "checkpoint: bad signature by the configured log key".to_owned())?;
        verified = true;
    }
    if !verified {
        return Err(
            "checkpoint: no signature by the configured log key (no matching key hint)".into(),
        );
    }
    Ok(checkpoint)
}

/// `<origin>\n<tree size>\n<base64 root hash>\n[extension lines\n]`.
fn parse_body(text: &str) -> Result<Checkpoint, String> {
    let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err("checkpoint: empty origin line".into());
    }
    let size = lines.next().ok_or("checkpoint: no tree size line")?;
    let canonical = !size.is_empty()
        && size.bytes().all(|b| b.is_ascii_digit())
        && (size == "0" || !size.starts_with('0'));
    let tree_size = size
        .parse::<u64>()
        .ok()
        .filter(|_| canonical)
        .ok_or_else(|| format!("checkpoint: tree size {size:?} is not a decimal number"))?;
    let root_b64 = lines.next().ok_or("checkpoint: no root hash line")?;
    let root_hash = BASE64
        .decode(root_b64)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("checkpoint: root hash {root_b64:?} is not base64 of 32 bytes"))?;
    if lines.any(str::is_empty) {
        return Err("checkpoint: empty extension line".into());
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        tree_size,
        root_hash,
    })
}

/// `— <name> <base64(4-byte key hint || signature)>`.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), String> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| format!("checkpoint: malformed signature line {line:?}"))?;
    let (name, b64) = rest
        .split_once(' ')
        .filter(|(name, b64)| !name.is_empty() && !b64.contains(' '))
        .ok_or_else(|| format!("checkpoint: malformed signature line {line:?}"))?;
    let blob = BASE64
        .decode(b64)
        .map_err(|e| format!("checkpoint: signature by {name:?} is not base64: {e}"))?;
    match blob.split_first_chunk::<4>() {
        Some((hint, signature)) if !signature.is_empty() => Ok((name, *hint, signature.to_vec())),
        _ => Err(format!("checkpoint: signature by {name:?} is too short")),
    }
}

/// The 4-byte key hint: for Ed25519 note keys sha256(name || "\n" || 0x01 || raw key)[:4];
/// for the other (Rekor v1 ECDSA/RSA) keys sha256(SubjectPublicKeyInfo DER)[:4].
fn key_hint(key: &CosignVerificationKey, spki_der: &[u8], name: &str) -> Result<[u8; 4], String> {
    let digest = match key {
        CosignVerificationKey::ED25519(_) => {
            let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
                .map_err(|e| format!("checkpoint: log key is not a SubjectPublicKeyInfo: {e}"))?;
            let raw = spki
                .subject_public_key
                .as_bytes()
                .ok_or("checkpoint: Ed25519 log key has unused bits")?;
            Sha256::new()
                .chain_update(name.as_bytes())
                .chain_update([b'\n', ED25519_NOTE_TYPE])
                .chain_update(raw)
                .finalize()
        }
        _ => Sha256::digest(spki_der),
    };
    let mut hint = [0u8; 4];
    hint.copy_from_slice(&digest[..4]);
    Ok(hint)
}

fn key_spki(key: &CosignVerificationKey) -> &[u8] {
    match key {
        CosignVerificationKey::RSA_PSS_SHA256(spki)
        | CosignVerificationKey::RSA_PKCS1_SHA256(spki)
        | CosignVerificationKey::ECDSA_P256_SHA256_ASN1(spki)
        | CosignVerificationKey::ECDSA_P384_SHA384_ASN1(spki)
        | CosignVerificationKey::ECDSA_P521_SHA512_ASN1(spki)
        | CosignVerificationKey::ED25519(spki) => spki,
    }
}

#[cfg(test)]
mod tests;
