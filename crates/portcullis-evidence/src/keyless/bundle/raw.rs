//! The bundle's JSON form (protobuf-specs `Bundle`: camelCase, int64 as strings, bytes as
//! base64), read as is, and its log entries turned into [`LogEntry`]s.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::tlog::{InclusionProof, LogEntry, decode, hash32};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawBundle<'a> {
    pub(super) media_type: String,
    pub(super) verification_material: RawMaterial,
    #[serde(default, borrow)]
    pub(super) dsse_envelope: Option<&'a RawValue>,
    #[serde(default)]
    pub(super) message_signature: Option<RawMessageSignature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawMaterial {
    #[serde(default)]
    pub(super) x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    pub(super) certificate: Option<RawBytes>,
    #[serde(default)]
    pub(super) public_key: Option<RawHint>,
    #[serde(default)]
    pub(super) tlog_entries: Vec<RawEntry>,
    #[serde(default)]
    pub(super) timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
pub(super) struct RawChain {
    pub(super) certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawBytes {
    pub(super) raw_bytes: String,
}

#[derive(Deserialize)]
pub(super) struct RawHint {
    #[serde(default)]
    pub(super) hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEntry {
    pub(super) log_index: String,
    pub(super) log_id: RawLogId,
    pub(super) kind_version: RawKindVersion,
    #[serde(default)]
    pub(super) integrated_time: Option<String>,
    #[serde(default)]
    pub(super) inclusion_promise: Option<RawPromise>,
    #[serde(default)]
    pub(super) inclusion_proof: Option<RawProof>,
    pub(super) canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLogId {
    pub(super) key_id: String,
}

#[derive(Deserialize)]
pub(super) struct RawKindVersion {
    pub(super) kind: String,
    pub(super) version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPromise {
    pub(super) signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawProof {
    pub(super) log_index: String,
    pub(super) root_hash: String,
    pub(super) tree_size: String,
    #[serde(default)]
    pub(super) hashes: Vec<String>,
    pub(super) checkpoint: RawCheckpoint,
}

#[derive(Deserialize)]
pub(super) struct RawCheckpoint {
    pub(super) envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawTimestamps {
    #[serde(default)]
    pub(super) rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawTimestamp {
    pub(super) signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawMessageSignature {
    pub(super) message_digest: RawMessageDigest,
    pub(super) signature: String,
}

#[derive(Deserialize)]
pub(super) struct RawMessageDigest {
    pub(super) algorithm: String,
    pub(super) digest: String,
}

fn int(text: &str, what: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("{what} {text:?} is not an integer"))
}

pub(super) fn entry(raw: &RawEntry, version: u8) -> Result<LogEntry, String> {
    let body = decode(&raw.canonicalized_body, "canonicalizedBody")?;
    let proof = raw
        .inclusion_proof
        .as_ref()
        .map(|p| -> Result<InclusionProof, String> {
            let u = |t: &str, w: &str| {
                t.parse::<u64>()
                    .map_err(|_| format!("inclusionProof.{w} {t:?} is not an integer"))
            };
            Ok(InclusionProof {
                log_index: u(&p.log_index, "logIndex")?,
                tree_size: u(&p.tree_size, "treeSize")?,
                root_hash: hash32(&p.root_hash, "inclusionProof.rootHash")?,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| hash32(h, "inclusionProof.hashes"))
                    .collect::<Result<_, _>>()?,
                checkpoint: p.checkpoint.envelope.clone(),
            })
        })
        .transpose()?;
    let set = raw
        .inclusion_promise
        .as_ref()
        .map(|p| decode(&p.signed_entry_timestamp, "signedEntryTimestamp"))
        .transpose()?;
    if version == 1 && set.is_none() {
        return Err("a v0.1 bundle entry must carry an inclusionPromise".into());
    }
    if version >= 2 && proof.is_none() {
        return Err("a v0.2+ bundle entry must carry an inclusionProof".into());
    }
    let integrated_time = match raw.integrated_time.as_deref() {
        None | Some("0") => None,
        Some(t) => Some(int(t, "integratedTime")?),
    };
    Ok(LogEntry {
        body_b64: raw.canonicalized_body.clone(),
        body,
        log_id: hex::encode(decode(&raw.log_id.key_id, "logId.keyId")?),
        log_index: int(&raw.log_index, "logIndex")?,
        integrated_time,
        kind: Some((
            raw.kind_version.kind.clone(),
            raw.kind_version.version.clone(),
        )),
        set,
        proof,
    })
}
