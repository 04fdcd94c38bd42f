//! Gathers the evidence about a digest and evaluates the policy over it, off the async
//! executor and behind a semaphore. Any failure on the way is a deny.

use portcullis_core::{Decision, Digest, EvidenceSet, ImageRef, Severity, VulnerabilityReport};
use serde_json::{Value, json};

use crate::state::AppState;

/// What the policy was asked and what it answered.
pub struct Evaluation {
    /// The input document.
    pub input: Value,
    /// The verdict.
    pub decision: Decision,
}

/// Builds the policy input document from verified evidence and the request.
pub fn input_document(
    source: &ImageRef,
    digest: &Digest,
    evidence: &EvidenceSet,
    request: Value,
) -> Value {
    let vulnerabilities: Vec<Value> = evidence
        .vulnerability_reports
        .iter()
        .flat_map(|r| {
            r.vulnerabilities.iter().map(move |v| {
                json!({
                    "id": v.id,
                    "severity": v.severity,
                    "package": v.package,
                    "installed_version": v.installed_version,
                    "fixed_version": v.fixed_version,
                    "title": v.title,
                    "origin": r.origin,
                })
            })
        })
        .collect();
    let reports: Vec<Value> = evidence
        .vulnerability_reports
        .iter()
        .map(|r| {
            let count = |s: Severity| r.vulnerabilities.iter().filter(|v| v.severity == s).count();
            json!({
                "scanner": r.scanner,
                "origin": r.origin,
                "artifact_name": r.artifact_name,
                "subject_digests": r.subject_digests,
                "counts": {
                    "critical": count(Severity::Critical),
                    "high": count(Severity::High),
                    "medium": count(Severity::Medium),
                    "low": count(Severity::Low),
                },
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
        "vulnerability_reports": reports,
        "vulnerabilities": vulnerabilities,
    })
}

/// Verifies signatures, combines them with the CI reports and evaluates the policy.
pub async fn evaluate(
    state: &AppState,
    source: &ImageRef,
    digest: &Digest,
    reports: Vec<VulnerabilityReport>,
    request: Value,
) -> Evaluation {
    let signatures = state.verifier.verify(source, digest).await;
    let evidence = EvidenceSet {
        signatures,
        vulnerability_reports: reports,
    };
    let input = input_document(source, digest, &evidence, request);
    let decision = run_policy(state, &input).await;
    Evaluation { input, decision }
}

async fn run_policy(state: &AppState, input: &Value) -> Decision {
    let Ok(_permit) = state.eval_permits.clone().acquire_owned().await else {
        return Decision::deny("policy.error", "the policy evaluator is shut down");
    };
    let policy = state.policy.clone();
    let input = input.clone();
    match tokio::task::spawn_blocking(move || policy.evaluate(&input)).await {
        Ok(decision) => decision,
        Err(e) => {
            tracing::error!(error = %e, "policy evaluation task failed");
            Decision::deny("policy.error", "policy evaluation did not complete")
        }
    }
}
