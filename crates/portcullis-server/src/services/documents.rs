//! CI-supplied evidence documents: checked, parsed and counted against `limits.*` on the
//! blocking pool (a 16 MiB body of findings is real CPU work), before anything is resolved,
//! evaluated or written.

use portcullis_core::EvidenceItems;
use portcullis_evidence::{Limits, Tally};
use serde::Deserialize;

use crate::services::work::WorkError;

/// Most evidence documents one request may carry.
pub const MAX_EVIDENCE: usize = 16;

/// Evidence refused (422; `error.rs` maps each to its code) or not processed (500).
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// More than `MAX_EVIDENCE` documents.
    #[error("at most {MAX_EVIDENCE} evidence documents")]
    TooMany,
    /// A document holds U+0000, which Postgres cannot store.
    #[error("evidence[{0}] contains a U+0000 character")]
    Nul(usize),
    /// A format the gate does not know.
    #[error("evidence[{index}]: {source}")]
    UnknownFormat {
        /// Which document.
        index: usize,
        /// The parser's error.
        source: portcullis_evidence::Error,
    },
    /// A document that does not parse as its format.
    #[error("evidence[{index}]: {source}")]
    Invalid {
        /// Which document.
        index: usize,
        /// The parser's error.
        source: portcullis_evidence::Error,
    },
    /// Evidence past a configured bound; `context` names the document, or what the signed
    /// attestations added.
    #[error("{context}: {exceeded}")]
    TooLarge {
        /// Where the bound was passed.
        context: String,
        /// Which bound.
        exceeded: portcullis_evidence::LimitExceeded,
    },
    /// The blocking pool failed.
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl EvidenceError {
    /// The stable machine code the API answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooMany | Self::Nul(_) | Self::Invalid { .. } => "invalid_evidence",
            Self::UnknownFormat { .. } => "unknown_evidence_format",
            Self::TooLarge { .. } => "evidence_too_large",
            Self::Work(_) => "internal",
        }
    }
}

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
/// `limits` (`TooLarge`, naming the document and the limit). CPU-bound: call it through
/// `work::blocking`.
pub fn parse(
    documents: Vec<EvidenceDocument>,
    limits: &Limits,
) -> Result<EvidenceItems, EvidenceError> {
    if documents.len() > MAX_EVIDENCE {
        return Err(EvidenceError::TooMany);
    }
    // Postgres cannot store U+0000 in text or jsonb: refuse it here rather than fail later.
    if let Some(i) = documents.iter().position(|e| has_nul(&e.document)) {
        return Err(EvidenceError::Nul(i));
    }
    let mut items = EvidenceItems::default();
    let mut tally = Tally::default();
    for (i, e) in documents.iter().enumerate() {
        let parsed = portcullis_evidence::parse_report(&e.format, &e.document).map_err(
            |source| match source {
                portcullis_evidence::Error::UnknownFormat(_) => {
                    EvidenceError::UnknownFormat { index: i, source }
                }
                source => EvidenceError::Invalid { index: i, source },
            },
        )?;
        tally = tally.plus(Tally::of(&parsed));
        if let Some(exceeded) = tally.exceeded(limits) {
            return Err(EvidenceError::TooLarge {
                context: format!("evidence[{i}]"),
                exceeded,
            });
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
