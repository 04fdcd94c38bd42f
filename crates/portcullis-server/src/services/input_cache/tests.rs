//! The input cache answers exactly what parsing again would, stays within its bound, and
//! never lets a cached document escape the checks that depend on the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::{
    AttestationEvidence, Decision, Digest, ImageRef, SignatureEvidence, SignatureStatus,
};
use portcullis_evidence::Limits;
use portcullis_policy::{Head, PolicyBundle, RequestInfo};
use serde_json::json;

use super::{InputCache, ParsedDocument};
use crate::services::documents::{self, EvidenceDocument, EvidenceError};
use crate::services::evidence::decide;

const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const REPO: &str = "127.0.0.1:5001/team/app";
const SEVERITIES: [&str; 2] = ["LOW", "MEDIUM"];
const LICENCES: [&str; 2] = ["MIT", "Apache-2.0"];

/// A Trivy report of `findings` findings bound to `digest`, and a CycloneDX SBOM of
/// `components` components, as a request's `evidence` array.
fn evidence(digest: &str, findings: usize, components: usize) -> serde_json::Value {
    let vulns: Vec<_> = (0..findings)
        .map(|i| {
            json!({"VulnerabilityID": format!("CVE-2024-{:04}", 1000 + i), "PkgName": format!("lib{i}"),
                   "PkgIdentifier": {"PURL": format!("pkg:deb/debian/lib{i}@1.{i}")},
                   "InstalledVersion": format!("1.{i}"),
                   "Severity": if i % 10 == 9 { "HIGH" } else { SEVERITIES[i % 2] }})
        })
        .collect();
    let comps: Vec<_> = (0..components)
        .map(|i| {
            json!({"name": format!("c{i}"), "version": "1.0", "purl": format!("pkg:cargo/c{i}@1.0"),
                        "licenses": [{"license": {"id": LICENCES[i % 2]}}]})
        })
        .collect();
    json!([
        {"format": "trivy-json", "document": {
            "SchemaVersion": 2, "ArtifactName": format!("{REPO}@{digest}"),
            "Metadata": {"RepoDigests": [format!("{REPO}@{digest}")]},
            "Results": [{"Target": "app", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}]}},
        {"format": "cyclonedx-json", "document": {
            "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}}
    ])
}

fn documents(evidence: &serde_json::Value) -> Vec<EvidenceDocument> {
    serde_json::from_value(evidence.clone()).unwrap()
}

fn parse(
    evidence: &serde_json::Value,
    limits: &Limits,
    cache: &InputCache,
) -> Result<Vec<Arc<ParsedDocument>>, EvidenceError> {
    documents::parse(documents(evidence), limits, cache)
}

/// The input's JSON text, its hash and the decision for `docs` evaluated for `digest`.
fn decide_for(digest: &str, docs: &[Arc<ParsedDocument>]) -> (Vec<u8>, Digest, Decision) {
    let policy = PolicyBundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies"),
    )
    .unwrap();
    let digest: Digest = digest.parse().unwrap();
    let source: ImageRef = format!("{REPO}@{digest}").parse().unwrap();
    let signatures = SignatureEvidence {
        status: SignatureStatus::Verified,
        verified_key_ids: vec!["ci".to_owned()],
        signatures_found: 1,
        error: None,
        signers: Vec::new(),
        items: Vec::new(),
    };
    let request = RequestInfo {
        destination: "127.0.0.1:5002/team/app".to_owned(),
        dry_run: true,
        kind: portcullis_core::PromotionKind::Promotion,
        requested_by: "ci".to_owned(),
        route: "staging-to-prod".to_owned(),
        tag: None,
    };
    let head = Head {
        source: &source,
        digest: &digest,
        signatures: &signatures,
        attestations: &AttestationEvidence::default(),
        request: &request,
        waivers: &[],
    };
    let (assembled, decision) = decide(&policy, &head, &Default::default(), docs, 0).unwrap();
    (assembled.json.clone(), assembled.hash(), decision)
}

fn rules(d: &Decision) -> Vec<&str> {
    d.violations.iter().map(|v| v.rule.as_str()).collect()
}

#[test]
fn a_hit_gives_exactly_the_input_and_decision_of_a_miss() {
    let body = evidence(A, 40, 30);
    let limits = Limits::default();
    let cache = InputCache::new(64 << 20);
    let miss = parse(&body, &limits, &cache).unwrap();
    let hit = parse(&body, &limits, &cache).unwrap();
    assert_eq!(hit.len(), 2);
    for (m, h) in miss.iter().zip(&hit) {
        assert!(
            Arc::ptr_eq(m, h),
            "the second parse must come from the cache"
        );
    }
    assert_eq!(cache.usage().1, 2);
    let uncached = parse(&body, &limits, &InputCache::new(0)).unwrap();
    let from_miss = decide_for(A, &miss);
    assert_eq!(from_miss, decide_for(A, &hit));
    assert_eq!(from_miss, decide_for(A, &uncached));
    assert!(from_miss.2.allow, "{:?}", from_miss.2.violations);
    // The same text parsed as another format is another entry (and here another error).
    let mut other = body.clone();
    other[1]["format"] = json!("spdx-json");
    assert!(matches!(
        parse(&other, &limits, &cache),
        Err(EvidenceError::Invalid { index: 1, .. })
    ));
}

#[test]
fn a_cached_document_bound_to_another_digest_is_still_refused() {
    let body = evidence(A, 5, 3);
    let cache = InputCache::new(64 << 20);
    let first = parse(&body, &Limits::default(), &cache).unwrap();
    let (_, _, for_a) = decide_for(A, &first);
    assert!(for_a.allow, "{:?}", for_a.violations);
    let again = parse(&body, &Limits::default(), &cache).unwrap();
    assert!(Arc::ptr_eq(&first[0], &again[0]));
    let (text, _, for_b) = decide_for(B, &again);
    assert!(!for_b.allow);
    assert_eq!(rules(&for_b), ["vulnerability.report_mismatch"]);
    let input: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(input["artifact"]["digest"], B);
    assert_eq!(
        input["vulnerability_reports"][0]["subject_digests"],
        json!([A])
    );
}

#[test]
fn a_document_past_the_limits_is_refused_on_every_request_even_when_cached_within_them() {
    let body = evidence(A, 5, 3);
    let cache = InputCache::new(64 << 20);
    parse(&body, &Limits::default(), &cache).unwrap();
    let tight = Limits {
        max_findings: 4,
        ..Limits::default()
    };
    for _ in 0..2 {
        match parse(&body, &tight, &cache) {
            Err(EvidenceError::TooLarge { context, exceeded }) => {
                assert_eq!(context, "evidence[0]");
                assert_eq!(
                    exceeded.to_string(),
                    "5 findings exceed limits.max_findings = 4"
                );
            }
            other => panic!("expected evidence_too_large, got {other:?}"),
        }
    }
    // Components are counted after the report's findings: the SBOM's budget differs.
    let components = Limits {
        max_components: 2,
        ..Limits::default()
    };
    assert!(matches!(
        parse(&body, &components, &cache),
        Err(EvidenceError::TooLarge { context, .. }) if context == "evidence[1]"
    ));
}

#[test]
fn the_bound_is_respected_least_recently_used_out_first() {
    let limits = Limits::default();
    // Reports alone: one cache entry per body.
    let bodies: Vec<_> = (0..3)
        .map(|i| json!([evidence(A, 20 + i, 0)[0].clone()]))
        .collect();
    let size = {
        let probe = InputCache::new(usize::MAX);
        parse(&bodies[0], &limits, &probe).unwrap();
        probe.usage().0
    };
    // Room for two of these reports (each a little larger than the first), not three.
    let bound = size * 2 + size / 2;
    let cache = InputCache::new(bound);
    let first = parse(&bodies[0], &limits, &cache).unwrap();
    let second = parse(&bodies[1], &limits, &cache).unwrap();
    // Using the first makes the second the least recently used.
    assert!(Arc::ptr_eq(
        &first[0],
        &parse(&bodies[0], &limits, &cache).unwrap()[0]
    ));
    parse(&bodies[2], &limits, &cache).unwrap();
    let (bytes, count) = cache.usage();
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert_eq!(count, 2);
    assert!(Arc::ptr_eq(
        &first[0],
        &parse(&bodies[0], &limits, &cache).unwrap()[0]
    ));
    // The second was evicted: parsing it again builds a new part.
    let again = parse(&bodies[1], &limits, &cache).unwrap();
    assert!(!Arc::ptr_eq(&second[0], &again[0]));
    assert_eq!(again[0].part.items(), second[0].part.items());
    assert!(cache.usage().0 <= bound);
    // A part larger than the whole bound is not kept at all.
    let small = InputCache::new(size / 2);
    let once = parse(&bodies[0], &limits, &small).unwrap();
    assert!(!Arc::ptr_eq(
        &once[0],
        &parse(&bodies[0], &limits, &small).unwrap()[0]
    ));
    assert_eq!(small.usage(), (0, 0));
}
