//! Replaying a decision: the stored input and bundle are first checked against the gate's
//! signed evaluation record of the decision (a superuser who edits either, or the clock,
//! the verdict or the record itself, is reported as `tampered`, naming the part and both
//! hashes); only then is the stored bundle loaded and the stored input judged again with
//! the clock fixed at the decision's time, and the verdict compared field by field.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use portcullis_core::{Decision, Digest};
use portcullis_policy::{EvalPath, PolicyBundle, content_digest, input_value};
use portcullis_store::{DecisionRecord, Store};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::ReplayError;
use crate::services::trust::GateKeys;
use crate::services::work;

/// What replaying a decision found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// The decision.
    pub decision_id: Uuid,
    /// The promotion it judged.
    pub promotion_id: Uuid,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The bundle that made it.
    pub policy_digest: Digest,
    /// What `time.now_ns()` answered then (and again in the replay), as a decimal string.
    pub now_ns: Option<String>,
    /// Whether the replayed verdict equals the recorded one (false when tampered).
    pub identical: bool,
    /// Whether a stored part disagrees with the signed record (nothing was replayed).
    pub tampered: bool,
    /// Each part that disagrees: `signature`, `decision_id`, `promotion_id`, `input`,
    /// `policy_digest`, `bundle`, `time` or `verdict`.
    pub tamper: Vec<Tamper>,
    /// The verdict as recorded.
    pub verdict: Decision,
    /// The verdict judged again; `None` when tampered.
    pub replayed: Option<Decision>,
    /// The top-level verdict fields that differ.
    pub diff: Vec<Difference>,
}

/// A stored part that disagrees with the signed record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tamper {
    /// Which part.
    pub part: &'static str,
    /// What the signed record says (a hash, an id, a value).
    pub signed: String,
    /// What the stored row holds, hashed the same way.
    pub stored: String,
}

/// A verdict field that the replay judged differently.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Difference {
    /// The field of the verdict (`allow`, `violations`, `required_approvals`, …).
    pub field: String,
    /// As recorded.
    pub recorded: Value,
    /// As replayed.
    pub replayed: Value,
}

/// Replays decision `id`, its evaluation on the blocking pool behind `permits`.
#[tracing::instrument(skip_all, fields(decision.id = %id))]
pub async fn replay(
    store: &Store,
    keys: &GateKeys,
    permits: &Arc<Semaphore>,
    id: Uuid,
) -> Result<ReplayReport, ReplayError> {
    let d = store
        .get_decision(id)
        .await?
        .ok_or(ReplayError::NotFound(id))?;
    let (Some(input), Some(now_ns)) = (d.input.clone(), d.now_ns) else {
        return Err(ReplayError::NotReplayable(id));
    };
    let files = store.policy_bundle(&d.policy_digest).await?;
    let tamper = check(keys, &d, &input, files.as_ref());
    let mut report = ReplayReport {
        decision_id: d.id,
        promotion_id: d.promotion_id,
        at: d.at,
        policy_digest: d.policy_digest.clone(),
        now_ns: Some(now_ns.to_string()),
        identical: false,
        tampered: !tamper.is_empty(),
        tamper,
        verdict: d.decision.clone(),
        replayed: None,
        diff: Vec::new(),
    };
    let Some(files) = files.filter(|_| !report.tampered) else {
        tracing::warn!(decision.id = %id, tamper = ?report.tamper, "decision replay: stored parts were tampered with");
        return Ok(report);
    };
    let label = format!("stored bundle {}", d.policy_digest);
    let replayed = work::blocking(permits, move || {
        let bundle = PolicyBundle::from_files(&label, &files).map_err(ReplayError::Bundle)?;
        let doc: Value = serde_json::from_str(&input).map_err(ReplayError::Input)?;
        Ok::<_, ReplayError>(bundle.evaluate_at(EvalPath::Rvm, input_value(&doc), now_ns))
    })
    .await??;
    report.diff = diff(&report.verdict, &replayed);
    report.identical = report.diff.is_empty();
    report.replayed = Some(replayed);
    Ok(report)
}

/// Every stored part that disagrees with the signed evaluation record.
fn check(
    keys: &GateKeys,
    d: &DecisionRecord,
    input: &str,
    files: Option<&BTreeMap<String, String>>,
) -> Vec<Tamper> {
    let signed = match keys.open_evaluation(d.envelope.as_ref()) {
        Ok(record) => record,
        Err(e) => {
            return vec![Tamper {
                part: "signature",
                signed: "a record signed by the gate".to_owned(),
                stored: e.to_string(),
            }];
        }
    };
    let field = |name: &str| match signed.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "absent".to_owned(),
    };
    let bundle = files.map_or_else(
        || "absent".to_owned(),
        |f| content_digest(f.iter().map(|(n, c)| (n.as_str(), c.as_str()))).to_string(),
    );
    let required = serde_json::to_value(&d.decision.required_approvals).unwrap_or(Value::Null);
    let checks = [
        ("decision_id", field("decision_id"), d.id.to_string()),
        (
            "promotion_id",
            field("promotion_id"),
            d.promotion_id.to_string(),
        ),
        (
            "input",
            field("input_hash"),
            Digest::sha256_of(input.as_bytes()).to_string(),
        ),
        (
            "policy_digest",
            field("policy_digest"),
            d.policy_digest.to_string(),
        ),
        ("bundle", field("policy_digest"), bundle),
        (
            "time",
            field("now_ns"),
            d.now_ns.map_or_else(String::new, |n| n.to_string()),
        ),
        ("verdict", field("allow"), d.decision.allow.to_string()),
        (
            "verdict",
            signed
                .get("required_approvals")
                .cloned()
                .unwrap_or_default()
                .to_string(),
            required.to_string(),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, s, r)| s != r)
        .map(|(part, signed, stored)| Tamper {
            part,
            signed,
            stored,
        })
        .collect()
}

/// The top-level fields of two verdicts that differ.
fn diff(recorded: &Decision, replayed: &Decision) -> Vec<Difference> {
    let as_map = |d: &Decision| match serde_json::to_value(d) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(recorded), as_map(replayed));
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|f| {
            let (x, y) = (
                a.get(f).cloned().unwrap_or_default(),
                b.get(f).cloned().unwrap_or_default(),
            );
            (x != y).then(|| Difference {
                field: f.clone(),
                recorded: x,
                replayed: y,
            })
        })
        .collect()
}
