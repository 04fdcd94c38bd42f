//! Writing promotions: the new promotion with its signed evaluation and audit events in one
//! transaction, and judging an open one again when it is requested again (`rejudge`).

use portcullis_core::{AuditAction, Digest, PromotionKind, PromotionState, repository_name};
use portcullis_store::{NewAuditEvent, NewPromotion, PromotionRecord, Store};
use serde_json::json;

use super::error::PromotionError;
use super::rejudge::{Cause, rejudge_locked};
use crate::auth::Caller;
use crate::services::decisions::{self, Judgement};
use crate::services::trust::Release;
use crate::state::AppState;

/// Writes the promotion, its decision (`services::decisions`: the input text, the clock and
/// the gate's signature over its evaluation, made from the row as stored, so it verifies
/// against what is read back) and its audit events, in one transaction. The request is audited as `requested`, or `rollback_requested` for a
/// rollback, its details extended by `extra` (a rollback names the promotion it returns to).
pub(super) async fn insert(
    state: &AppState,
    caller: &Caller,
    p: &NewPromotion,
    judgement: &Judgement,
    extra: serde_json::Value,
) -> Result<(), PromotionError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    Store::insert_promotion(&mut tx, p).await?;
    let stored = Store::lock_promotion(&mut tx, p.id)
        .await?
        .ok_or(PromotionError::NotFound(p.id))?;
    let decision_id =
        decisions::record(&mut tx, &state.keys, &stored, judgement, chrono::Utc::now()).await?;
    let mut details = json!({
        "source": p.source.to_string(),
        "route": p.route,
        "destination": repository_name(&p.destination.0, &p.destination.1),
        "tag": p.tag,
        "kind": p.kind,
    });
    if let (Some(d), serde_json::Value::Object(more)) = (details.as_object_mut(), extra) {
        d.extend(more);
    }
    let requested = NewAuditEvent {
        actor: p.requested_by.clone(),
        action: match p.kind {
            PromotionKind::Promotion => AuditAction::Requested,
            PromotionKind::Rollback => AuditAction::RollbackRequested,
        },
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details,
        request_id: caller.request_id.clone(),
    };
    store.append_audit(&mut tx, &requested).await?;
    store
        .append_audit(
            &mut tx,
            &evaluated_event(caller, p, &judgement.input_hash, decision_id),
        )
        .await?;
    let auto = release_unreviewed(state, &mut tx, &stored, caller).await?;
    portcullis_store::commit(tx).await?;
    if auto {
        state.copy_wakeup.notify_one();
    }
    Ok(())
}

/// Releases the locked, allowed, pending promotion `stored` at once if its requirement asks
/// for no approvals (0 in all): a decision statement with no votes, state `promoting`,
/// audited as `auto_approved`. Whether it did. Used when a promotion is recorded and when it
/// is judged again. The copy workers are woken by the state change's NOTIFY at commit.
pub(super) async fn release_unreviewed(
    state: &AppState,
    tx: &mut portcullis_store::Tx,
    stored: &PromotionRecord,
    caller: &Caller,
) -> Result<bool, portcullis_store::Error> {
    let auto = stored.state == PromotionState::PendingApproval
        && stored.decision.allow
        && stored
            .decision
            .required_approvals
            .as_ref()
            .is_some_and(|r| r.total() == 0);
    if !auto {
        return Ok(false);
    }
    let route = state.routes.iter().find(|r| r.name == stored.route);
    let release = Release::for_route(route, stored.tag.as_ref());
    let evidence_hash = crate::services::trust::evidence_hash(&stored.evidence);
    let statement = state
        .keys
        .sign_statement(stored, &release, &[], &evidence_hash, chrono::Utc::now())
        .map_err(|e| {
            portcullis_store::Error::Corrupt(format!("signing the decision statement: {e}"))
        })?;
    Store::set_statement_envelope(tx, stored.id, &statement).await?;
    Store::set_promotion_state(tx, stored.id, PromotionState::Promoting, None, None).await?;
    let event = NewAuditEvent {
        actor: "system".to_owned(),
        action: AuditAction::AutoApproved,
        promotion_id: Some(stored.id),
        digest: Some(stored.digest.clone()),
        details: json!({"required_approvals": stored.decision.required_approvals, "kind": stored.kind}),
        request_id: caller.request_id.clone(),
    };
    state.store.append_audit(tx, &event).await?;
    Ok(true)
}

fn evaluated_event(
    caller: &Caller,
    p: &NewPromotion,
    input_hash: &Digest,
    decision_id: uuid::Uuid,
) -> NewAuditEvent {
    let decision = &p.decision;
    NewAuditEvent {
        actor: "policy".to_owned(),
        action: AuditAction::Evaluated,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({
            "allow": decision.allow,
            "violations": decision.violations,
            "required_approvals": decision.required_approvals,
            "policy_digest": p.policy_digest,
            "input_hash": input_hash,
            "decision_id": decision_id,
            "state": p.state,
        }),
        request_id: caller.request_id.clone(),
    }
}

/// Judges an open promotion found outside a transaction again if the serving policy or the
/// waivers that apply to it changed (`rejudge`); true when it is no longer pending (so a new
/// one may be requested).
pub(super) async fn supersede_if_stale(
    state: &AppState,
    open: &PromotionRecord,
    by: &Caller,
) -> Result<bool, PromotionError> {
    if open.state != PromotionState::PendingApproval {
        return Ok(false);
    }
    let mut tx = state.store.begin().await?;
    let Some(locked) = Store::lock_promotion(&mut tx, open.id).await? else {
        return Ok(false);
    };
    let rejudged = rejudge_locked(state, &mut tx, &locked, Cause::Check, by).await?;
    portcullis_store::commit(tx).await?;
    Ok(rejudged.is_some_and(|r| r.state != PromotionState::PendingApproval))
}
