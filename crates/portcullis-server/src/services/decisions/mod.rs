//! Decisions: every judgement of a promotion (its request, a rollback, each re-judgement)
//! is recorded with what makes it replayable: the exact input text the policy saw, the
//! bundle that judged (stored once per digest), the time its clock read, and the gate's
//! signed evaluation record binding them. `replay` judges a recorded decision again and
//! says whether the verdict is identical (or the stored parts were tampered with);
//! `simulate` judges recent decisions with a candidate bundle and lists the verdicts that
//! would flip; `tarball` unpacks an uploaded candidate bundle in memory.

mod error;
pub mod replay;
pub mod simulate;
pub mod tarball;

use chrono::{DateTime, Utc};
use portcullis_core::{Decision, Digest};
use portcullis_policy::{EvalPath, PolicyBundle, input_value, system_now_ns};
use portcullis_store::{NewDecision, PromotionRecord, Store, Tx};
use uuid::Uuid;

pub use error::{ReplayError, SimulationError};

use crate::services::trust::{GateKeys, Judged};

/// What a judgement records besides its verdict.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The input document's JSON text, exactly as hashed.
    pub input: String,
    /// SHA-256 of `input`.
    pub input_hash: Digest,
    /// What `time.now_ns()` answered, ns since the epoch.
    pub now_ns: i64,
}

/// Judges the JSON input document `input` with `policy` now (CPU-bound): the verdict and
/// what to record with it. The text recorded is `input` printed compactly with its keys in
/// order, which parses back to the value judged.
pub fn judge_json(
    policy: &PolicyBundle,
    input: &serde_json::Value,
) -> serde_json::Result<(Decision, Judgement)> {
    let text = serde_json::to_string(input)?;
    let now_ns = system_now_ns();
    let decision = policy.evaluate_at(EvalPath::Rvm, input_value(input), now_ns);
    let judgement = Judgement {
        input_hash: Digest::sha256_of(text.as_bytes()),
        input: text,
        now_ns,
    };
    Ok((decision, judgement))
}

/// Records the judgement `j` of the locked promotion `stored` (its row already holding the
/// verdict) inside `tx`: signs its evaluation bound to a new decision, sets that on the row
/// and inserts the decision. Returns the decision's id.
pub async fn record(
    tx: &mut Tx,
    keys: &GateKeys,
    stored: &PromotionRecord,
    j: &Judgement,
    at: DateTime<Utc>,
) -> Result<Uuid, portcullis_store::Error> {
    let id = Uuid::new_v4();
    let judged = Judged {
        decision_id: id,
        input_hash: &j.input_hash,
        now_ns: j.now_ns,
    };
    let envelope = keys
        .sign_evaluation(stored, &judged, at)
        .map_err(|e| portcullis_store::Error::Corrupt(format!("signing the evaluation: {e}")))?;
    Store::set_evaluation_envelope(tx, stored.id, &envelope).await?;
    let decision = NewDecision {
        id,
        promotion_id: stored.id,
        policy_digest: &stored.policy_digest,
        decision: &stored.decision,
        input: &j.input,
        input_hash: &j.input_hash,
        now_ns: j.now_ns,
        envelope: &envelope,
    };
    Store::insert_decision(tx, &decision).await?;
    Ok(id)
}

/// Stores `bundle`'s served files under its digest (once per digest) inside `tx`, so the
/// decisions it makes can be replayed after it stops serving.
pub async fn store_bundle(
    tx: &mut Tx,
    bundle: &PolicyBundle,
) -> Result<(), portcullis_store::Error> {
    Store::store_policy_bundle(tx, bundle.digest(), bundle.files()).await
}
