//! Re-queuing a failed copy (`POST /v1/promotions/{id}/retry`). A refused retry is audited
//! (`retry_refused`).

use portcullis_core::PromotionState;
use portcullis_store::{NewAuditEvent, Store};
use serde_json::json;
use uuid::Uuid;

use super::error::PromotionError;
use super::read;
use crate::auth::Caller;
use crate::services::refusals;
use crate::state::AppState;
use crate::views::PromotionView;

/// Re-queues a `failed` promotion's copy: only its requester or an admin may, and only while
/// the policy it was judged under still serves.
#[tracing::instrument(skip_all, fields(promotion.id = %id))]
pub async fn retry(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<PromotionView, PromotionError> {
    let outcome = requeue(state, caller, id).await;
    if let Err(e) = &outcome
        && e.is_refusal()
    {
        let refusal = refusals::Refusal {
            action: portcullis_core::AuditAction::RetryRefused,
            code: e.code(),
            reason: e.to_string(),
        };
        refusals::audit(&state.store, caller, id, refusal, json!({})).await;
    }
    outcome
}

async fn requeue(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<PromotionView, PromotionError> {
    let mut tx = state.store.begin().await?;
    let p = Store::lock_promotion(&mut tx, id)
        .await?
        .ok_or(PromotionError::NotFound(id))?;
    if !caller.has(portcullis_core::Role::Admin) && caller.subject != p.requested_by.to_lowercase()
    {
        return Err(PromotionError::NotRequester);
    }
    if !caller.may_on(super::validate::REQUESTERS, &p.route) {
        return Err(PromotionError::RouteNotAllowed(p.route.clone()));
    }
    if p.state != PromotionState::Failed {
        return Err(PromotionError::NotFailed { id, state: p.state });
    }
    let serving = state.gate.policy.digest();
    if p.policy_digest != serving {
        return Err(PromotionError::PolicyChanged {
            id,
            judged_by: p.policy_digest,
            serving,
        });
    }
    if !Store::requeue_failed(&mut tx, id).await? {
        return Err(PromotionError::NoLongerFailed(id));
    }
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action: portcullis_core::AuditAction::Retried,
                promotion_id: Some(id),
                digest: Some(p.digest.clone()),
                details: json!({"previous_error": p.error, "state": PromotionState::Promoting}),
                request_id: caller.request_id.clone(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(promotion.id = %id, "failed promotion re-queued");
    state.copy_wakeup.notify_one();
    read::get(&state.store, id).await
}
