//! CI-supplied evidence documents: checked, parsed, counted against `limits.*` and built
//! into their part of the policy input on the blocking pool (a 16 MiB body of findings is
//! real CPU work), before anything is resolved, evaluated or written. A document seen before
//! comes from the input cache (`input_cache.rs`) instead.

use std::sync::Arc;

use portcullis_core::EvidenceFormat;
use portcullis_evidence::{Budget, Limits, Tally};
use portcullis_policy::DocumentPart;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::services::input_cache::{DocumentKey, InputCache, ParsedDocument};
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
        /// Why the format name did not parse.
        source: portcullis_core::Error,
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
    /// The policy input could not be written as JSON.
    #[error("writing the policy input: {0}")]
    Input(#[from] serde_json::Error),
}

impl EvidenceError {
    /// The stable machine code the API answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooMany | Self::Nul(_) | Self::Invalid { .. } => "invalid_evidence",
            Self::UnknownFormat { .. } => "unknown_evidence_format",
            Self::TooLarge { .. } => "evidence_too_large",
            Self::Work(_) | Self::Input(_) => "internal",
        }
    }
}

/// One CI-supplied evidence document. The document is kept as its JSON text (checked to be
/// JSON when the body was read) and parsed once, by the parser of its format, straight into
/// typed structs. The format stays text until then, so an unknown one is refused with its
/// own code (422 `unknown_evidence_format`) rather than as a malformed body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceDocument {
    /// `trivy-json`, `grype-json`, `cyclonedx-json`, `spdx-json` or `openvex`.
    #[schema(example = "trivy-json")]
    format: String,
    /// The document itself, as the tool wrote it.
    #[schema(value_type = Object)]
    document: Box<RawValue>,
}

impl EvidenceDocument {
    /// The format name as the client sent it.
    pub fn format(&self) -> &str {
        &self.format
    }

    /// The document's length in bytes, as sent.
    pub fn byte_len(&self) -> usize {
        self.document.get().len()
    }
}

/// Parses `documents` and builds each one's part of the policy input, refusing the first one
/// that is malformed, holds U+0000 or brings the running count of findings, components or
/// VEX statements past `limits` (`TooLarge`, naming the document and the limit). Documents
/// are taken from and kept in `cache`. CPU-bound: call it through `work::blocking`.
pub fn parse(
    documents: Vec<EvidenceDocument>,
    limits: &Limits,
    cache: &InputCache,
) -> Result<Vec<Arc<ParsedDocument>>, EvidenceError> {
    if documents.len() > MAX_EVIDENCE {
        return Err(EvidenceError::TooMany);
    }
    // Postgres cannot store U+0000 in text or jsonb: refuse it here rather than fail later.
    if let Some(i) = documents.iter().position(|e| has_nul(e.document.get())) {
        return Err(EvidenceError::Nul(i));
    }
    let mut parsed = Vec::with_capacity(documents.len());
    let mut tally = Tally::default();
    for (i, e) in documents.iter().enumerate() {
        let format: EvidenceFormat = e
            .format
            .parse()
            .map_err(|source| EvidenceError::UnknownFormat { index: i, source })?;
        let budget = Budget {
            limits: *limits,
            used: tally,
        };
        let key = cache
            .enabled()
            .then(|| DocumentKey::new(e.document.get(), format, budget));
        let document = match key.and_then(|k| cache.get(&k)) {
            Some(hit) => hit,
            None => {
                let document = Arc::new(parse_one(i, format, e.document.get(), &budget)?);
                if let Some(k) = key {
                    cache.insert(k, Arc::clone(&document));
                }
                document
            }
        };
        tally = tally.plus(document.tally);
        parsed.push(document);
    }
    Ok(parsed)
}

/// Parses document `i` within `budget`, counts it and builds its part.
fn parse_one(
    i: usize,
    format: EvidenceFormat,
    text: &str,
    budget: &Budget,
) -> Result<ParsedDocument, EvidenceError> {
    let parsed =
        portcullis_evidence::parse_report_within(format, text, budget).map_err(|source| {
            match source {
                portcullis_evidence::Error::TooLarge(exceeded) => EvidenceError::TooLarge {
                    context: format!("evidence[{i}]"),
                    exceeded,
                },
                source => EvidenceError::Invalid { index: i, source },
            }
        })?;
    // What the parser could not count before building the items (Grype's duplicate
    // matches, VEX index pairs) is counted here.
    let tally = Tally::of(&parsed);
    if let Some(exceeded) = budget.used.plus(tally).exceeded(&budget.limits) {
        return Err(EvidenceError::TooLarge {
            context: format!("evidence[{i}]"),
            exceeded,
        });
    }
    Ok(ParsedDocument {
        part: DocumentPart::build(parsed)?,
        tally,
    })
}

/// Whether the JSON text `json` holds U+0000. Valid JSON can only carry it escaped, as
/// `\u0000` inside a string or key (a raw control character does not parse), and a
/// backslash outside a string is not JSON either, so escapes are all that is looked at.
pub fn has_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    // Almost every document has no `\u0000` text at all: one vectorised search says so.
    let Some(first) = memchr::memmem::find(bytes, b"\\u0000") else {
        return false;
    };
    // Otherwise walk the escapes, from the one before the first candidate's line of
    // backslashes, so `\\u0000` (a backslash, then text) is not a NUL.
    let mut i = bytes
        .get(..first)
        .and_then(|head| head.iter().rposition(|&b| b != b'\\'))
        .map_or(0, |p| p + 1);
    while let Some(offset) = bytes.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let escape = i + offset;
        if bytes.get(escape + 1..escape + 6) == Some(b"u0000".as_slice()) {
            return true;
        }
        // Skip the escaped character.
        i = escape + 2;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    #[test]
    fn only_an_escaped_nul_counts() {
        assert!(has_nul(r#"{"a": "x\u0000y"}"#));
        assert!(has_nul(r#"{"k\u0000": 1}"#));
        assert!(has_nul(r#"["\\\u0000"]"#));
        assert!(!has_nul(r#"{"a": "x\\u0000y"}"#));
        assert!(!has_nul(r#"{"a": "\u0001"}"#));
        assert!(!has_nul(r#"{"a": "u0000"}"#));
        assert!(!has_nul(r#"["\"\\u0000"]"#));
        assert!(has_nul(r#"["\\u0000\u0000"]"#));
        assert!(has_nul(r#"["\n\\\u0000"]"#));
    }
}
