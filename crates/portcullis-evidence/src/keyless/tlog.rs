//! Transparency-log entries, in both shapes they reach us: cosign's bundle annotation
//! (`{SignedEntryTimestamp, Payload{body, integratedTime, logIndex, logID}}`, integers and a
//! hex log id) and a Sigstore bundle's `tlogEntries[]` (integers as strings, base64 log id,
//! optional inclusion proof with a signed checkpoint). A SET proves *when* the entry was
//! logged; an inclusion proof proves only *that* it was. Either way the body is then bound to
//! the very signature being verified (see `body.rs`): a valid entry of some other signature
//! proves nothing.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use sigstore::crypto::Signature;

use super::root::LogKey;

/// One log entry, whatever shape it came in.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    /// The entry body exactly as the log returned it, base64 (what the SET signs).
    pub(crate) body_b64: String,
    /// The decoded body.
    pub(crate) body: Vec<u8>,
    /// The log's id, hex.
    pub(crate) log_id: String,
    /// The global log index.
    pub(crate) log_index: i64,
    /// When the log says it integrated the entry; trusted only once the SET verified.
    pub(crate) integrated_time: Option<i64>,
    /// Kind and version the bundle claims (the body's own are what is checked).
    pub(crate) kind: Option<(String, String)>,
    /// The signed entry timestamp, DER signature bytes.
    pub(crate) set: Option<Vec<u8>>,
    /// The inclusion proof, when the bundle carries one.
    pub(crate) proof: Option<InclusionProof>,
}

/// A Merkle inclusion proof with the checkpoint it ends in.
#[derive(Debug, Clone)]
pub(crate) struct InclusionProof {
    /// The shard-relative index of the entry.
    pub(crate) log_index: u64,
    /// The tree size the proof is for.
    pub(crate) tree_size: u64,
    /// The root hash the proof leads to.
    pub(crate) root_hash: [u8; 32],
    /// The audit path.
    pub(crate) hashes: Vec<[u8; 32]>,
    /// The signed note checkpoint text.
    pub(crate) checkpoint: String,
}

#[derive(Deserialize)]
struct AnnotationBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: AnnotationPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnnotationPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Parses cosign's `dev.sigstore.cosign/bundle` annotation.
pub(crate) fn from_annotation(raw: &str) -> Result<LogEntry, String> {
    let bundle: AnnotationBundle =
        serde_json::from_str(raw).map_err(|e| format!("Rekor bundle annotation: {e}"))?;
    let payload = bundle.payload;
    Ok(LogEntry {
        body: decode(&payload.body, "Rekor bundle body")?,
        body_b64: payload.body,
        log_id: payload.log_id.to_ascii_lowercase(),
        log_index: payload.log_index,
        integrated_time: Some(payload.integrated_time),
        kind: None,
        set: Some(decode(&bundle.set, "SignedEntryTimestamp")?),
        proof: None,
    })
}

/// The message a SET signs: the canonical JSON (sorted keys, no spaces) of the entry.
fn set_message(entry: &LogEntry, integrated_time: i64) -> Result<Vec<u8>, String> {
    // The body is base64 and the log id hex, so neither needs escaping; still, refuse
    // anything that would, rather than sign-check a different text than Rekor did.
    let safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    };
    if !safe(&entry.body_b64) || !safe(&entry.log_id) {
        return Err("log entry body or log id has unexpected characters".into());
    }
    Ok(format!(
        r#"{{"body":"{}","integratedTime":{integrated_time},"logID":"{}","logIndex":{}}}"#,
        entry.body_b64, entry.log_id, entry.log_index
    )
    .into_bytes())
}

/// Verifies the entry's SET with the log that signed it; returns the integrated time, now
/// trusted. The log must have been trusted at that time.
pub(crate) fn verify_set(entry: &LogEntry, logs: &BTreeMap<String, LogKey>) -> Result<i64, String> {
    let set = entry
        .set
        .as_deref()
        .ok_or("log entry has no SignedEntryTimestamp")?;
    let time = entry
        .integrated_time
        .ok_or("log entry has a SET but no integratedTime")?;
    let log = logs
        .get(&entry.log_id)
        .ok_or_else(|| format!("log entry is from unknown log {}", entry.log_id))?;
    log.key
        .verify_signature(Signature::Raw(set), &set_message(entry, time)?)
        .map_err(|_| {
            format!(
                "SignedEntryTimestamp does not verify with log {}",
                entry.log_id
            )
        })?;
    if !log.valid.contains(time) {
        return Err(format!(
            "log {} was not trusted at integratedTime {time} (valid {})",
            entry.log_id, log.valid
        ));
    }
    Ok(time)
}

/// Standard base64, tolerating the line breaks Go's decoder skips.
pub(crate) fn decode(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64
        .decode(compact.as_bytes())
        .map_err(|e| format!("{what} is not base64: {e}"))
}

/// A 32-byte hash from base64.
pub(crate) fn hash32(text: &str, what: &str) -> Result<[u8; 32], String> {
    decode(text, what)?
        .try_into()
        .map_err(|_| format!("{what} is not a 32-byte hash"))
}
