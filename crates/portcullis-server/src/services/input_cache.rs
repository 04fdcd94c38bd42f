//! The per-document input cache (`evidence.input_cache_max_bytes`): each CI-supplied
//! document's part of the policy input (its parsed items, their engine values and JSON
//! text), built once and kept by the SHA-256 of the document's exact text, in a
//! least-recently-used cache bounded by the parts' estimated size.
//!
//! The key is everything the result depends on: the text's hash, the format it is parsed
//! as, and the budget it was checked against (the configured limits and what the documents
//! before it in the request brought), so a hit answers exactly what parsing again would. Only
//! documents that parsed and fit are kept; a refused one is refused again by parsing it. The
//! digest a document is bound to is not in the key because nothing in a part depends on it:
//! the policy compares the part's `subject_digests` with the artifact's digest on every
//! evaluation, and VEX statements are matched against it when parts are assembled.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_core::EvidenceFormat;
use portcullis_evidence::{Budget, Tally};
use portcullis_policy::DocumentPart;
use sha2::{Digest as _, Sha256};

/// One document, parsed, counted and built.
#[derive(Debug)]
pub struct ParsedDocument {
    /// Its part of the policy input.
    pub part: DocumentPart,
    /// What it counts against `limits.*`.
    pub tally: Tally,
}

/// What a cached document is found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentKey {
    sha256: [u8; 32],
    format: EvidenceFormat,
    budget: Budget,
}

impl DocumentKey {
    /// The key of `text` parsed as `format` within `budget`.
    pub fn new(text: &str, format: EvidenceFormat, budget: Budget) -> Self {
        Self {
            sha256: Sha256::digest(text.as_bytes()).into(),
            format,
            budget,
        }
    }
}

/// The cache; `max_bytes` 0 disables it.
#[derive(Debug)]
pub struct InputCache {
    max_bytes: usize,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<DocumentKey, Entry>,
    /// Last use → key; the first is the least recently used.
    order: BTreeMap<u64, DocumentKey>,
    clock: u64,
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    document: Arc<ParsedDocument>,
    bytes: usize,
    used: u64,
}

impl InputCache {
    /// A cache holding parts of at most `max_bytes` (estimated) in all.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// Whether documents are cached at all (when not, there is no need to hash them).
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The document under `key`, marked as just used.
    pub fn get(&self, key: &DocumentKey) -> Option<Arc<ParsedDocument>> {
        let mut lru = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = lru.tick();
        let entry = lru.entries.get_mut(key)?;
        let before = std::mem::replace(&mut entry.used, now);
        let document = Arc::clone(&entry.document);
        lru.order.remove(&before);
        lru.order.insert(now, *key);
        Some(document)
    }

    /// Keeps `document` under `key`, evicting the least recently used parts past the bound.
    /// A part larger than the whole bound is not kept.
    pub fn insert(&self, key: DocumentKey, document: Arc<ParsedDocument>) {
        let bytes = document.part.estimated_bytes();
        if bytes > self.max_bytes {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let used = lru.tick();
        if let Some(old) = lru.entries.insert(
            key,
            Entry {
                document,
                bytes,
                used,
            },
        ) {
            lru.order.remove(&old.used);
            lru.bytes -= old.bytes;
        }
        lru.order.insert(used, key);
        lru.bytes += bytes;
        while lru.bytes > self.max_bytes {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(gone) = lru.entries.remove(&oldest) {
                lru.bytes -= gone.bytes;
            }
        }
    }

    /// Estimated bytes held and the number of documents.
    pub fn usage(&self) -> (usize, usize) {
        let lru = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (lru.bytes, lru.entries.len())
    }
}

impl Lru {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests;
