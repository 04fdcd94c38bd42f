//! The copy worker: claims `promoting` promotions from Postgres (lease + claim id + SKIP
//! LOCKED, so replicas share the work), runs up to `copy.max_concurrent_jobs` copies at
//! once, each within `copy.job_deadline_seconds` and retrying transient failures (`job`),
//! renews a job's lease only while its copy makes progress, and records the outcome only if
//! it still holds the claim.
//!
//! The row's word is not enough: a job is copied only if its decision statement, signed by
//! the gate, verifies, matches the row field for field, carries signed votes that meet its
//! requirement, and was not already spent by a finished copy. Anything else fails the
//! promotion with a loud `integrity_violation` event and copies nothing.

mod job;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_core::{AuditAction, PromotionState};
use portcullis_registry::{Activity, CopyReport};
use portcullis_store::{NewAuditEvent, PromotionRecord, Store};
use serde_json::json;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::services::trust::{IntegrityError, Release};
use crate::state::AppState;
pub use job::{CopyError, End};

/// How long a claimed job stays leased without renewal before another worker may take it.
const LEASE_SECS: i64 = 60;
/// How often a running copy renews its lease and records its progress.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often to look for jobs when nobody wakes the worker.
const POLL: Duration = Duration::from_secs(2);
/// Claims after which a job that keeps dying (crash, lost lease) is marked failed.
const MAX_ATTEMPTS: i32 = 5;
/// A copy that shows no progress (no byte, blob or manifest moved, no retry backoff under
/// way) for this long stops renewing its lease and gives the job up, so another replica
/// may take it over once the lease lapses.
const STALL_LIMIT: Duration = Duration::from_secs(LEASE_SECS as u64);

/// Runs forever: claim jobs while fewer than `copy.max_concurrent_jobs` run, copy, record;
/// sleep when idle. Each job runs in its own task, so a hung or slow job never holds up
/// the others, and a panic in one cannot stop the worker (its lease lapses and it is
/// retried).
pub async fn run(state: AppState) {
    let slots = Arc::new(Semaphore::new(state.copy_max_concurrent_jobs.max(1)));
    loop {
        if state.integrity.is_halted() {
            // The audit log was found cut or rewritten: promote nothing until an operator
            // has looked (a restart re-checks the witness file).
            let _ = tokio::time::timeout(POLL, state.copy_wakeup.notified()).await;
            continue;
        }
        // The semaphore is never closed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match state.store.claim_copy_job(LEASE_SECS).await {
            Ok(Some((job, claim))) => {
                let task = tokio::spawn(process(state.clone(), job, claim));
                tokio::spawn(async move {
                    if let Err(e) = task.await {
                        tracing::error!(error = %e, "copy task panicked; the job will be retried");
                    }
                    drop(slot);
                });
            }
            Ok(None) => {
                drop(slot);
                let _ = tokio::time::timeout(POLL, state.copy_wakeup.notified()).await;
            }
            Err(e) => {
                drop(slot);
                tracing::error!(error = %e, "claiming a copy job failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

fn event(job: &PromotionRecord, action: AuditAction, details: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent {
        actor: "system".to_owned(),
        action,
        promotion_id: Some(job.id),
        digest: Some(job.digest.clone()),
        details,
        // The copy runs in the worker, outside any request.
        request_id: None,
    }
}

/// Checks the job's decision statement; `Ok(None)` when the database could not answer (the
/// lease lapses and the job is tried again; nothing is copied meanwhile).
async fn release(
    state: &AppState,
    job: &PromotionRecord,
) -> Result<Option<(Release, String)>, IntegrityError> {
    let envelopes = match state.store.signed_envelopes(job.id).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "cannot read the decision statement");
            return Ok(None);
        }
    };
    let (release, digest) = state
        .keys
        .verify_statement(job, envelopes.statement.as_ref())?;
    match state.store.statement_spent(&digest).await {
        Ok(false) => Ok(Some((release, digest))),
        Ok(true) => Err(IntegrityError::Replayed(digest)),
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "cannot check whether the statement was used");
            Ok(None)
        }
    }
}

/// Fails a job whose statement does not hold, with a loud audit event, copying nothing.
async fn refuse(state: &AppState, job: &PromotionRecord, claim: Uuid, e: &IntegrityError) {
    tracing::error!(promotion.id = %job.id, image.digest = %job.digest, error = %e, "integrity violation: refusing to copy");
    let violation = event(
        job,
        AuditAction::IntegrityViolation,
        json!({"during": "copy", "reason": e.to_string(), "state": job.state, "destination": job.destination_name()}),
    );
    if let Err(err) = state.store.append_audit_now(&violation).await {
        tracing::error!(error = %err, "could not audit an integrity violation");
    }
    let outcome = Err(CopyError::Integrity(e.to_string()));
    record(state, job, claim, None, outcome).await;
}

// The job runs in its own task: its span names the promotion on every line it logs.
#[tracing::instrument(skip_all, fields(promotion.id = %job.id, image.digest = %job.digest, copy.attempt = job.attempts))]
async fn process(state: AppState, job: PromotionRecord, claim: Uuid) {
    if job.attempts > MAX_ATTEMPTS {
        let interrupted = CopyError::Interrupted(job.attempts - 1);
        record(&state, &job, claim, None, Err(interrupted)).await;
        return;
    }
    let (release, statement_digest) = match release(&state, &job).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => return refuse(&state, &job, claim, &e).await,
    };
    tracing::info!(promotion.id = %job.id, image.digest = %job.digest, attempt = job.attempts, "copy started");
    let started = event(
        &job,
        AuditAction::CopyStarted,
        json!({"destination": job.destination_name(), "attempt": job.attempts, "statement_digest": statement_digest}),
    );
    if let Err(e) = state.store.append_audit_now(&started).await {
        tracing::error!(error = %e, promotion.id = %job.id, "could not audit copy start");
    }
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(None::<serde_json::Value>);
    let activity = Activity::new();
    let seen = activity.clone();
    let report_progress = move |r: &CopyReport| {
        seen.touch();
        let mut value = serde_json::to_value(r).unwrap_or_default();
        value["in_progress"] = json!(true);
        progress_tx.send_replace(Some(value));
    };
    let last_failure = Mutex::new(None);
    let copy = job::within_deadline(state.copy_job_deadline, &last_failure, async {
        let plan = job::plan(&release, state.copy_blob_concurrency, &job)?;
        job::copy_with_retries(
            &state.registry,
            &plan,
            &report_progress,
            &activity,
            &last_failure,
        )
        .await
    });
    let outcome = tokio::select! {
        outcome = copy => outcome,
        () = keep_lease(&state, &job, claim, &activity, progress_rx) => {
            tracing::warn!(promotion.id = %job.id, "stopped the copy: its lease was lost or it stalled");
            return;
        }
    };
    record(&state, &job, claim, Some(&statement_digest), outcome).await;
}

/// Renews the job's lease and records its progress every `HEARTBEAT` while the copy makes
/// progress; returns when the claim is lost or the copy stalled past `STALL_LIMIT` (no
/// progress, no renewal: the lease lapses and another replica may take the job over).
async fn keep_lease(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    activity: &Activity,
    mut progress: tokio::sync::watch::Receiver<Option<serde_json::Value>>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let idle = activity.idle_for();
        if idle > STALL_LIMIT {
            tracing::warn!(
                promotion.id = %job.id,
                copy.idle_secs = idle.as_secs(),
                "copy made no progress; giving the job up to its lease"
            );
            return;
        }
        let latest = if progress.has_changed().unwrap_or(false) {
            progress.borrow_and_update().clone()
        } else {
            None
        };
        match state
            .store
            .heartbeat_copy_job(job.id, claim, LEASE_SECS, latest.as_ref())
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, promotion.id = %job.id, "copy heartbeat failed")
            }
        }
    }
}

/// Writes the outcome and its audit event together, if this worker still holds the claim.
/// A finished copy's event names the statement it spent, so the statement can never
/// release another copy.
async fn record(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    statement_digest: Option<&str>,
    outcome: Result<CopyReport, CopyError>,
) {
    let (next, error, report, audit) = match &outcome {
        Ok(r) => {
            let mut report = serde_json::to_value(r).unwrap_or_default();
            report["in_progress"] = json!(false);
            let mut details = report.clone();
            details["statement_digest"] = json!(statement_digest);
            (
                PromotionState::Promoted,
                None,
                Some(report),
                event(job, AuditAction::Promoted, details),
            )
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(promotion.id = %job.id, error = %reason, transient = e.is_transient(), "copy failed");
            let audit = event(job, AuditAction::Failed, json!({"reason": reason}));
            (PromotionState::Failed, Some(reason), None, audit)
        }
    };
    let written = async {
        let mut tx = state.store.begin().await?;
        if !Store::finish_copy_job(
            &mut tx,
            job.id,
            claim,
            next,
            error.as_deref(),
            report.as_ref(),
        )
        .await?
        {
            return Ok(false);
        }
        state.store.append_audit(&mut tx, &audit).await?;
        portcullis_store::commit(tx).await?;
        Ok::<bool, portcullis_store::Error>(true)
    };
    match written.await {
        Ok(true) => {
            tracing::info!(promotion.id = %job.id, promotion.state = %next, "copy finished")
        }
        Ok(false) => {
            tracing::warn!(promotion.id = %job.id, "claim lost before the outcome was written")
        }
        // The lease lapses and another attempt picks the job up.
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "could not record the copy outcome")
        }
    }
}
