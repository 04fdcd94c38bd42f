//! Gathers the evidence about a digest and evaluates the policy over it, off the async
//! executor and behind a semaphore. Any failure to gather evidence is a deny; evidence past
//! `limits.*` is refused.
//!
//! Registry-held evidence (cosign signatures and signed attestations) is verified once per
//! (image, digest, trust configuration) and cached; CI-supplied evidence comes with each
//! request. VEX statements are matched to findings here, and the policy decides whether a
//! suppression counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::{
    AttestationEvidence, Decision, Digest, EvidenceItems, EvidenceOrigin, EvidenceSet, ImageRef,
    SignatureEvidence, SignatureStatus,
};
use portcullis_evidence::{
    AttestationVerifier, CacheOutcome, CacheStats, SignatureVerifier, Tally, VerificationCache,
    VexIndex,
};
use serde_json::{Value, json};

use crate::services::documents::EvidenceError;
use crate::services::work;
use crate::state::AppState;

/// What the registry holds about a digest, verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Cosign signatures.
    pub signatures: SignatureEvidence,
    /// Attestations.
    pub attestations: AttestationEvidence,
    /// What the verified attestations carried.
    pub items: EvidenceItems,
}

impl CacheOutcome for Verified {
    fn is_negative(&self) -> bool {
        self.signatures.status != SignatureStatus::Verified || self.attestations.error.is_some()
    }
}

/// Verifies signatures and attestations, with a single-flight TTL cache in front.
#[derive(Debug)]
pub struct EvidenceCollector {
    signatures: SignatureVerifier,
    attestations: AttestationVerifier,
    cache: VerificationCache<(String, Digest), Arc<Verified>>,
    /// Hash of the trust configuration, part of every cache key.
    trust_fingerprint: String,
}

impl EvidenceCollector {
    /// A collector over the two verifiers; `trust_fingerprint` identifies the trust
    /// configuration they were built from.
    pub fn new(
        signatures: SignatureVerifier,
        attestations: AttestationVerifier,
        trust_fingerprint: String,
        ttl: Duration,
        negative_ttl: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            signatures,
            attestations,
            cache: VerificationCache::new(ttl, negative_ttl, capacity),
            trust_fingerprint,
        }
    }

    /// The verified registry evidence of `image`'s `digest`, from the cache when fresh.
    pub async fn verified(&self, image: &ImageRef, digest: &Digest) -> Arc<Verified> {
        let key = (
            format!(
                "{}/{}#{}",
                image.registry.as_str(),
                image.repository.as_str(),
                self.trust_fingerprint
            ),
            digest.clone(),
        );
        self.cache
            .get_or_compute(key, || async {
                let (signatures, (attestations, items)) = tokio::join!(
                    self.signatures.verify(image, digest),
                    self.attestations.collect(image, digest)
                );
                Arc::new(Verified {
                    signatures,
                    attestations,
                    items,
                })
            })
            .await
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

/// What the policy was asked and what it answered.
pub struct Evaluation {
    /// The input document.
    pub input: Value,
    /// SHA-256 of the input document as JSON text, for the audit trail.
    pub input_hash: Digest,
    /// The verdict.
    pub decision: Decision,
    /// The digest of the bundle that decided.
    pub policy_digest: String,
}

fn is_signed(origin: &EvidenceOrigin) -> bool {
    matches!(origin, EvidenceOrigin::SignedAttestation { .. })
}

/// A short label for an origin: `ci:trivy-json` or `attestation:key-a,key-b`.
fn source_label(origin: &EvidenceOrigin) -> String {
    match origin {
        EvidenceOrigin::CiSupplied { format } => format!("ci:{format}"),
        EvidenceOrigin::SignedAttestation { key_ids, .. } => {
            format!("attestation:{}", key_ids.join(","))
        }
    }
}

const SEVERITIES: [&str; 6] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"];

/// Builds the policy input document (specified by `policies/input.schema.json`) from
/// verified evidence and the request. Lists the policy would otherwise scan are indexed:
/// `vulnerability_index` maps a severity to positions in `vulnerabilities`,
/// `suppressed_index` lists the positions of findings a VEX statement suppresses, and
/// `licence_index` maps a licence term to positions in `components`.
pub fn input_document(
    source: &ImageRef,
    digest: &Digest,
    evidence: &EvidenceSet,
    request: Value,
) -> Value {
    let items = &evidence.items;
    let vex_index = VexIndex::new(&items.vex, digest);
    let mut vulnerabilities = Vec::new();
    let mut suppressed_index = Vec::new();
    let mut vulnerability_index: BTreeMap<&str, Vec<usize>> =
        SEVERITIES.iter().map(|s| (*s, Vec::new())).collect();
    for report in &items.vulnerability_reports {
        for v in &report.vulnerabilities {
            let suppressed_by = vex_index
                .governing(v)
                .filter(|s| s.status.suppresses())
                .map(|s| {
                    json!({
                        "status": s.status,
                        "justification": s.justification,
                        "impact_statement": s.impact_statement,
                        "source": source_label(&s.origin),
                        "signed": is_signed(&s.origin),
                    })
                });
            if suppressed_by.is_some() {
                suppressed_index.push(vulnerabilities.len());
            }
            let severity = v.severity.to_string();
            if let Some(list) = vulnerability_index.get_mut(severity.as_str()) {
                list.push(vulnerabilities.len());
            }
            vulnerabilities.push(json!({
                "id": v.id,
                "severity": severity,
                "package": v.package,
                "installed_version": v.installed_version,
                "fixed_version": v.fixed_version,
                "title": v.title,
                "purl": v.purl,
                "aliases": v.aliases,
                "scanner": report.scanner,
                "signed": is_signed(&report.origin),
                "origin": report.origin,
                "suppressed_by": suppressed_by,
            }));
        }
    }
    let reports: Vec<Value> = items
        .vulnerability_reports
        .iter()
        .map(|r| {
            let count = |s: portcullis_core::Severity| {
                r.vulnerabilities.iter().filter(|v| v.severity == s).count()
            };
            json!({
                "scanner": r.scanner,
                "signed": is_signed(&r.origin),
                "origin": r.origin,
                "artifact_name": r.artifact_name,
                "subject_digests": r.subject_digests,
                "counts": {
                    "critical": count(portcullis_core::Severity::Critical),
                    "high": count(portcullis_core::Severity::High),
                    "medium": count(portcullis_core::Severity::Medium),
                    "low": count(portcullis_core::Severity::Low),
                },
            })
        })
        .collect();
    let mut components = Vec::new();
    let mut licence_index: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for sbom in &items.sboms {
        for c in &sbom.components {
            if let Some(licence) = &c.licence {
                for term in &licence.terms {
                    licence_index
                        .entry(term.as_str())
                        .or_default()
                        .push(components.len());
                }
            }
            components.push(json!({
                "name": c.name,
                "version": c.version,
                "purl": c.purl,
                "licence": c.licence,
                "sbom_format": sbom.format,
                "signed": is_signed(&sbom.origin),
                "origin": sbom.origin,
            }));
        }
    }
    let sboms: Vec<Value> = items
        .sboms
        .iter()
        .map(|s| {
            json!({
                "format": s.format,
                "spec_version": s.spec_version,
                "signed": is_signed(&s.origin),
                "origin": s.origin,
                "subject_digests": s.subject_digests,
                "component_count": s.components.len(),
            })
        })
        .collect();
    let provenance: Vec<Value> = items
        .provenance
        .iter()
        .map(|p| {
            json!({
                "predicate_type": p.predicate_type,
                "builder_id": p.builder_id,
                "build_type": p.build_type,
                "source_repository": p.source_repository,
                "source_ref": p.source_ref,
                "source_commit": p.source_commit,
                "subject_digests": p.subject_digests,
                "signed": is_signed(&p.origin),
                "origin": p.origin,
            })
        })
        .collect();
    let vex: Vec<Value> = items
        .vex
        .iter()
        .map(|s| {
            json!({
                "vulnerability": s.vulnerability,
                "aliases": s.aliases,
                "status": s.status,
                "justification": s.justification,
                "products": s.products,
                "timestamp": s.timestamp,
                "signed": is_signed(&s.origin),
                "origin": s.origin,
            })
        })
        .collect();
    json!({
        "artifact": {
            "digest": digest,
            "registry": source.registry,
            "repository": source.repository,
            "source": source.to_string(),
        },
        "request": request,
        "signatures": evidence.signatures,
        "attestations": evidence.attestations,
        "vulnerability_reports": reports,
        "vulnerabilities": vulnerabilities,
        "vulnerability_index": vulnerability_index,
        "suppressed_index": suppressed_index,
        "sboms": sboms,
        "components": components,
        "licence_index": licence_index,
        "provenance": provenance,
        "vex": vex,
    })
}

/// Verifies the registry evidence, combines it with the CI-supplied items and evaluates
/// the serving policy. What the signed attestations add counts against `limits.*` with the
/// request's own evidence (422 `evidence_too_large`); building the input (VEX matching
/// included) and evaluating run on the blocking pool behind `eval_permits`.
pub async fn evaluate(
    state: &AppState,
    source: &ImageRef,
    digest: &Digest,
    ci_items: EvidenceItems,
    request: Value,
) -> Result<Evaluation, EvidenceError> {
    let verified = state.evidence.verified(source, digest).await;
    let signed = Tally::of(&verified.items);
    if let Some(exceeded) = signed.plus(Tally::of(&ci_items)).exceeded(&state.limits) {
        return Err(EvidenceError::TooLarge {
            context: format!(
                "with what the signed attestations of {digest} add ({} findings, {} components, {} VEX statements)",
                signed.findings, signed.components, signed.vex_statements
            ),
            exceeded,
        });
    }
    let policy = state.policy.current();
    let policy_digest = policy.digest().to_owned();
    let (source, digest) = (source.clone(), digest.clone());
    let (input, input_hash, decision) = work::blocking(&state.eval_permits, move || {
        let mut items = verified.items.clone();
        items.extend(ci_items);
        let evidence = EvidenceSet {
            signatures: verified.signatures.clone(),
            attestations: verified.attestations.clone(),
            items,
        };
        let input = input_document(&source, &digest, &evidence, request);
        let input_hash = Digest::sha256_of(input.to_string().as_bytes());
        let decision = policy.evaluate(&input);
        (input, input_hash, decision)
    })
    .await?;
    Ok(Evaluation {
        input,
        input_hash,
        decision,
        policy_digest,
    })
}
