//! The input assembled from per-document parts (what the server caches by document hash)
//! is the same document as the typed input built over all the items at once: the same
//! engine value, the same JSON text, the same hash, whichever way the items are split.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use portcullis_core::{EvidenceItems, VexStatement, Vulnerability};
use portcullis_policy::bench::{Synthetic, synthetic, synthetic_rich};
use portcullis_policy::{DocumentPart, Head, assemble};

/// Every report and every SBOM in a part of its own, then the VEX statements, then the
/// provenance: the order the items had.
fn split(items: &EvidenceItems) -> Vec<EvidenceItems> {
    let mut parts = Vec::new();
    for r in &items.vulnerability_reports {
        parts.push(EvidenceItems {
            vulnerability_reports: vec![r.clone()],
            ..EvidenceItems::default()
        });
    }
    for s in &items.sboms {
        parts.push(EvidenceItems {
            sboms: vec![s.clone()],
            ..EvidenceItems::default()
        });
    }
    parts.push(EvidenceItems {
        vex: items.vex.clone(),
        provenance: items.provenance.clone(),
        ..EvidenceItems::default()
    });
    parts
}

fn check(case: &Synthetic, parts: Vec<EvidenceItems>) {
    let by_id: HashMap<&str, &VexStatement> = case
        .evidence
        .items
        .vex
        .iter()
        .map(|s| (s.vulnerability.as_str(), s))
        .collect();
    let governing = |v: &Vulnerability| by_id.get(v.id.as_str()).copied();
    let built: Vec<DocumentPart> = parts
        .into_iter()
        .map(|p| DocumentPart::build(p).unwrap())
        .collect();
    let head = Head {
        source: &case.source,
        digest: &case.digest,
        signatures: &case.evidence.signatures,
        attestations: &case.evidence.attestations,
        request: &case.request,
        waivers: &[],
    };
    let refs: Vec<&DocumentPart> = built.iter().collect();
    let assembled = assemble(&head, &refs, governing).unwrap();
    let input = case.input();
    let (text, hash) = input.to_json().unwrap();
    assert_eq!(
        String::from_utf8(assembled.json.clone()).unwrap(),
        String::from_utf8(text).unwrap()
    );
    assert_eq!(assembled.hash(), hash);
    assert_eq!(assembled.value, input.to_value());
}

#[test]
fn parts_assemble_into_the_same_input_however_the_items_are_split() {
    for case in [
        synthetic_rich().unwrap(),
        synthetic(500, 300).unwrap(),
        synthetic(0, 0).unwrap(),
    ] {
        check(&case, vec![case.evidence.items.clone()]);
        check(&case, split(&case.evidence.items));
        // Empty documents in between change nothing.
        let mut padded = split(&case.evidence.items);
        padded.insert(1, EvidenceItems::default());
        padded.push(EvidenceItems::default());
        check(&case, padded);
    }
}

#[test]
fn a_part_is_reused_as_built_and_suppressions_are_applied_at_assembly() {
    let case = synthetic_rich().unwrap();
    let part = DocumentPart::build(case.evidence.items.clone()).unwrap();
    let head = Head {
        source: &case.source,
        digest: &case.digest,
        signatures: &case.evidence.signatures,
        attestations: &case.evidence.attestations,
        request: &case.request,
        waivers: &[],
    };
    let statement = &case.evidence.items.vex[1];
    let suppressing = |v: &Vulnerability| (v.id == statement.vulnerability).then_some(statement);
    let with = assemble(&head, &[&part], suppressing).unwrap();
    let without = assemble(&head, &[&part], |_| None).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&with.json).unwrap();
    let suppressed = doc["suppressed_index"].as_array().unwrap();
    assert_eq!(suppressed.len(), 1);
    let at = suppressed[0].as_u64().unwrap() as usize;
    assert_eq!(
        doc["vulnerabilities"][at]["id"].as_str().unwrap(),
        statement.vulnerability
    );
    assert_eq!(
        doc["vulnerabilities"][at]["suppressed_by"]["status"],
        "not_affected"
    );
    // The part itself is unchanged: assembling without the statement suppresses nothing.
    let plain: serde_json::Value = serde_json::from_slice(&without.json).unwrap();
    assert_eq!(plain["suppressed_index"], serde_json::json!([]));
    assert!(plain["vulnerabilities"][at]["suppressed_by"].is_null());
    assert_ne!(with.hash(), without.hash());
}

#[test]
fn waivers_are_the_last_key_and_the_same_in_text_and_value() {
    use portcullis_core::{WaiverKind, WaiverScope};
    use portcullis_policy::WaiverEntry;
    let case = synthetic_rich().unwrap();
    let part = DocumentPart::build(case.evidence.items.clone()).unwrap();
    let waivers = [
        WaiverEntry {
            expires_at: "2030-01-01T00:00:00Z".into(),
            id: "6f2d3c1e-0000-4000-8000-000000000001".into(),
            kind: WaiverKind::Vulnerability,
            matched: "CVE-2024-0001".into(),
            scope: WaiverScope::Digest(case.digest.clone()),
        },
        WaiverEntry {
            expires_at: "2030-01-02T00:00:00Z".into(),
            id: "6f2d3c1e-0000-4000-8000-000000000002".into(),
            kind: WaiverKind::Licence,
            matched: "GPL-3.0-only".into(),
            scope: WaiverScope::RepositoryPrefix("team".parse().unwrap()),
        },
    ];
    let head = Head {
        source: &case.source,
        digest: &case.digest,
        signatures: &case.evidence.signatures,
        attestations: &case.evidence.attestations,
        request: &case.request,
        waivers: &waivers,
    };
    let assembled = assemble(&head, &[&part], |_| None).unwrap();
    let text = String::from_utf8(assembled.json.clone()).unwrap();
    assert!(
        text.ends_with(&format!(
            ",\"waivers\":[{{\"expires_at\":\"2030-01-01T00:00:00Z\",\"id\":\"6f2d3c1e-0000-4000-8000-000000000001\",\"kind\":\"vulnerability\",\"match\":\"CVE-2024-0001\",\"scope\":{{\"digest\":\"{}\"}}}},{{\"expires_at\":\"2030-01-02T00:00:00Z\",\"id\":\"6f2d3c1e-0000-4000-8000-000000000002\",\"kind\":\"licence\",\"match\":\"GPL-3.0-only\",\"scope\":{{\"repository_prefix\":\"team\"}}}}]}}",
            case.digest
        )),
        "{}",
        &text[text.len().saturating_sub(400)..]
    );
    assert_eq!(
        assembled.value,
        regorus::Value::from_json_str(&text).unwrap()
    );
    // The typed input (VEX-matched, unlike the assembly above) carries the same waivers.
    let typed = case.input().with_waivers(&waivers);
    let typed_text = String::from_utf8(typed.to_json().unwrap().0).unwrap();
    let tail = &text[text.find(",\"waivers\":").unwrap()..];
    assert!(typed_text.ends_with(tail), "{typed_text}");
    let key = regorus::Value::from("waivers");
    assert_eq!(typed.to_value()[&key], assembled.value[&key]);
}
