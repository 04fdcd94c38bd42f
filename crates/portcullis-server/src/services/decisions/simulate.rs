//! Policy impact before a reload: the stored inputs of the most recent decisions judged
//! again by a candidate bundle (each with the clock at its decision's time, so only the
//! policy differs), listing every decision whose verdict would flip: allowed → denied,
//! denied → allowed, or still allowed with another approval requirement. Decisions made
//! before inputs were recorded are skipped. Bounded: at most `MAX_LAST` decisions, read a
//! page at a time, judged on the blocking pool, within a time limit that also stops each
//! evaluation of the candidate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portcullis_core::{Decision, Digest, RequiredApprovals};
use portcullis_policy::{EvalPath, PolicyBundle, input_value};
use portcullis_store::{DecisionRecord, Store};
use serde::Serialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::SimulationError;
use crate::services::work;

/// Decisions judged when the caller does not say.
pub const DEFAULT_LAST: i64 = 1000;
/// The most decisions one simulation judges.
pub const MAX_LAST: i64 = 10_000;
/// Decisions read and judged per round.
const PAGE: i64 = 100;

/// What a simulation found.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SimulationReport {
    /// The candidate bundle's digest.
    pub candidate_digest: Option<Digest>,
    /// Decisions judged again.
    pub judged: usize,
    /// Each decision whose verdict would flip, newest first.
    pub flips: Vec<Flip>,
    /// Decisions judged the same way.
    pub unchanged: usize,
    /// Decisions made before inputs were recorded (not judged).
    pub skipped: usize,
    /// Decisions whose stored input could not be read.
    pub errors: Vec<Failure>,
}

/// A decision whose verdict the candidate would change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Flip {
    /// The decision.
    pub decision_id: Uuid,
    /// Its promotion.
    pub promotion_id: Uuid,
    /// The image digest.
    pub digest: Digest,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// As decided.
    pub before: Side,
    /// As the candidate would decide.
    pub after: Side,
    /// `allow_to_deny`, `deny_to_allow` or `requirement_changed`.
    pub kind: &'static str,
}

/// One side of a flip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Side {
    /// Whether allowed.
    pub allow: bool,
    /// The approvals required.
    pub required_approvals: Option<RequiredApprovals>,
    /// The ids of the rules broken, sorted.
    pub rule_ids: Vec<String>,
}

/// A decision that could not be judged again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Failure {
    /// The decision.
    pub decision_id: Uuid,
    /// Why.
    pub reason: String,
}

/// Judges the stored inputs of the `last` most recent decisions with `candidate` within
/// `limit`.
#[tracing::instrument(skip_all, fields(policy.candidate = %candidate.digest()))]
pub async fn simulate(
    store: &Store,
    permits: &Arc<Semaphore>,
    candidate: PolicyBundle,
    last: Option<i64>,
    limit: Duration,
) -> Result<SimulationReport, SimulationError> {
    let last = last.unwrap_or(DEFAULT_LAST);
    if !(1..=MAX_LAST).contains(&last) {
        return Err(SimulationError::InvalidLast {
            given: last,
            max: MAX_LAST,
        });
    }
    let judged = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
    let candidate = Arc::new(candidate.with_time_limit(limit));
    let run = rounds(store, permits, candidate, last, deadline, judged.clone());
    let timeout = || SimulationError::Timeout {
        limit_ms: limit.as_millis(),
        judged: judged.load(Ordering::Relaxed),
    };
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(Some(report))) => Ok(report),
        Ok(Ok(None)) | Err(_) => Err(timeout()),
        Ok(Err(e)) => Err(e),
    }
}

/// Reads and judges a page at a time; `None` when the deadline passed.
async fn rounds(
    store: &Store,
    permits: &Arc<Semaphore>,
    candidate: Arc<PolicyBundle>,
    last: i64,
    deadline: Instant,
    judged: Arc<AtomicUsize>,
) -> Result<Option<SimulationReport>, SimulationError> {
    let mut report = SimulationReport {
        candidate_digest: Some(candidate.digest().clone()),
        ..SimulationReport::default()
    };
    let (mut seen, mut after) = (0i64, None);
    while seen < last {
        let page = store.recent_decisions(after, PAGE.min(last - seen)).await?;
        let Some(tail) = page.last() else { break };
        after = Some((tail.at, tail.id));
        seen += page.len() as i64;
        let (bundle, counter) = (candidate.clone(), judged.clone());
        let done = work::blocking(permits, move || {
            judge_page(&bundle, page, deadline, &counter)
        })
        .await?;
        let Some(done) = done else { return Ok(None) };
        report.judged += done.judged;
        report.unchanged += done.unchanged;
        report.skipped += done.skipped;
        report.flips.extend(done.flips);
        report.errors.extend(done.errors);
    }
    Ok(Some(report))
}

/// Judges one page on the blocking pool; `None` once the deadline has passed.
fn judge_page(
    candidate: &PolicyBundle,
    page: Vec<DecisionRecord>,
    deadline: Instant,
    judged: &AtomicUsize,
) -> Option<SimulationReport> {
    let mut out = SimulationReport::default();
    for d in page {
        if Instant::now() >= deadline {
            return None;
        }
        let (Some(input), Some(now_ns)) = (&d.input, d.now_ns) else {
            out.skipped += 1;
            continue;
        };
        let doc: serde_json::Value = match serde_json::from_str(input) {
            Ok(doc) => doc,
            Err(e) => {
                out.errors.push(Failure {
                    decision_id: d.id,
                    reason: format!("the stored input does not parse: {e}"),
                });
                continue;
            }
        };
        let after = candidate.evaluate_at(EvalPath::Rvm, input_value(&doc), now_ns);
        // An evaluation the time limit stopped is a deny, not a verdict: give up instead.
        if Instant::now() >= deadline {
            return None;
        }
        out.judged += 1;
        judged.fetch_add(1, Ordering::Relaxed);
        match flip(&d.decision, &after) {
            Some(kind) => out.flips.push(Flip {
                decision_id: d.id,
                promotion_id: d.promotion_id,
                digest: d.digest.clone(),
                at: d.at,
                before: side(&d.decision),
                after: side(&after),
                kind,
            }),
            None => out.unchanged += 1,
        }
    }
    Some(out)
}

/// How a verdict flips, if it does.
fn flip(before: &Decision, after: &Decision) -> Option<&'static str> {
    match (before.allow, after.allow) {
        (true, false) => Some("allow_to_deny"),
        (false, true) => Some("deny_to_allow"),
        (true, true) if before.required_approvals != after.required_approvals => {
            Some("requirement_changed")
        }
        _ => None,
    }
}

fn side(d: &Decision) -> Side {
    let mut rule_ids: Vec<String> = d.violations.iter().map(|v| v.rule.clone()).collect();
    rule_ids.sort();
    rule_ids.dedup();
    Side {
        allow: d.allow,
        required_approvals: d.required_approvals.clone(),
        rule_ids,
    }
}

/// Loads an uploaded candidate (a tar archive, see `tarball`) on the blocking pool; loading
/// evaluates its decision rule once, which stops after `limit` (a 422 `bundle_invalid`).
pub async fn load_upload<B>(
    permits: &Arc<Semaphore>,
    body: B,
    limit: Duration,
) -> Result<PolicyBundle, SimulationError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    work::blocking(permits, move || {
        let files = super::tarball::unpack(body.as_ref())?;
        PolicyBundle::from_files_within("uploaded bundle", &files, limit)
            .map_err(SimulationError::Invalid)
    })
    .await?
}
