//! The input document assembled from built parts (`part.rs`): the engine's value and the
//! JSON text, equal to building [`Input`](super::Input) over all the parts' items in order
//! and calling `to_value` and `to_json`, at the cost of copying the parts' texts and
//! reference-counted values, and of building what depends on more than one document (the
//! indexes and the findings a VEX statement suppresses).

use std::collections::BTreeMap;

use portcullis_core::{
    AttestationEvidence, Digest, ImageRef, SignatureEvidence, VexStatement, Vulnerability,
};
use regorus::Value;

use super::part::{DocumentPart, Section};
use super::value::{self, Shared, object, positions, string};
use super::{
    Artifact, Attestations, Finding, RequestInfo, SEVERITIES, Signatures, WaiverEntry,
    severity_name,
};

/// What the input says besides the evidence items.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The image, pinned to `digest`.
    pub source: &'a ImageRef,
    /// Its digest.
    pub digest: &'a Digest,
    /// Its verified signatures.
    pub signatures: &'a SignatureEvidence,
    /// Its attestations.
    pub attestations: &'a AttestationEvidence,
    /// The request.
    pub request: &'a RequestInfo,
    /// The active, unexpired waivers whose scope covers the image.
    pub waivers: &'a [WaiverEntry],
}

/// An assembled input document.
#[derive(Debug)]
pub struct Assembled {
    /// The engine's value.
    pub value: Value,
    /// The canonical JSON text (keys in order, no spaces).
    pub json: Vec<u8>,
}

impl Assembled {
    /// SHA-256 of `json`: the decision's `input_hash`. Not computed unless asked for: a dry
    /// run answers the text and records nothing, and hashing is a tenth of its CPU.
    pub fn hash(&self) -> Digest {
        Digest::sha256_of(&self.json)
    }
}

/// A finding built anew because a statement suppresses it: its index in its part, value
/// and text.
type Replacement = (usize, Value, Vec<u8>);

/// Assembles the input over `parts`, in order. `governing` names the VEX statement that
/// governs a finding, if any; only a suppressing one is recorded.
pub fn assemble<'v>(
    head: &Head<'_>,
    parts: &[&DocumentPart],
    governing: impl Fn(&Vulnerability) -> Option<&'v VexStatement>,
) -> serde_json::Result<Assembled> {
    let mut shared = Shared::default();
    let mut suppressed_index = Vec::new();
    let mut vulnerability_index: BTreeMap<&'static str, Vec<usize>> = SEVERITIES
        .iter()
        .map(|s| (severity_name(*s), Vec::new()))
        .collect();
    let mut replaced: Vec<Vec<Replacement>> = Vec::with_capacity(parts.len());
    let mut position = 0;
    for part in parts {
        let mut own = Vec::new();
        let mut local = 0;
        for report in &part.items.vulnerability_reports {
            for v in &report.vulnerabilities {
                if let Some(s) = governing(v).filter(|s| s.status.suppresses()) {
                    suppressed_index.push(position);
                    let f = Finding::of(v, report, Some(s));
                    own.push((local, shared.finding(&f), serde_json::to_vec(&f)?));
                }
                if let Some(list) = vulnerability_index.get_mut(severity_name(v.severity)) {
                    list.push(position);
                }
                position += 1;
                local += 1;
            }
        }
        replaced.push(own);
    }
    let mut licence_index: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let components = parts
        .iter()
        .flat_map(|p| &p.items.sboms)
        .flat_map(|s| &s.components);
    for (position, c) in components.enumerate() {
        for term in c.licence.iter().flat_map(|l| &l.terms) {
            licence_index.entry(term).or_default().push(position);
        }
    }

    let artifact = Artifact::of(head.source, head.digest);
    let attestations = Attestations::of(head.attestations);
    let signatures = Signatures::of(head.signatures);
    let section =
        |pick: fn(&DocumentPart) -> &Section| parts.iter().map(|p| pick(p)).collect::<Vec<_>>();
    let none = vec![Vec::new(); parts.len()];
    let capacity = parts.iter().map(|p| p.estimated_bytes()).sum::<usize>() / 4 + 4096;
    let mut json = Vec::with_capacity(capacity);
    json.extend_from_slice(b"{\"artifact\":");
    serde_json::to_writer(&mut json, &artifact)?;
    json.extend_from_slice(b",\"attestations\":");
    serde_json::to_writer(&mut json, &attestations)?;
    json.extend_from_slice(b",\"components\":");
    let components = join(&section(|p| &p.components), &none, &mut json);
    json.extend_from_slice(b",\"licence_index\":");
    serde_json::to_writer(&mut json, &licence_index)?;
    json.extend_from_slice(b",\"provenance\":");
    let provenance = join(&section(|p| &p.provenance), &none, &mut json);
    json.extend_from_slice(b",\"request\":");
    serde_json::to_writer(&mut json, head.request)?;
    json.extend_from_slice(b",\"sboms\":");
    let sboms = join(&section(|p| &p.sboms), &none, &mut json);
    json.extend_from_slice(b",\"signatures\":");
    serde_json::to_writer(&mut json, &signatures)?;
    json.extend_from_slice(b",\"suppressed_index\":");
    serde_json::to_writer(&mut json, &suppressed_index)?;
    json.extend_from_slice(b",\"vex\":");
    let vex = join(&section(|p| &p.vex), &none, &mut json);
    json.extend_from_slice(b",\"vulnerabilities\":");
    let vulnerabilities = join(&section(|p| &p.findings), &replaced, &mut json);
    json.extend_from_slice(b",\"vulnerability_index\":");
    serde_json::to_writer(&mut json, &vulnerability_index)?;
    json.extend_from_slice(b",\"vulnerability_reports\":");
    let reports = join(&section(|p| &p.reports), &none, &mut json);
    json.extend_from_slice(b",\"waivers\":");
    serde_json::to_writer(&mut json, head.waivers)?;
    json.push(b'}');

    let value = object([
        ("artifact", value::artifact(&artifact)),
        ("attestations", value::attestations(&attestations)),
        ("components", components),
        ("licence_index", index(&licence_index)),
        ("provenance", provenance),
        ("request", value::request(head.request)),
        ("sboms", sboms),
        ("signatures", value::signatures(&signatures)),
        ("suppressed_index", positions(&suppressed_index)),
        ("vex", vex),
        ("vulnerabilities", vulnerabilities),
        ("vulnerability_index", index(&vulnerability_index)),
        ("vulnerability_reports", reports),
        ("waivers", value::waivers(head.waivers)),
    ]);
    Ok(Assembled { value, json })
}

fn index(map: &BTreeMap<&str, Vec<usize>>) -> Value {
    Value::from(
        map.iter()
            .map(|(k, p)| (string(k), positions(p)))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Writes the array of `sections`' entries (with `replaced` ones swapped in) to `json` and
/// returns its value. A section alone with nothing replaced is shared whole.
fn join(sections: &[&Section], replaced: &[Vec<Replacement>], json: &mut Vec<u8>) -> Value {
    let unchanged = |i: usize| replaced.get(i).is_none_or(Vec::is_empty);
    let filled: Vec<usize> = (0..sections.len())
        .filter(|&i| sections.get(i).is_some_and(|s| !s.is_empty()))
        .collect();
    json.push(b'[');
    let mut first = true;
    for &i in &filled {
        let Some(section) = sections.get(i) else {
            continue;
        };
        if unchanged(i) {
            if !first {
                json.push(b',');
            }
            json.extend_from_slice(&section.json);
            first = false;
            continue;
        }
        // Replacements come in entry order.
        let mut swaps = replaced
            .get(i)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .peekable();
        for entry in 0..section.values().len() {
            if !first {
                json.push(b',');
            }
            match swaps.next_if(|(at, _, _)| *at == entry) {
                Some((_, _, text)) => json.extend_from_slice(text),
                None => json.extend_from_slice(section.text(entry)),
            }
            first = false;
        }
    }
    json.push(b']');

    if let [only] = filled[..]
        && unchanged(only)
        && let Some(section) = sections.get(only)
    {
        return section.values.clone();
    }
    let total = filled
        .iter()
        .filter_map(|&i| sections.get(i))
        .map(|s| s.values().len())
        .sum();
    let mut values = Vec::with_capacity(total);
    for &i in &filled {
        let Some(section) = sections.get(i) else {
            continue;
        };
        let start = values.len();
        values.extend_from_slice(section.values());
        for (at, value, _) in replaced.get(i).map_or(&[][..], Vec::as_slice) {
            if let Some(slot) = values.get_mut(start + at) {
                *slot = value.clone();
            }
        }
    }
    Value::from(values)
}
