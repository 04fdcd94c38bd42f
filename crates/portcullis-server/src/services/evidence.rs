//! Evaluates the serving policy over the evidence about a digest, off the async executor and
//! behind a semaphore. Any failure to gather evidence is a deny; evidence past `limits.*` is
//! refused.
//!
//! The registry-held evidence comes verified (and cached) from the gate's
//! `EvidenceCollector`; CI-supplied evidence comes with each request. VEX statements are
//! matched to findings here, and the policy decides whether a suppression counts. The input
//! document is built from typed structs straight into the engine's value, and written as
//! JSON text once: that text is hashed for the audit trail and answered by a dry run.

use portcullis_core::{Decision, Digest, EvidenceItems, EvidenceSet, ImageRef};
use portcullis_evidence::{Tally, VexIndex};
use portcullis_policy::{Input, RequestInfo};

use crate::services::documents::EvidenceError;
use crate::services::work;
use crate::state::Gate;

/// What the policy was asked and what it answered.
pub struct Evaluation {
    /// The input document as JSON text (`policies/input.schema.json`, keys in order).
    pub input: Vec<u8>,
    /// SHA-256 of `input`, for the audit trail.
    pub input_hash: Digest,
    /// The verdict.
    pub decision: Decision,
    /// The digest of the bundle that decided.
    pub policy_digest: Digest,
}

impl Evaluation {
    /// The input document as a JSON value, for storing with a promotion.
    pub fn input_value(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.input)
    }
}

/// Verifies the registry evidence, combines it with the CI-supplied items and evaluates
/// the serving policy. What the signed attestations add counts against `limits.*` with the
/// request's own evidence (422 `evidence_too_large`); building the input (VEX matching
/// included) and evaluating run on the blocking pool behind the gate's permits.
pub async fn evaluate(
    gate: &Gate,
    source: &ImageRef,
    digest: &Digest,
    ci_items: EvidenceItems,
    request: RequestInfo,
) -> Result<Evaluation, EvidenceError> {
    let verified = gate.collector.verified(source, digest).await;
    let signed = Tally::of(&verified.items);
    if let Some(exceeded) = signed.plus(Tally::of(&ci_items)).exceeded(&gate.limits) {
        return Err(EvidenceError::TooLarge {
            context: format!(
                "with what the signed attestations of {digest} add ({} findings, {} components, {} VEX statements)",
                signed.findings, signed.components, signed.vex_statements
            ),
            exceeded,
        });
    }
    let policy = gate.policy.current();
    let policy_digest = policy.digest().clone();
    let (source, digest) = (source.clone(), digest.clone());
    let (written, decision) = work::blocking(&gate.eval_permits, move || {
        let items = if verified.items.is_empty() {
            ci_items
        } else {
            let mut items = verified.items.clone();
            items.extend(ci_items);
            items
        };
        let evidence = EvidenceSet {
            signatures: verified.signatures.clone(),
            attestations: verified.attestations.clone(),
            items,
        };
        let vex = VexIndex::new(&evidence.items.vex, &digest);
        let input = Input::new(&source, &digest, &evidence, &request, |v| vex.governing(v));
        let decision = policy.evaluate_input(&input);
        (input.to_json(), decision)
    })
    .await?;
    let (input, input_hash) = written?;
    Ok(Evaluation {
        input,
        input_hash,
        decision,
        policy_digest,
    })
}
