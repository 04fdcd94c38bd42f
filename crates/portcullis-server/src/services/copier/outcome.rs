//! Writing a copy job's outcome: the promotion's next state, its error or report, and the
//! audit event, together and only while the worker still holds the claim; and refusing a
//! job whose decision statement does not hold.

use portcullis_core::{AuditAction, PromotionState};
use portcullis_registry::CopyReport;
use portcullis_store::{NewAuditEvent, PromotionRecord, Store};
use serde_json::json;
use uuid::Uuid;

use super::CopyError;
use crate::services::attestation::Attested;
use crate::services::trust::IntegrityError;
use crate::state::AppState;

/// A finished job: what the copy did, and where the promotion attestation went (none when
/// `copy.attest` is off).
pub(crate) struct Copied {
    /// The copy's report.
    pub(crate) report: CopyReport,
    /// The attestation attached.
    pub(crate) attestation: Option<Attested>,
}

/// An audit event of the copy worker about `job`.
pub(super) fn event(
    job: &PromotionRecord,
    action: AuditAction,
    details: serde_json::Value,
) -> NewAuditEvent {
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

/// Fails a job whose statement does not hold, with a loud audit event, copying nothing.
pub(super) async fn refuse(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    e: IntegrityError,
) {
    tracing::error!(promotion.id = %job.id, image.digest = %job.digest, error = %e, "integrity violation: refusing to copy");
    let violation = event(
        job,
        AuditAction::IntegrityViolation,
        json!({"during": "copy", "reason": e.to_string(), "state": job.state, "destination": job.destination_name()}),
    );
    if let Err(err) = state.store.append_audit_now(&violation).await {
        tracing::error!(error = %err, "could not audit an integrity violation");
    }
    let outcome = Err(CopyError::Integrity(e));
    record(state, job, claim, None, None, outcome).await;
}

/// Writes the outcome and its audit event together, if this worker still holds the claim;
/// with `started` (a copy that wrote nothing: see `process`), that start event first, in
/// the same transaction. A finished copy's event names the statement it spent, so the
/// statement can never release another copy.
pub(super) async fn record(
    state: &AppState,
    job: &PromotionRecord,
    claim: Uuid,
    statement_digest: Option<&str>,
    started: Option<&NewAuditEvent>,
    outcome: Result<Copied, CopyError>,
) {
    // The copy may have moved the tag (even a failed one, part way): dry runs ask anew.
    if let Some(tag) = &job.tag {
        let (host, repo) = &job.destination;
        state.tag_probes.forget(host, repo, tag);
    }
    let (next, error, report, audit) = match &outcome {
        Ok(done) => {
            let mut report = serde_json::to_value(&done.report).unwrap_or_default();
            report["in_progress"] = json!(false);
            if let Some(a) = &done.attestation {
                report["attestation"] = serde_json::to_value(a).unwrap_or_default();
            }
            let mut details = report.clone();
            details["statement_digest"] = json!(statement_digest);
            details["kind"] = json!(job.kind);
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
    let written = async move {
        // The chain's lock is taken with BEGIN: this transaction appends right after its
        // one update, and two fewer round trips stand between a copy and `promoted`.
        let mut tx = state.store.begin_audited().await?;
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
        let events: Vec<NewAuditEvent> = started.into_iter().cloned().chain([audit]).collect();
        state.store.append_audits_locked(&mut tx, &events).await?;
        tx.commit().await?;
        Ok::<bool, portcullis_store::Error>(true)
    };
    match written.await {
        Ok(true) => {
            state.state_watch.announce(Some(job.id));
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
