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
//!
//! A rollback (kind `rollback`, released only by a rollback statement) copies nothing from
//! the source: its job checks that the content is still complete in production and writes
//! the channel tag (`job::retag_with_retries`).

mod job;
mod outcome;
mod wakeup;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::{AuditAction, PromotionKind};
use portcullis_registry::{Activity, CopyReport, Role};
use portcullis_store::PromotionRecord;
use serde_json::json;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::services::trust::{IntegrityError, Release};
use crate::state::AppState;
pub use job::CopyError;
use outcome::{Copied, event, record, refuse};

/// How long a claimed job stays leased without renewal before another worker may take it.
const LEASE_SECS: i64 = 60;
/// How often a running copy renews its lease and records its progress.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often to look for jobs when nobody wakes the worker: a fallback for leases that
/// lapsed and for wake-ups lost with a listener connection (`wakeup`).
const POLL: Duration = Duration::from_secs(30);
/// The wait after a failed claim (the database is down) before trying again.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);
/// Claims after which a job that keeps dying (crash, lost lease) is marked failed.
const MAX_ATTEMPTS: i32 = 5;
/// An attestation signed this long before its copy finished is signed again, so that its
/// `timePromoted` says when the image reached production.
const RESIGN_AFTER: Duration = Duration::from_secs(1);
/// A copy that shows no progress (no byte, blob or manifest moved, no retry backoff under
/// way) for this long stops renewing its lease and gives the job up, so another replica
/// may take it over once the lease lapses.
const STALL_LIMIT: Duration = Duration::from_secs(LEASE_SECS as u64);

/// Runs forever: claim jobs while fewer than `copy.max_concurrent_jobs` run, copy, record;
/// wait when idle until woken — by this replica (`copy_wakeup`), by any replica through
/// Postgres `NOTIFY` (`wakeup`), or by the `POLL` fallback. Each job runs in its own task,
/// so a hung or slow job never holds up the others, and a panic in one cannot stop the
/// worker (its lease lapses and it is retried).
pub async fn run(state: AppState) {
    let _listener = wakeup::AbortOnDrop(tokio::spawn(wakeup::forward_notifications(
        state.store.clone(),
        state.copy_wakeup.clone(),
    )));
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
        match claim(&state).await {
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
                let _ = tokio::time::timeout(ERROR_BACKOFF, state.copy_wakeup.notified()).await;
            }
        }
    }
}

/// Runs every copy job that can be claimed now, one after the other, each to its end; returns
/// how many ran. The test hook for copies (as crates.io's `run_pending_background_jobs`):
/// with the background worker off (`Application::without_copy_worker`), a test releases a
/// promotion, calls this, and reads the outcome, with no waiting or polling. Claims, leases,
/// integrity checks and outcomes are those of the background worker.
pub async fn run_pending_jobs(state: &AppState) -> Result<usize, portcullis_store::Error> {
    let mut ran = 0;
    while !state.integrity.is_halted() {
        let Some((job, claim)) = claim(state).await? else {
            break;
        };
        // In its own task, as the worker runs it: a copy's future is large, and a panic stays
        // in the task (its lease lapses and it is retried).
        if let Err(e) = tokio::spawn(process(state.clone(), job, claim)).await {
            tracing::error!(error = %e, "copy task panicked; the job will be retried");
        }
        ran += 1;
    }
    Ok(ran)
}

/// Claims the next job, timing the claim.
async fn claim(
    state: &AppState,
) -> Result<Option<(PromotionRecord, Uuid)>, portcullis_store::Error> {
    let started = Instant::now();
    let claimed = state.store.claim_copy_job(LEASE_SECS).await?;
    if let Some((job, _)) = &claimed {
        tracing::debug!(promotion.id = %job.id, copy.claim_ms = ms(started.elapsed()), "copy job claimed");
    }
    Ok(claimed)
}

/// Milliseconds, for log fields.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks the job's decision statement; `Ok(None)` when the database could not answer (the
/// lease lapses and the job is tried again; nothing is copied meanwhile).
async fn release(
    state: &AppState,
    job: &PromotionRecord,
) -> Result<Option<(Release, String)>, IntegrityError> {
    let clock = Instant::now();
    let envelopes = match state.store.signed_envelopes(job.id).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "cannot read the decision statement");
            return Ok(None);
        }
    };
    let read_ms = ms(clock.elapsed());
    let (release, digest) = state
        .keys
        .verify_statement(job, envelopes.statement.as_ref())?;
    let verified_ms = ms(clock.elapsed());
    let spent = state.store.statement_spent(&digest).await;
    tracing::debug!(
        promotion.id = %job.id,
        copy.statement_read_ms = read_ms,
        copy.statement_verified_ms = verified_ms,
        copy.statement_spent_ms = ms(clock.elapsed()),
        "decision statement checked"
    );
    match spent {
        Ok(false) => Ok(Some((release, digest))),
        Ok(true) => Err(IntegrityError::Replayed(digest)),
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "cannot check whether the statement was used");
            Ok(None)
        }
    }
}

/// Runs one claimed job: checks its statement, copies (auditing the start meanwhile),
/// records the outcome. Logs where the time went (`copy.*_ms`).
// The job runs in its own task: its span names the promotion on every line it logs.
#[tracing::instrument(skip_all, fields(promotion.id = %job.id, image.digest = %job.digest, copy.attempt = job.attempts))]
async fn process(state: AppState, job: PromotionRecord, claim: Uuid) {
    if job.attempts > MAX_ATTEMPTS {
        let interrupted = CopyError::Interrupted(job.attempts - 1);
        record(&state, &job, claim, None, Err(interrupted)).await;
        return;
    }
    let clock = Instant::now();
    let _in_flight = state.metrics.copy_started();
    let (release, statement_digest) = match release(&state, &job).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => return refuse(&state, &job, claim, e).await,
    };
    let release_ms = ms(clock.elapsed());
    tracing::info!(promotion.id = %job.id, image.digest = %job.digest, attempt = job.attempts, "copy started");
    let started = event(
        &job,
        AuditAction::CopyStarted,
        json!({"destination": job.destination_name(), "attempt": job.attempts, "statement_digest": statement_digest, "kind": job.kind}),
    );
    // The start is audited while the copy runs: the copy's outcome is recorded (and
    // audited) only after both, so the chain still reads started-then-finished.
    let audit_start = async {
        if let Err(e) = state.store.append_audit_now(&started).await {
            tracing::error!(error = %e, promotion.id = %job.id, "could not audit copy start");
        }
    };
    let copy_clock = Instant::now();
    let (outcome, ()) = tokio::join!(copy(&state, &job, claim, &release), audit_start);
    let copy_ms = ms(copy_clock.elapsed());
    let Some(outcome) = outcome else {
        tracing::warn!(promotion.id = %job.id, "stopped the copy: its lease was lost or it stalled");
        return;
    };
    let record_clock = Instant::now();
    let bytes = outcome.as_ref().ok().map(|c| c.report.bytes_copied);
    record(&state, &job, claim, Some(&statement_digest), outcome).await;
    state
        .metrics
        .copy_finished(bytes.is_some(), bytes.unwrap_or(0), clock.elapsed());
    tracing::info!(
        promotion.id = %job.id,
        copy.release_ms = release_ms,
        copy.copy_ms = copy_ms,
        copy.record_ms = ms(record_clock.elapsed()),
        copy.total_ms = ms(clock.elapsed()),
        "copy job timings"
    );
}

/// The copy of a released job, with its retries and deadline, while its lease is kept;
/// `None` when the lease was lost or the copy stalled.
async fn copy(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    release: &Release,
) -> Option<Result<Copied, CopyError>> {
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(None::<CopyReport>);
    let activity = Activity::new();
    let seen = activity.clone();
    let report_progress = move |r: &CopyReport| {
        seen.touch();
        // Serialised only when the heartbeat writes it (at most once per `HEARTBEAT`).
        progress_tx.send_replace(Some(r.clone()));
    };
    let last_failure = Mutex::new(None);
    // A rollback re-points a channel tag at a digest that carries the attestation of its own
    // promotion; it uploads nothing, not even a new attestation.
    let attesting = state.copy_attest && release.kind != PromotionKind::Rollback;
    let copy = async {
        let copying = async {
            if release.kind == PromotionKind::Rollback {
                // The content is already in production: only the tag moves.
                return job::retag_with_retries(&state.registry, job, &activity, &last_failure)
                    .await;
            }
            let plan = job::plan(release, state.copy_blob_concurrency, job)?;
            job::copy_with_retries(
                &state.registry,
                &plan,
                &report_progress,
                &activity,
                &last_failure,
            )
            .await
        };
        // The attestation is signed and its blobs pushed while the image is copied, when
        // its subject is known before the copy: always, but for a platform subset (whose
        // index the copy makes).
        let staging = async {
            if !attesting || release.platforms.is_some() {
                return Ok(None);
            }
            let (digest, from) = (&job.digest, Role::Source);
            job::stage_attestation(state, job, release, digest, from, &activity, &last_failure)
                .await
                .map(Some)
        };
        let (report, early) = tokio::try_join!(copying, staging)?;
        if !attesting {
            return Ok(Copied {
                report,
                attestation: None,
            });
        }
        // The attestation is part of the job: `promoted` means production holds the image
        // and the gate's signed word about it. Its `timePromoted` is within `RESIGN_AFTER`
        // of the copy's end, or it is signed again now.
        let production = report
            .subset_digest
            .clone()
            .unwrap_or_else(|| report.digest.clone());
        let staged = match early {
            Some(s) if s.production == production && !stale(s.signed_at) => s,
            _ => {
                let from = Role::Destination;
                Box::pin(job::stage_attestation(
                    state,
                    job,
                    release,
                    &production,
                    from,
                    &activity,
                    &last_failure,
                ))
                .await?
            }
        };
        let attested = Box::pin(job::attach_attestation(
            state,
            job,
            &staged,
            &activity,
            &last_failure,
        ))
        .await?;
        Ok(Copied {
            report,
            attestation: Some(attested),
        })
    };
    // Boxed: the copy's future is large, and debug builds keep every await's state on the
    // worker's stack.
    let copy = job::within_deadline(state.copy_job_deadline, &last_failure, copy);
    let copy = Box::pin(copy);
    tokio::select! {
        outcome = copy => Some(outcome),
        () = keep_lease(state, job, claim, &activity, progress_rx) => None,
    }
}

/// Whether an attestation signed at `signed_at` is older than `RESIGN_AFTER`.
fn stale(signed_at: chrono::DateTime<chrono::Utc>) -> bool {
    (chrono::Utc::now() - signed_at)
        .to_std()
        .is_ok_and(|age| age > RESIGN_AFTER)
}

/// Renews the job's lease and records its progress every `HEARTBEAT` while the copy makes
/// progress; returns when the claim is lost or the copy stalled past `STALL_LIMIT` (no
/// progress, no renewal: the lease lapses and another replica may take the job over).
async fn keep_lease(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    activity: &Activity,
    mut progress: tokio::sync::watch::Receiver<Option<CopyReport>>,
) {
    let mut streamed = 0;
    let mut report = None::<serde_json::Value>;
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
        // Written when a blob or manifest landed, or when bytes moved since the last beat:
        // `bytes_streamed` moves per chunk while a large layer uploads.
        let now_streamed = activity.bytes_streamed();
        let landed = progress.has_changed().unwrap_or(false);
        if landed {
            report = progress
                .borrow_and_update()
                .as_ref()
                .map(|r| serde_json::to_value(r).unwrap_or_default());
        }
        let latest = (landed || now_streamed != streamed).then(|| {
            streamed = now_streamed;
            let mut value = report.clone().unwrap_or_else(|| json!({}));
            value["in_progress"] = json!(true);
            value["bytes_streamed"] = json!(now_streamed);
            value
        });
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
