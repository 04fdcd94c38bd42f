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
//! A vote that releases a promotion on this process hands its job straight to a free worker
//! slot (`handoff`), having read the copy's plan while it was recorded (`read_ahead`).
//!
//! A rollback (kind `rollback`, released only by a rollback statement) copies nothing from
//! the source: its job checks that the content is still complete in production and writes
//! the channel tag (`job::retag_with_retries`).

mod attempt;
mod handoff;
mod job;
mod outcome;
mod read_ahead;
mod wakeup;

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_core::{AuditAction, PromotionKind};
use portcullis_store::{ClaimedJob, PromotionRecord, SignedEnvelopes};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::services::trust::{IntegrityError, Release};
use crate::state::AppState;
pub use handoff::{Handoff, Slot};
pub use job::CopyError;
use outcome::{event, record, refuse};
pub use read_ahead::ReadAhead;

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
    state.copy_handoff.open(slots.clone());
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
            Ok(Some(claimed)) => spawn(&state, claimed, slot),
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

/// Runs a claimed job in its own task, holding its slot until it ends.
fn spawn(state: &AppState, claimed: ClaimedJob, slot: OwnedSemaphorePermit) {
    let task = tokio::spawn(process(state.clone(), claimed));
    tokio::spawn(async move {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "copy task panicked; the job will be retried");
        }
        drop(slot);
    });
}

/// Runs every copy job that can be claimed now, one after the other, each to its end; returns
/// how many ran. The test hook for copies (as crates.io's `run_pending_background_jobs`):
/// with the background worker off (`Application::without_copy_worker`), a test releases a
/// promotion, calls this, and reads the outcome, with no waiting or polling. Claims, leases,
/// integrity checks and outcomes are those of the background worker.
pub async fn run_pending_jobs(state: &AppState) -> Result<usize, portcullis_store::Error> {
    let mut ran = 0;
    while !state.integrity.is_halted() {
        let Some(claimed) = claim(state).await? else {
            break;
        };
        // In its own task, as the worker runs it: a copy's future is large, and a panic stays
        // in the task (its lease lapses and it is retried).
        if let Err(e) = tokio::spawn(process(state.clone(), claimed)).await {
            tracing::error!(error = %e, "copy task panicked; the job will be retried");
        }
        ran += 1;
    }
    Ok(ran)
}

/// Starts reading the copy plan of `p` ahead (`read_ahead`), as the route's rules would
/// release it now: called when a vote on `p` is about to complete its requirement. A
/// rollback copies nothing, so it reads nothing.
pub fn read_plan_ahead(state: &AppState, p: &PromotionRecord) {
    if p.kind == PromotionKind::Rollback {
        return;
    }
    let route = state.routes.iter().find(|r| r.name == p.route);
    let release = Release::for_route(route, p.tag.as_ref());
    if let Ok(plan) = job::plan(&release, state.copy_blob_concurrency, p) {
        state.read_ahead.start(&state.registry, p.id, plan);
    }
}

/// Claims the next job (with its signed envelopes), timing the claim.
async fn claim(state: &AppState) -> Result<Option<ClaimedJob>, portcullis_store::Error> {
    let started = Instant::now();
    let claimed = state.store.claim_copy_job(LEASE_SECS).await?;
    if let Some(c) = &claimed {
        tracing::debug!(promotion.id = %c.job.id, copy.claim_ms = ms(started.elapsed()), "copy job claimed");
    }
    Ok(claimed)
}

/// Milliseconds, for log fields.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks the job's decision statement (as read with the claim); `Ok(None)` when the
/// database could not answer (the lease lapses and the job is tried again; nothing is copied
/// meanwhile).
async fn release(
    state: &AppState,
    job: &PromotionRecord,
    envelopes: &SignedEnvelopes,
) -> Result<Option<(Release, String)>, IntegrityError> {
    let clock = Instant::now();
    let (release, digest) = state
        .keys
        .verify_statement(job, envelopes.statement.as_ref())?;
    let verified_ms = ms(clock.elapsed());
    let spent = state.store.statement_spent(&digest).await;
    tracing::debug!(
        promotion.id = %job.id,
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
///
/// A copy that will send no request at all (its plan, read ahead while the releasing vote
/// was recorded, finds everything in production and the tag in place; no attestation to
/// attach) changes nothing in production, so its start is audited with its outcome, in one
/// transaction, rather than in one of its own before it.
// The job runs in its own task: its span names the promotion on every line it logs.
#[tracing::instrument(skip_all, fields(promotion.id = %claimed.job.id, image.digest = %claimed.job.digest, copy.attempt = claimed.job.attempts))]
async fn process(state: AppState, claimed: ClaimedJob) {
    let ClaimedJob {
        job,
        claim,
        envelopes,
    } = claimed;
    if job.attempts > MAX_ATTEMPTS {
        let interrupted = CopyError::Interrupted(job.attempts - 1);
        record(&state, &job, claim, None, None, Err(interrupted)).await;
        return;
    }
    let clock = Instant::now();
    let _in_flight = state.metrics.copy_started();
    // The plan read ahead, if this replica read one, is awaited while the statement is checked.
    let ahead = async {
        match state.read_ahead.take(job.id) {
            Some(taken) => taken.planned().await,
            None => None,
        }
    };
    let (released, ahead) = tokio::join!(release(&state, &job, &envelopes), ahead);
    let (release, statement_digest) = match released {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => return refuse(&state, &job, claim, e).await,
    };
    let ahead = ahead.and_then(|a| {
        let plan = job::plan(&release, state.copy_blob_concurrency, &job).ok()?;
        a.fresh_for(&plan)
    });
    let quiet = ahead.as_ref().is_some_and(|a| a.writes_nothing())
        && release.kind != PromotionKind::Rollback
        && !attempt::attests(&state, &release);
    let release_ms = ms(clock.elapsed());
    tracing::info!(promotion.id = %job.id, image.digest = %job.digest, attempt = job.attempts, copy.read_ahead = ahead.is_some(), copy.quiet = quiet, "copy started");
    let started = event(
        &job,
        AuditAction::CopyStarted,
        json!({"destination": job.destination_name(), "attempt": job.attempts, "statement_digest": statement_digest, "kind": job.kind}),
    );
    // The start is audited while the copy runs: the copy's outcome is recorded (and
    // audited) only after both, so the chain still reads started-then-finished.
    let audit_start = async {
        if quiet {
            return;
        }
        if let Err(e) = state.store.append_audit_now(&started).await {
            tracing::error!(error = %e, promotion.id = %job.id, "could not audit copy start");
        }
    };
    let copy_clock = Instant::now();
    let (outcome, ()) = tokio::join!(
        attempt::copy(&state, &job, claim, &release, ahead),
        audit_start
    );
    let copy_ms = ms(copy_clock.elapsed());
    let Some(outcome) = outcome else {
        tracing::warn!(promotion.id = %job.id, "stopped the copy: its lease was lost or it stalled");
        return;
    };
    let record_clock = Instant::now();
    let bytes = outcome.as_ref().ok().map(|c| c.report.bytes_copied);
    let started = quiet.then_some(&started);
    record(
        &state,
        &job,
        claim,
        Some(&statement_digest),
        started,
        outcome,
    )
    .await;
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
