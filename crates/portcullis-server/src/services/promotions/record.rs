//! Writing promotions: the new promotion with its signed evaluation and audit events in one
//! transaction, and closing a pending promotion whose policy no longer serves.

use portcullis_core::{AuditAction, Digest, PromotionKind, PromotionState, repository_name};
use portcullis_store::{NewAuditEvent, NewPromotion, PromotionRecord, Store};
use serde_json::json;

use super::error::PromotionError;
use crate::auth::Caller;
use crate::services::trust::Release;
use crate::state::AppState;

/// Writes the promotion, the gate's signature over its evaluation (made from the row as
/// stored, so it verifies against what is read back) and its audit events, in one
/// transaction. The request is audited as `requested`, or `rollback_requested` for a
/// rollback, its details extended by `extra` (a rollback names the promotion it returns to).
pub(super) async fn insert(
    state: &AppState,
    caller: &Caller,
    p: &NewPromotion,
    input_hash: &Digest,
    extra: serde_json::Value,
) -> Result<(), PromotionError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    Store::insert_promotion(&mut tx, p).await?;
    let stored = Store::lock_promotion(&mut tx, p.id)
        .await?
        .ok_or(PromotionError::NotFound(p.id))?;
    let envelope = state.keys.sign_evaluation(&stored, chrono::Utc::now())?;
    Store::set_evaluation_envelope(&mut tx, p.id, &envelope).await?;
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
        .append_audit(&mut tx, &evaluated_event(caller, p, input_hash))
        .await?;
    let auto = stored.state == PromotionState::PendingApproval
        && stored
            .decision
            .required_approvals
            .as_ref()
            .is_some_and(|r| r.total() == 0);
    if auto {
        // The policy asks for no human review: released now, by a statement with no votes.
        let route = state.routes.iter().find(|r| r.name == stored.route);
        let release = Release::for_route(route, stored.tag.as_ref());
        let evidence_hash = crate::services::trust::evidence_hash(&stored.evidence);
        let statement = state.keys.sign_statement(
            &stored,
            &release,
            &[],
            &evidence_hash,
            chrono::Utc::now(),
        )?;
        Store::set_statement_envelope(&mut tx, p.id, &statement).await?;
        Store::set_promotion_state(&mut tx, p.id, PromotionState::Promoting, None, None).await?;
        let event = NewAuditEvent {
            actor: "system".to_owned(),
            action: AuditAction::AutoApproved,
            promotion_id: Some(p.id),
            digest: Some(p.digest.clone()),
            details: json!({"required_approvals": stored.decision.required_approvals, "kind": stored.kind}),
            request_id: caller.request_id.clone(),
        };
        store.append_audit(&mut tx, &event).await?;
    }
    portcullis_store::commit(tx).await?;
    if auto {
        state.copy_wakeup.notify_one();
    }
    Ok(())
}

fn evaluated_event(caller: &Caller, p: &NewPromotion, input_hash: &Digest) -> NewAuditEvent {
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
            "state": p.state,
        }),
        request_id: caller.request_id.clone(),
    }
}

/// Why a pending promotion judged under `judged_by` was denied when `serving` took over.
fn superseded_reason(judged_by: &Digest, serving: &Digest) -> String {
    format!(
        "superseded: the policy changed from {judged_by} to {serving} while this promotion awaited \
         approval, and judged again it is denied; request the promotion again once it complies"
    )
}

/// Why the votes on a pending promotion were voided.
fn voided_reason(judged_by: &Digest, serving: &Digest) -> String {
    format!(
        "the policy changed from {judged_by} to {serving} while this promotion awaited approval; \
         it was judged again and the votes cast under the old judgement were voided: look again and vote"
    )
}

/// Judges a locked pending promotion again when it was judged under another policy than the
/// serving one. Still allowed: it stays pending under the new decision and policy digest,
/// freshly signed, and every earlier vote is voided (`approvals_voided`). Now denied: it
/// becomes `denied` with the reason in `error`. Either way the change is audited
/// (`superseded`) as done by `by`, and the reason returned; `None` when the promotion is
/// current (or no longer pending).
pub(crate) async fn supersede_locked(
    state: &AppState,
    tx: &mut portcullis_store::Tx,
    p: &PromotionRecord,
    serving: &Digest,
    by: &Caller,
) -> Result<Option<String>, portcullis_store::Error> {
    if p.state != PromotionState::PendingApproval || p.policy_digest == *serving {
        return Ok(None);
    }
    let bundle = state.gate.policy.current();
    let decision = bundle.evaluate(&p.evidence);
    let now = chrono::Utc::now();
    let (reason, next, voided) = if decision.allow {
        let reason = voided_reason(&p.policy_digest, serving);
        Store::rejudge_promotion(tx, p.id, &decision, serving).await?;
        let voided = Store::void_approvals(tx, p.id, &reason, now).await?;
        let stored = Store::lock_promotion(tx, p.id).await?.ok_or_else(|| {
            portcullis_store::Error::Corrupt(format!("promotion {} vanished", p.id))
        })?;
        let envelope = state.keys.sign_evaluation(&stored, now).map_err(|e| {
            portcullis_store::Error::Corrupt(format!("signing the new judgement: {e}"))
        })?;
        Store::set_evaluation_envelope(tx, p.id, &envelope).await?;
        (reason, PromotionState::PendingApproval, voided)
    } else {
        let reason = superseded_reason(&p.policy_digest, serving);
        Store::set_promotion_state(tx, p.id, PromotionState::Denied, Some(&reason), None).await?;
        (reason, PromotionState::Denied, 0)
    };
    state
        .store
        .append_audit(
            tx,
            &NewAuditEvent {
                actor: by.subject.clone(),
                action: AuditAction::Superseded,
                promotion_id: Some(p.id),
                digest: Some(p.digest.clone()),
                details: json!({
                    "previous_policy_digest": p.policy_digest,
                    "policy_digest": serving,
                    "state": next,
                    "votes_voided": voided,
                    "violations": decision.violations,
                }),
                request_id: by.request_id.clone(),
            },
        )
        .await?;
    tracing::info!(promotion.id = %p.id, policy.previous = %p.policy_digest, policy.digest = %serving, promotion.state = %next, "pending promotion judged again after a policy change");
    Ok(Some(reason))
}

/// `supersede_locked` for an open promotion found outside a transaction; true when it was
/// closed (so a new one may be requested).
pub(super) async fn supersede_if_stale(
    state: &AppState,
    open: &PromotionRecord,
    by: &Caller,
) -> Result<bool, PromotionError> {
    let serving = state.gate.policy.digest();
    if open.state != PromotionState::PendingApproval || open.policy_digest == serving {
        return Ok(false);
    }
    let mut tx = state.store.begin().await?;
    let Some(locked) = Store::lock_promotion(&mut tx, open.id).await? else {
        return Ok(false);
    };
    supersede_locked(state, &mut tx, &locked, &serving, by).await?;
    let closed = Store::lock_promotion(&mut tx, open.id)
        .await?
        .is_some_and(|p| p.state != PromotionState::PendingApproval);
    portcullis_store::commit(tx).await?;
    Ok(closed)
}
