//! CI-supplied evidence documents: checked, parsed and counted against `limits.*` on the
//! blocking pool (a 16 MiB body of findings is real CPU work), before anything is resolved,
//! evaluated or written.

use portcullis_core::EvidenceItems;
use portcullis_evidence::{Limits, Tally};
use serde::Deserialize;

use crate::error::ApiError;

/// Most evidence documents one request may carry.
pub const MAX_EVIDENCE: usize = 16;

/// One CI-supplied evidence document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceDocument {
    format: String,
    document: serde_json::Value,
}

impl EvidenceDocument {
    /// The format name as the client sent it.
    pub fn format(&self) -> &str {
        &self.format
    }
}

/// Parses `documents` into evidence items, refusing the first one that is malformed, holds
/// U+0000 or brings the running count of findings, components or VEX statements past
/// `limits` (422 `evidence_too_large` naming the document and the limit). CPU-bound: call it
/// through `work::blocking`.
pub fn parse(documents: Vec<EvidenceDocument>, limits: &Limits) -> Result<EvidenceItems, ApiError> {
    if documents.len() > MAX_EVIDENCE {
        return Err(ApiError::unprocessable(
            "invalid_evidence",
            format!("at most {MAX_EVIDENCE} evidence documents"),
        ));
    }
    // Postgres cannot store U+0000 in text or jsonb: refuse it here rather than fail later.
    if let Some(i) = documents.iter().position(|e| has_nul(&e.document)) {
        return Err(ApiError::unprocessable(
            "invalid_evidence",
            format!("evidence[{i}] contains a U+0000 character"),
        ));
    }
    let mut items = EvidenceItems::default();
    let mut tally = Tally::default();
    for (i, e) in documents.iter().enumerate() {
        let parsed =
            portcullis_evidence::parse_report(&e.format, &e.document).map_err(|err| match err {
                portcullis_evidence::Error::UnknownFormat(_) => ApiError::unprocessable(
                    "unknown_evidence_format",
                    format!("evidence[{i}]: {err}"),
                ),
                other => {
                    ApiError::unprocessable("invalid_evidence", format!("evidence[{i}]: {other}"))
                }
            })?;
        tally = tally.plus(Tally::of(&parsed));
        if let Some(exceeded) = tally.exceeded(limits) {
            return Err(ApiError::evidence_too_large(
                format_args!("evidence[{i}]"),
                &exceeded,
            ));
        }
        items.extend(parsed);
    }
    Ok(items)
}

/// Whether any string or key in `v` contains U+0000.
pub fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
