//! Writing promotions: the new promotion with its signed evaluation and audit events in one
//! transaction, and closing a pending promotion whose policy no longer serves.

use portcullis_core::{AuditAction, Digest, PromotionState, repository_name};
use portcullis_store::{NewAuditEvent, NewPromotion, PromotionRecord, Store};
use serde_json::json;

use super::error::PromotionError;
use crate::auth::Caller;
use crate::services::trust::Release;
use crate::state::AppState;

/// Writes the promotion, the gate's signature over its evaluation (made from the row as
/// stored, so it verifies against what is read back) and its audit events, in one
/// transaction.
pub(super) async fn insert(
    state: &AppState,
    caller: &Caller,
    p: &NewPromotion,
    input_hash: &Digest,
) -> Result<(), PromotionError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    Store::insert_promotion(&mut tx, p).await?;
    let stored = Store::lock_promotion(&mut tx, p.id)
        .await?
        .ok_or(PromotionError::NotFound(p.id))?;
    let envelope = state.keys.sign_evaluation(&stored, chrono::Utc::now())?;
    Store::set_evaluation_envelope(&mut tx, p.id, &envelope).await?;
    let requested = NewAuditEvent {
        actor: p.requested_by.clone(),
        action: AuditAction::Requested,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({
            "source": p.source.to_string(),
            "route": p.route,
            "destination": repository_name(&p.destination.0, &p.destination.1),
            "tag": p.tag,
        }),
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
        let release = Release {
            platforms: route.and_then(|r| r.platform_strings()),
            allow_tag_overwrite: route.is_some_and(|r| r.allow_tag_overwrite),
        };
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
            details: json!({"required_approvals": stored.decision.required_approvals}),
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

/// Why a pending promotion judged under `judged_by` was closed when `serving` took over.
fn superseded_reason(judged_by: &Digest, serving: &Digest) -> String {
    format!(
        "superseded: the policy changed from {judged_by} to {serving} while this promotion awaited \
         approval; approvals given under the old policy do not carry over, request the promotion again"
    )
}

/// Closes a locked pending promotion that was judged under another policy than the serving
/// one: it becomes `denied` with the reason in `error`, and the change is audited as done by
/// `by`. Returns the reason, or `None` when the promotion is current (or no longer pending).
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
    let reason = superseded_reason(&p.policy_digest, serving);
    Store::set_promotion_state(tx, p.id, PromotionState::Denied, Some(&reason), None).await?;
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
                    "state": PromotionState::Denied,
                }),
                request_id: by.request_id.clone(),
            },
        )
        .await?;
    tracing::info!(promotion.id = %p.id, policy.previous = %p.policy_digest, policy.digest = %serving, "pending promotion superseded by a policy change");
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
    let closed = supersede_locked(state, &mut tx, &locked, &serving, by)
        .await?
        .is_some();
    portcullis_store::commit(tx).await?;
    Ok(closed)
}
