//! Audit checkpoints: `{seq, head_hash, time, key_id, signature}` signed by the gate and kept
//! as JSON lines in a witness file outside the database, so a rewritten, truncated or
//! regrown tail of the audit chain is caught by `portcullis audit verify`.

use std::io::{BufRead as _, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Error, GateKey, KeyRing, Result, canonical};

/// One witnessed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The sequence number of the newest event covered.
    pub seq: i64,
    /// That event's hash.
    pub head_hash: String,
    /// When it was signed (RFC 3339, UTC).
    pub time: String,
    /// The gate key that signed it.
    pub key_id: String,
    /// Base64 of the signature over the canonical record.
    pub signature: String,
}

fn signed_bytes(seq: i64, head_hash: &str, time: &str, key_id: &str) -> Vec<u8> {
    canonical::to_vec(&json!({
        "v": 1,
        "type": "portcullis.audit.checkpoint",
        "seq": seq,
        "head_hash": head_hash,
        "time": time,
        "key_id": key_id,
    }))
}

impl Checkpoint {
    /// Signs a checkpoint of event `seq` with hash `head_hash` at `time`.
    pub fn sign(key: &GateKey, seq: i64, head_hash: &str, time: &str) -> Result<Self> {
        let sig = key.sign(&signed_bytes(seq, head_hash, time, key.key_id()))?;
        Ok(Self {
            seq,
            head_hash: head_hash.to_owned(),
            time: time.to_owned(),
            key_id: key.key_id().to_owned(),
            signature: STANDARD.encode(sig),
        })
    }

    /// Checks the signature with the ring's current or retired keys.
    pub fn verify(&self, ring: &KeyRing) -> Result<()> {
        let sig = STANDARD
            .decode(&self.signature)
            .map_err(|e| Error::Malformed(format!("checkpoint signature is not base64: {e}")))?;
        ring.verify(
            &self.key_id,
            &signed_bytes(self.seq, &self.head_hash, &self.time, &self.key_id),
            &sig,
        )
    }

    /// Appends this checkpoint as one JSON line to `path` and syncs it to disk.
    pub fn append_to(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_string(self)
            .map_err(|e| Error::Malformed(format!("checkpoint: {e}")))?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// Reads a witness file; a missing file is no checkpoints. A line that does not parse is an
/// error naming its line number (a witness file is never edited by hand).
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let cp: Checkpoint = serde_json::from_str(&line)
            .map_err(|e| Error::Malformed(format!("{} line {}: {e}", path.display(), i + 1)))?;
        out.push(cp);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_the_witness_file_and_verify() {
        let dir = std::env::temp_dir().join(format!("pc-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoints.jsonl");
        let _ = std::fs::remove_file(&path);
        let key = GateKey::generate().unwrap();
        let a = Checkpoint::sign(&key, 5, "hmac-sha256:aa", "2026-11-30T00:00:00Z").unwrap();
        let b = Checkpoint::sign(&key, 9, "hmac-sha256:bb", "2026-11-30T00:00:10Z").unwrap();
        a.append_to(&path).unwrap();
        b.append_to(&path).unwrap();
        let read = read_checkpoints(&path).unwrap();
        assert_eq!(read, vec![a.clone(), b]);
        let ring = KeyRing::new(key, vec![]);
        read[0].verify(&ring).unwrap();
        let mut moved = a;
        moved.seq = 4;
        assert!(moved.verify(&ring).is_err());
        assert!(read_checkpoints(&dir.join("absent")).unwrap().is_empty());
    }
}
