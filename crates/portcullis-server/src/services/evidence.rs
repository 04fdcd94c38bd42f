//! Evaluates the serving policy over the evidence about a digest, off the async executor and
//! behind a semaphore. Any failure to gather evidence is a deny; evidence past `limits.*` is
//! refused.
//!
//! The registry-held evidence comes verified (and cached) from the gate's
//! `EvidenceCollector`; CI-supplied evidence comes with each request. VEX statements are
//! matched to findings here, and the policy decides whether a suppression counts. The input
//! document is assembled from each document's part (built once, and cached by the
//! document's hash: `input_cache.rs`) into the engine's value and its JSON text: that text
//! is hashed for the audit trail and answered by a dry run.

use std::sync::Arc;

use portcullis_core::{Decision, Digest, EvidenceItems, ImageRef};
use portcullis_evidence::{Tally, VexIndex};
use portcullis_policy::{
    Assembled, DocumentPart, EvalPath, Head, PolicyBundle, RequestInfo, WaiverEntry, assemble,
    system_now_ns,
};

use crate::services::decisions::Judgement;
use crate::services::documents::EvidenceError;
use crate::services::input_cache::ParsedDocument;
use crate::services::work::{self, Weight};
use crate::state::Gate;

/// What the policy was asked and what it answered.
pub struct Evaluation {
    /// The input document as JSON text (`policies/input.schema.json`, keys in order).
    pub input: Vec<u8>,
    /// SHA-256 of `input` when it was computed with the evaluation (a recorded request).
    hash: Option<Digest>,
    /// The verdict.
    pub decision: Decision,
    /// The digest of the bundle that decided.
    pub policy_digest: Digest,
    /// What `time.now_ns()` answered the policy, ns since the epoch.
    pub now_ns: i64,
}

impl Evaluation {
    /// SHA-256 of `input`, for the audit trail. Computed on the blocking pool for a request
    /// that is recorded; a dry run's answer does not carry it, so it is not computed for one.
    pub fn input_hash(&self) -> Digest {
        self.hash
            .clone()
            .unwrap_or_else(|| Digest::sha256_of(&self.input))
    }

    /// The input document as a JSON value, for storing with a promotion.
    pub fn input_value(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.input)
    }

    /// What the decision records to be replayed: the input text, its hash and the clock.
    pub fn judgement(&self) -> serde_json::Result<Judgement> {
        let input = std::str::from_utf8(&self.input)
            .map_err(<serde_json::Error as serde::ser::Error>::custom)?
            .to_owned();
        Ok(Judgement {
            input,
            input_hash: self.input_hash(),
            now_ns: self.now_ns,
        })
    }
}

/// Verifies the registry evidence, combines it with the CI-supplied documents and evaluates
/// the serving policy, with the active waivers that cover the image (`input.waivers`). What
/// the signed attestations add counts against `limits.*` with the request's own evidence
/// (422 `evidence_too_large`); building the input (VEX matching included) and evaluating
/// run on the blocking pool behind the gate's permits.
pub async fn evaluate(
    gate: &Gate,
    source: &ImageRef,
    digest: &Digest,
    ci: Vec<Arc<ParsedDocument>>,
    request: RequestInfo,
    waivers: Vec<WaiverEntry>,
) -> Result<Evaluation, EvidenceError> {
    let verified = gate.collector.verified(source, digest).await;
    let signed = Tally::of(&verified.items);
    let supplied = ci.iter().fold(Tally::default(), |t, d| t.plus(d.tally));
    let all = signed.plus(supplied);
    if let Some(exceeded) = all.exceeded(&gate.limits) {
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
    let recorded = !request.dry_run;
    let weight = Weight::of_items(all.findings + all.components + all.vex_statements);
    let (assembled, hash, decision, now_ns) = work::run(&gate.eval_permits, weight, move || {
        let head = Head {
            source: &source,
            digest: &digest,
            signatures: &verified.signatures,
            attestations: &verified.attestations,
            request: &request,
            waivers: &waivers,
        };
        let now_ns = system_now_ns();
        let (assembled, decision) = decide(&policy, &head, &verified.items, &ci, now_ns)?;
        let hash = recorded.then(|| assembled.hash());
        Ok::<_, serde_json::Error>((assembled, hash, decision, now_ns))
    })
    .await??;
    Ok(Evaluation {
        input: assembled.json,
        hash,
        decision,
        policy_digest,
        now_ns,
    })
}

/// Assembles the input from the verified attestations' items (built here: the collector
/// caches their verification, not their part; they come first, as they always have) and the
/// CI-supplied documents' parts, matches VEX statements to findings and evaluates `policy`
/// with its clock at `now_ns`. CPU-bound.
pub fn decide(
    policy: &PolicyBundle,
    head: &Head<'_>,
    signed: &EvidenceItems,
    ci: &[Arc<ParsedDocument>],
    now_ns: i64,
) -> serde_json::Result<(Assembled, Decision)> {
    let signed = if signed.is_empty() {
        None
    } else {
        Some(DocumentPart::build(signed.clone())?)
    };
    let parts: Vec<&DocumentPart> = signed.iter().chain(ci.iter().map(|d| &d.part)).collect();
    let statements = parts.iter().flat_map(|p| &p.items().vex).collect();
    let vex = VexIndex::of_all(statements, head.digest);
    let assembled = assemble(head, &parts, |v| vex.governing(v))?;
    let decision = policy.evaluate_at(EvalPath::Rvm, assembled.value.clone(), now_ns);
    Ok((assembled, decision))
}
