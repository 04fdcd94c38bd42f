//! One evidence document's part of the input: every entry it contributes to the item
//! sections (`vulnerability_reports`, `vulnerabilities`, `sboms`, `components`, `vex`,
//! `provenance`), built once into the engine's values and written once as JSON text, so a
//! document seen again (the server caches parts by the document's hash) costs neither again.
//!
//! A part depends only on the document: the digest it is evaluated for, the request and the
//! other documents come in when parts are assembled (`assemble.rs`). The one entry that
//! depends on other documents, a finding's `suppressed_by`, is built here as `null` and
//! rebuilt at assembly for the findings a VEX statement suppresses.

use portcullis_core::EvidenceItems;
use regorus::Value;
use serde::Serialize;

use super::value::{self, Shared};
use super::{ComponentEntry, Counts, Finding, ProvenanceEntry, ReportEntry, SbomEntry, VexEntry};

/// Entries of one section: their values (one array value, shared whole when a single part
/// fills the section) and their JSON texts joined by commas.
#[derive(Debug)]
pub(super) struct Section {
    /// `Value::Array` of the entries.
    pub(super) values: Value,
    /// The entries' JSON texts, comma-separated (an array's text without its brackets).
    pub(super) json: Vec<u8>,
    /// Where each entry's text ends in `json`.
    pub(super) ends: Vec<usize>,
}

impl Section {
    fn build<T: Serialize>(
        entries: impl IntoIterator<Item = (Value, T)>,
    ) -> serde_json::Result<Self> {
        let mut values = Vec::new();
        let mut json = Vec::new();
        let mut ends = Vec::new();
        for (v, entry) in entries {
            if !values.is_empty() {
                json.push(b',');
            }
            serde_json::to_writer(&mut json, &entry)?;
            ends.push(json.len());
            values.push(v);
        }
        Ok(Self {
            values: Value::from(values),
            json,
            ends,
        })
    }

    /// The entries' values.
    pub(super) fn values(&self) -> &[Value] {
        self.values.as_array().map_or(&[], |a| a.as_slice())
    }

    /// Entry `i`'s JSON text.
    pub(super) fn text(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(before) => self.ends.get(before).map_or(0, |e| e + 1),
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.json.get(start..end).unwrap_or_default()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn bytes(&self) -> usize {
        self.json.len()
    }
}

/// One document's part of the policy input, built once (see the module header).
#[derive(Debug)]
pub struct DocumentPart {
    /// The document's evidence items (VEX matching and counting need them).
    pub(super) items: EvidenceItems,
    pub(super) reports: Section,
    /// Findings with `suppressed_by: null`.
    pub(super) findings: Section,
    pub(super) sboms: Section,
    pub(super) components: Section,
    pub(super) vex: Section,
    pub(super) provenance: Section,
}

impl DocumentPart {
    /// Builds the part of `items` (one document's, or the verified attestations').
    pub fn build(items: EvidenceItems) -> serde_json::Result<Self> {
        let mut shared = Shared::default();
        let i = &items;
        let reports = Section::build(i.vulnerability_reports.iter().map(|r| {
            let entry = ReportEntry::of(r, Counts::of(r));
            (value::report(&entry), entry)
        }))?;
        let findings = Section::build(
            i.vulnerability_reports
                .iter()
                .flat_map(|r| {
                    r.vulnerabilities
                        .iter()
                        .map(move |v| Finding::of(v, r, None))
                })
                .map(|f| (shared.finding(&f), f)),
        )?;
        let sboms = Section::build(i.sboms.iter().map(|s| {
            let entry = SbomEntry::of(s);
            (value::sbom(&entry), entry)
        }))?;
        let components = Section::build(
            i.sboms
                .iter()
                .flat_map(|s| s.components.iter().map(move |c| ComponentEntry::of(c, s)))
                .map(|c| (shared.component(&c), c)),
        )?;
        let vex = Section::build(i.vex.iter().map(|s| {
            let entry = VexEntry::of(s);
            (value::vex(&entry), entry)
        }))?;
        let provenance = Section::build(i.provenance.iter().map(|p| {
            let entry = ProvenanceEntry::of(p);
            (value::provenance(&entry), entry)
        }))?;
        drop(shared);
        Ok(Self {
            items,
            reports,
            findings,
            sboms,
            components,
            vex,
            provenance,
        })
    }

    /// The evidence items the part was built from.
    pub fn items(&self) -> &EvidenceItems {
        &self.items
    }

    /// An estimate of the memory the part holds, for bounding a cache of parts: its JSON
    /// text, plus the engine values and the evidence items, each of which takes a few times
    /// the text (a string value is a reference-counted allocation, an object a B-tree of
    /// shared keys).
    pub fn estimated_bytes(&self) -> usize {
        let text = [
            &self.reports,
            &self.findings,
            &self.sboms,
            &self.components,
            &self.vex,
            &self.provenance,
        ]
        .iter()
        .map(|s| s.bytes())
        .sum::<usize>();
        text.saturating_mul(BYTES_PER_TEXT_BYTE)
            .saturating_add(std::mem::size_of::<Self>())
    }
}

/// Memory per byte of a part's JSON text, an estimate (not measured): 1 for the text, about
/// 2 for the engine values (strings shared within the part, keys shared by all) and about 2
/// for the evidence items (owned strings and their vectors).
const BYTES_PER_TEXT_BYTE: usize = 5;
