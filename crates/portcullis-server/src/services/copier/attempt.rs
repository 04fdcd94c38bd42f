//! One attempt at a claimed job: the copy (or a rollback's retag) and the promotion
//! attestation, within the job's deadline, while the lease is kept and progress recorded.

use std::sync::Mutex;
use std::time::Duration;

use portcullis_core::PromotionKind;
use portcullis_registry::{Activity, CopyReport, PlannedCopy, Role};
use portcullis_store::PromotionRecord;
use serde_json::json;
use uuid::Uuid;

use super::outcome::Copied;
use super::{CopyError, HEARTBEAT, LEASE_SECS, STALL_LIMIT, job};
use crate::services::trust::Release;
use crate::state::AppState;

/// An attestation signed this long before its copy finished is signed again, so that its
/// `timePromoted` says when the image reached production.
const RESIGN_AFTER: Duration = Duration::from_secs(1);

/// The copy of a released job, with its retries and deadline, while its lease is kept;
/// `None` when the lease was lost or the copy stalled.
pub(super) async fn copy(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    release: &Release,
    ahead: Option<PlannedCopy>,
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
    let attesting = attests(state, release);
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
                ahead,
                &report_progress,
                &activity,
                &last_failure,
            )
            .await
        };
        // The attestation is signed and its blobs pushed while the image is copied, when
        // its subject is known before the copy: always, but for a platform subset (whose
        // index the copy makes). It never ends the copy: a failure here is tried again
        // after the copy, and the copy's own failure is the one recorded.
        let staging_failure = Mutex::new(None);
        let staging = async {
            if !attesting || release.platforms.is_some() {
                return Ok(None);
            }
            let (digest, from) = (&job.digest, Role::Source);
            let last = &staging_failure;
            match job::stage_attestation(state, job, release, digest, from, &activity, last).await {
                Ok(staged) => Ok(Some(staged)),
                Err(e) => {
                    tracing::warn!(error = %e, "could not stage the attestation beside the copy; staging it after");
                    Ok::<_, CopyError>(None)
                }
            }
        };
        let clock = std::time::Instant::now();
        let (report, early) = tokio::try_join!(copying, staging)?;
        let copied_ms = clock.elapsed().as_millis();
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
        let early = early.filter(|s| s.production == production && !stale(s.signed_at));
        let early_used = early.is_some();
        let staged = match early {
            Some(s) => s,
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
        tracing::debug!(
            copy.copied_ms = u64::try_from(copied_ms).unwrap_or(u64::MAX),
            copy.attested_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            copy.signed_early = early_used,
            "copied and attested"
        );
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

/// Whether the job attaches a promotion attestation: when `copy.attest` is on, to every
/// copy but a rollback's.
pub(super) fn attests(state: &AppState, release: &Release) -> bool {
    state.copy_attest && release.kind != PromotionKind::Rollback
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attestation_signed_over_a_second_before_the_copy_ended_is_stale() {
        let now = chrono::Utc::now();
        assert!(!stale(now));
        assert!(!stale(now - chrono::Duration::milliseconds(500)));
        assert!(stale(now - chrono::Duration::milliseconds(1500)));
        // A clock that went back is not a reason to sign again.
        assert!(!stale(now + chrono::Duration::seconds(5)));
    }
}
