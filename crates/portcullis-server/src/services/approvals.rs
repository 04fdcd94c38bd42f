//! Voting: separation of duties, group membership, one vote per person, reject as veto.
//! The promotion row is locked for the whole vote so concurrent votes count correctly.
//!
//! Nothing is counted on the row's word: the promotion's signed evaluation and every
//! earlier vote's signature are checked before a vote is taken, each vote is signed by the
//! gate as it is cast, and the vote that completes the requirement signs the decision
//! statement the copier will insist on. Every refused vote is audited (`vote_refused`), so an
//! insider trying to approve their own work is visible.

use chrono::{SubsecRound, Utc};
use portcullis_core::{AuditAction, PromotionState, Verdict};
use portcullis_store::{ApprovalRecord, NewAuditEvent, PromotionRecord, Store};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::services::trust::{IntegrityError, Release};
use crate::services::{promotions, refusals};
use crate::state::AppState;
use crate::views::PromotionView;

/// Records `caller`'s vote on promotion `id` and advances its state. A refusal is audited.
pub async fn vote(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    verdict: Verdict,
    comment: &str,
) -> Result<PromotionView, ApiError> {
    match cast(state, caller, id, verdict, comment).await {
        Ok(view) => Ok(view),
        Err(e) => {
            let extra = json!({"verdict": verdict.as_str()});
            refusals::audit(state, caller, AuditAction::VoteRefused, id, &e, extra).await;
            Err(e)
        }
    }
}

/// Records an integrity violation found while voting, loudly, and refuses the vote.
async fn integrity(state: &AppState, p: &PromotionRecord, e: IntegrityError) -> ApiError {
    tracing::error!(promotion.id = %p.id, error = %e, "integrity violation: a promotion's signed records do not hold");
    let event = NewAuditEvent {
        actor: "system".to_owned(),
        action: AuditAction::IntegrityViolation,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({"during": "vote", "reason": e.to_string()}),
    };
    if let Err(err) = state.store.append_audit_now(&event).await {
        tracing::error!(error = %err, "could not audit an integrity violation");
    }
    ApiError::conflict(
        "integrity_violation",
        format!("promotion {} cannot take votes: {e}", p.id),
    )
}

async fn cast(
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
        promotions::supersede_locked(state, &mut tx, &p, &state.policy.digest(), &caller.subject)
            .await?
    {
        portcullis_store::commit(tx).await?;
        return Err(ApiError::conflict("policy_changed", reason));
    }
    if p.requested_by.to_lowercase() == caller.subject {
        return Err(ApiError::forbidden(
            "self_approval",
            "the requester of a promotion cannot vote on it",
        ));
    }
    let envelope = Store::evaluation_envelope_tx(&mut tx, id).await?;
    let evaluation = match state.gate.verify_evaluation(&p, envelope.as_ref()) {
        Ok(e) if e.allow => e,
        Ok(_) => {
            drop(tx);
            return Err(integrity(
                state,
                &p,
                IntegrityError::Votes("the signed evaluation denied this promotion".into()),
            )
            .await);
        }
        Err(e) => {
            drop(tx);
            return Err(integrity(state, &p, e).await);
        }
    };
    let Some(required) = evaluation.required.clone() else {
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
    let mut vote = ApprovalRecord {
        approver: caller.subject.clone(),
        verdict,
        comment: comment.to_owned(),
        at: Utc::now().trunc_subsecs(6),
        envelope: None,
    };
    vote.envelope = Some(
        state
            .gate
            .sign_vote(&p, &vote, &caller.groups, &evaluation.evidence_hash)
            .map_err(|e| ApiError::internal(&e))?,
    );
    match Store::insert_approval(&mut tx, id, &vote).await {
        Err(portcullis_store::Error::Conflict(_)) => {
            return Err(ApiError::conflict(
                "already_voted",
                format!("{} already voted on {id}", caller.subject),
            ));
        }
        other => other?,
    }
    let approvals = Store::list_approvals_tx(&mut tx, id).await?;
    let signed = match state
        .gate
        .verify_votes(&p, &approvals, &evaluation.evidence_hash)
    {
        Ok(s) => s,
        Err(e) => {
            drop(tx);
            return Err(integrity(state, &p, e).await);
        }
    };
    let approving: Vec<_> = approvals
        .iter()
        .zip(signed)
        .filter(|(a, _)| a.verdict == Verdict::Approve)
        .map(|(_, s)| s)
        .collect();
    let next = match verdict {
        Verdict::Reject => PromotionState::Rejected,
        Verdict::Approve if approving.len() >= required.count as usize => PromotionState::Promoting,
        Verdict::Approve => PromotionState::PendingApproval,
    };
    if next == PromotionState::Promoting {
        let route = state.routes.iter().find(|r| r.name == p.route);
        let release = Release {
            platforms: route.and_then(|r| r.platforms.clone()),
            allow_tag_overwrite: route.is_some_and(|r| r.allow_tag_overwrite),
        };
        let statement = state
            .gate
            .sign_statement(
                &p,
                &release,
                &approving,
                &evaluation.evidence_hash,
                Utc::now(),
            )
            .map_err(|e| ApiError::internal(&e))?;
        Store::set_statement_envelope(&mut tx, id, &statement).await?;
    }
    if next != p.state {
        Store::set_promotion_state(&mut tx, id, next, None, None).await?;
    }
    let action = match verdict {
        Verdict::Approve => AuditAction::Approved,
        Verdict::Reject => AuditAction::Rejected,
    };
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action,
                promotion_id: Some(id),
                digest: Some(p.digest.clone()),
                details: json!({
                    "comment": comment,
                    "approvals": approving.len(),
                    "required": required.count,
                    "group": required.group,
                    "policy_digest": p.policy_digest,
                    "evidence_hash": evaluation.evidence_hash,
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
