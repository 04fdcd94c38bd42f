//! Voting: separation of duties, group membership, one vote per person, reject as veto.
//! The promotion row is locked for the whole vote so concurrent votes count correctly.

use portcullis_core::PromotionState;
use portcullis_store::{NewAuditEvent, Store, Verdict};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::services::promotions;
use crate::state::AppState;
use crate::views::PromotionView;

/// Records `caller`'s vote on promotion `id` and advances its state.
pub async fn vote(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    verdict: Verdict,
    comment: &str,
) -> Result<PromotionView, ApiError> {
    let mut tx = state.store.begin().await?;
    let p = Store::lock_promotion(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no promotion {id}")))?;
    if p.state != PromotionState::PendingApproval {
        return Err(ApiError::conflict(
            "promotion_not_pending",
            format!(
                "promotion {id} is {}; only pending_approval promotions take votes",
                p.state
            ),
        ));
    }
    // A promotion is judged under one policy: if another one serves now, the votes so far
    // were given under rules that no longer hold, so the promotion is closed instead.
    if let Some(reason) =
        promotions::supersede_locked(&mut tx, &p, &state.policy.digest(), &caller.subject).await?
    {
        portcullis_store::commit(tx).await?;
        return Err(ApiError::conflict("policy_changed", reason));
    }
    if p.requested_by == caller.subject {
        return Err(ApiError::forbidden(
            "self_approval",
            "the requester of a promotion cannot vote on it",
        ));
    }
    let Some(required) = p.decision.required_approvals.clone() else {
        return Err(ApiError::conflict(
            "promotion_not_pending",
            "the decision requires no approvals",
        ));
    };
    if !caller.groups.contains(&required.group) {
        return Err(ApiError::forbidden(
            "missing_group",
            format!(
                "approving this promotion requires membership of group {}",
                required.group
            ),
        ));
    }
    match Store::insert_approval(&mut tx, id, &caller.subject, verdict, comment).await {
        Err(portcullis_store::Error::Conflict(_)) => {
            return Err(ApiError::conflict(
                "already_voted",
                format!("{} already voted on {id}", caller.subject),
            ));
        }
        other => other?,
    }
    let approvals = Store::list_approvals_tx(&mut tx, id).await?;
    let approve_count = approvals
        .iter()
        .filter(|a| a.verdict == Verdict::Approve)
        .count();
    let next = match verdict {
        Verdict::Reject => PromotionState::Rejected,
        Verdict::Approve if approve_count >= required.count as usize => PromotionState::Promoting,
        Verdict::Approve => PromotionState::PendingApproval,
    };
    if next != p.state {
        Store::set_promotion_state(&mut tx, id, next, None, None).await?;
    }
    let action = match verdict {
        Verdict::Approve => "approved",
        Verdict::Reject => "rejected",
    };
    Store::append_audit(
        &mut tx,
        &NewAuditEvent {
            actor: caller.subject.clone(),
            action: action.to_owned(),
            promotion_id: Some(id),
            digest: Some(p.digest.to_string()),
            details: json!({
                "comment": comment,
                "approvals": approve_count,
                "required": required.count,
                "group": required.group,
                "policy_digest": p.policy_digest,
                "state": next,
            }),
        },
    )
    .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(promotion.id = %id, approval.verdict = verdict.as_str(), promotion.state = %next, "vote recorded");
    if next == PromotionState::Promoting {
        state.copy_wakeup.notify_one();
    }
    promotions::get(state, id).await
}
