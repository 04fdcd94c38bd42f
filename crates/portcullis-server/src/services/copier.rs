//! The copy worker: claims `promoting` promotions from Postgres (lease + claim id + SKIP
//! LOCKED, so replicas share the work), copies the image digest for digest while renewing
//! its lease, and records the outcome only if it still holds the claim.
//!
//! The row's word is not enough: a job is copied only if its decision statement, signed by
//! the gate, verifies, matches the row field for field, carries signed votes that meet its
//! requirement, and was not already spent by a finished copy. Anything else fails the
//! promotion with a loud `integrity_violation` event and copies nothing.

use std::time::Duration;

use portcullis_core::{ImageRef, PromotionState, RegistryHost, RepoPath};
use portcullis_registry::{CopyOptions, CopyPlan, CopyReport, copy_image_with_progress};
use portcullis_store::{NewAuditEvent, PromotionRecord, Store};
use serde_json::json;
use uuid::Uuid;

use crate::services::trust::{IntegrityError, Release};
use crate::state::AppState;

/// How long a claimed job stays leased without renewal before another worker may take it.
const LEASE_SECS: i64 = 60;
/// How often a running copy renews its lease and records its progress.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often to look for jobs when nobody wakes the worker.
const POLL: Duration = Duration::from_secs(2);
/// Claims after which a job that keeps dying (crash, lost lease) is marked failed.
const MAX_ATTEMPTS: i32 = 5;

/// Runs forever: claim a job, copy, record; sleep when idle. Each job runs in its own task
/// so a panic in one cannot stop the worker; its lease then lapses and it is retried.
pub async fn run(state: AppState) {
    loop {
        if state.integrity.is_halted() {
            // The audit log was found cut or rewritten: promote nothing until an operator
            // has looked (a restart re-checks the witness file).
            let _ = tokio::time::timeout(POLL, state.copy_wakeup.notified()).await;
            continue;
        }
        match state.store.claim_copy_job(LEASE_SECS).await {
            Ok(Some((job, claim))) => {
                let task = tokio::spawn(process(state.clone(), job, claim));
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "copy task panicked; the job will be retried");
                }
            }
            Ok(None) => {
                let _ = tokio::time::timeout(POLL, state.copy_wakeup.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a copy job failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// The copy of `job`, with the tag and platform rules its decision statement signed (the
/// route's rules when the promotion was released).
fn plan(state: &AppState, job: &PromotionRecord, release: &Release) -> Result<CopyPlan, String> {
    let options = CopyOptions {
        blob_concurrency: state.copy_blob_concurrency,
        platforms: release.platforms.clone(),
        overwrite_tag: release.allow_tag_overwrite,
    };
    let source: ImageRef = job
        .source
        .parse()
        .map_err(|e| format!("stored source is invalid: {e}"))?;
    let (host, repo) = job
        .destination
        .split_once('/')
        .ok_or("stored destination is invalid")?;
    let dest_registry: RegistryHost = host
        .parse()
        .map_err(|e| format!("stored destination: {e}"))?;
    let dest_repo: RepoPath = repo
        .parse()
        .map_err(|e| format!("stored destination: {e}"))?;
    Ok(CopyPlan {
        source: source.with_digest(job.digest.clone()),
        dest_registry,
        dest_repo,
        dest_tag: job.tag.clone(),
        options,
    })
}

fn event(job: &PromotionRecord, action: &str, details: serde_json::Value) -> NewAuditEvent {
    NewAuditEvent {
        actor: "system".to_owned(),
        action: action.to_owned(),
        promotion_id: Some(job.id),
        digest: Some(job.digest.to_string()),
        details,
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
        .gate
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
        "integrity_violation",
        json!({"during": "copy", "reason": e.to_string(), "state": job.state, "destination": job.destination}),
    );
    if let Err(err) = state.store.append_audit_now(&violation).await {
        tracing::error!(error = %err, "could not audit an integrity violation");
    }
    let outcome = Err(format!("integrity_violation: {e}"));
    record(state, job, claim, None, outcome).await;
}

async fn process(state: AppState, job: PromotionRecord, claim: Uuid) {
    if job.attempts > MAX_ATTEMPTS {
        let reason = format!(
            "gave up after {} interrupted copy attempts",
            job.attempts - 1
        );
        record(&state, &job, claim, None, Err(reason)).await;
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
        "copy_started",
        json!({"destination": job.destination, "attempt": job.attempts, "statement_digest": statement_digest}),
    );
    if let Err(e) = state.store.append_audit_now(&started).await {
        tracing::error!(error = %e, promotion.id = %job.id, "could not audit copy start");
    }
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(None::<serde_json::Value>);
    let report_progress = move |r: &CopyReport| {
        let mut value = serde_json::to_value(r).unwrap_or_default();
        value["in_progress"] = json!(true);
        progress_tx.send_replace(Some(value));
    };
    let copy = async {
        let plan = plan(&state, &job, &release)?;
        copy_image_with_progress(&state.registry, &plan, &report_progress)
            .await
            .map_err(|e| e.to_string())
    };
    let heartbeat = async {
        let mut rx = progress_rx;
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let progress = if rx.has_changed().unwrap_or(false) {
                rx.borrow_and_update().clone()
            } else {
                None
            };
            match state
                .store
                .heartbeat_copy_job(job.id, claim, LEASE_SECS, progress.as_ref())
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, promotion.id = %job.id, "copy heartbeat failed")
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = copy => outcome,
        () = heartbeat => {
            tracing::warn!(promotion.id = %job.id, "lost the copy lease; another worker owns the job");
            return;
        }
    };
    record(&state, &job, claim, Some(&statement_digest), outcome).await;
}

/// Writes the outcome and its audit event together, if this worker still holds the claim.
/// A finished copy's event names the statement it spent, so the statement can never
/// release another copy.
async fn record(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    statement_digest: Option<&str>,
    outcome: Result<CopyReport, String>,
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
                event(job, "promoted", details),
            )
        }
        Err(reason) => (
            PromotionState::Failed,
            Some(reason.as_str()),
            None,
            event(job, "failed", json!({"reason": reason})),
        ),
    };
    let written = async {
        let mut tx = state.store.begin().await?;
        if !Store::finish_copy_job(&mut tx, job.id, claim, next, error, report.as_ref()).await? {
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
