//! RFC 6962 Merkle trees and C2SP signed-note checkpoints, shared by the fake Rekor v1 and
//! v2 logs: leaf hash `sha256(0x00 || entry)`, node hash `sha256(0x01 || left || right)`,
//! inclusion paths as RFC 6962 §2.1.1 defines them, and the checkpoint
//! `<origin>\n<size>\n<base64 root>\n\n— <key name> <base64(key hint || signature)>\n`.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// The leaf hash of `entry`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(entry)
        .finalize()
        .into()
}

/// The interior node hash of `left` and `right`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle tree hash of the leaf hashes `leaves`.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest(b"").into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves`, leaf side first.
pub fn inclusion_path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 || index >= leaves.len() {
        return Vec::new();
    }
    let k = split(leaves.len());
    if index < k {
        let mut path = inclusion_path(index, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_path(index - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

/// The leaf hashes a fake log has appended, behind a lock so logging works through `&self`.
#[derive(Debug, Default)]
pub(crate) struct Tree(Mutex<Vec<Hash>>);

impl Tree {
    /// Appends `entry`; returns its index and the leaves as of then.
    pub(crate) fn append(&self, entry: &[u8]) -> Result<(usize, Vec<Hash>)> {
        let mut leaves = self
            .0
            .lock()
            .map_err(|_| Error::Invalid("fake log lock poisoned".into()))?;
        leaves.push(leaf_hash(entry));
        Ok((leaves.len() - 1, leaves.clone()))
    }

    /// The leaves as of now.
    pub(crate) fn leaves(&self) -> Result<Vec<Hash>> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Error::Invalid("fake log lock poisoned".into()))?
            .clone())
    }
}

/// A proof that an entry is in a tree of `tree_size` leaves with root `root_hash`, plus the
/// log's signed checkpoint for that tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index in this tree (Rekor v1: shard-relative).
    pub log_index: u64,
    /// Leaves in the tree.
    pub tree_size: u64,
    /// The tree's root hash.
    pub root_hash: Hash,
    /// The audit path, leaf side first.
    pub hashes: Vec<Hash>,
    /// The signed note committing to `tree_size` and `root_hash`.
    pub checkpoint: String,
}

impl InclusionProof {
    /// The protobuf-specs `InclusionProof` JSON (int64 as strings, bytes as base64).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "logIndex": self.log_index.to_string(),
            "rootHash": BASE64.encode(self.root_hash),
            "treeSize": self.tree_size.to_string(),
            "hashes": self.hashes.iter().map(|h| BASE64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": { "envelope": self.checkpoint },
        })
    }
}

/// The checkpoint body (what is signed): origin, size and base64 root, one per line.
pub fn checkpoint_body(origin: &str, tree_size: u64, root_hash: &Hash) -> String {
    format!("{origin}\n{tree_size}\n{}\n", BASE64.encode(root_hash))
}

/// A signed note: `body`, a blank line, and one signature line by `key_name`.
pub(crate) fn signed_note(
    body: &str,
    key_name: &str,
    key_hint: [u8; 4],
    signature: &[u8],
) -> String {
    let blob = [&key_hint[..], signature].concat();
    format!("{body}\n\u{2014} {key_name} {}\n", BASE64.encode(blob))
}

/// The proof for leaf `index` in `leaves`, with the checkpoint `sign` produces over the body.
pub(crate) fn prove(
    index: usize,
    leaves: &[Hash],
    origin: &str,
    sign: impl Fn(&str) -> Result<String>,
) -> Result<InclusionProof> {
    let root_hash = root(leaves);
    let tree_size = leaves.len() as u64;
    let body = checkpoint_body(origin, tree_size, &root_hash);
    Ok(InclusionProof {
        log_index: index as u64,
        tree_size,
        root_hash,
        hashes: inclusion_path(index, leaves),
        checkpoint: sign(&body)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_trees_match_the_rfc_definition() {
        let l: Vec<Hash> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(inclusion_path(2, &l), vec![node_hash(&l[0], &l[1])]);
        assert_eq!(inclusion_path(0, &l), vec![l[1], l[2]]);
    }
}
