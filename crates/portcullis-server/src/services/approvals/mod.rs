//! Voting: separation of duties, group membership, one vote per person, reject as veto.
//! The rules are the pure functions of `rules`; this module loads what they judge and
//! stores what they decide. The promotion row is locked for the whole vote so concurrent
//! votes count correctly.
//!
//! Nothing is counted on the row's word: the promotion's signed evaluation and every
//! earlier vote's signature are checked before a vote is taken, each vote is signed by the
//! gate as it is cast, and the vote that completes the requirement signs the decision
//! statement the copier will insist on. Every refused vote is audited (`vote_refused`), so an
//! insider trying to approve their own work is visible.

mod error;
pub mod rules;

use chrono::{SubsecRound, Utc};
use portcullis_core::{AuditAction, PromotionState, Verdict};
use portcullis_store::{ApprovalRecord, NewAuditEvent, PromotionRecord, Store};
use serde_json::json;
use uuid::Uuid;

pub use error::ApprovalError;

use crate::auth::Caller;
use crate::services::trust::{IntegrityError, Release};
use crate::services::{promotions, refusals};
use crate::state::AppState;
use crate::views::PromotionView;

/// Records `caller`'s vote on promotion `id` and advances its state. A refusal is audited.
#[tracing::instrument(skip_all, fields(promotion.id = %id, approval.verdict = verdict.as_str()))]
pub async fn vote(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    verdict: Verdict,
    comment: &str,
    evidence_hash: &str,
) -> Result<PromotionView, ApprovalError> {
    let outcome = cast(state, caller, id, verdict, comment, evidence_hash).await;
    if let Err(e) = &outcome
        && e.is_refusal()
    {
        let refusal = refusals::Refusal {
            action: AuditAction::VoteRefused,
            code: e.code(),
            reason: e.to_string(),
        };
        let extra = json!({"verdict": verdict.as_str()});
        refusals::audit(&state.store, caller, id, refusal, extra).await;
    }
    outcome
}

/// Records an integrity violation found while voting, loudly, and refuses the vote.
async fn integrity(
    state: &AppState,
    caller: &Caller,
    p: &PromotionRecord,
    e: IntegrityError,
) -> ApprovalError {
    tracing::error!(promotion.id = %p.id, error = %e, "integrity violation: a promotion's signed records do not hold");
    let event = NewAuditEvent {
        actor: "system".to_owned(),
        action: AuditAction::IntegrityViolation,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({"during": "vote", "reason": e.to_string()}),
        request_id: caller.request_id.clone(),
    };
    if let Err(err) = state.store.append_audit_now(&event).await {
        tracing::error!(error = %err, "could not audit an integrity violation");
    }
    ApprovalError::Integrity {
        id: p.id,
        source: e,
    }
}

async fn cast(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    verdict: Verdict,
    comment: &str,
    shown: &str,
) -> Result<PromotionView, ApprovalError> {
    if state.bar_admin_approvals && caller.has(portcullis_core::Role::Admin) {
        return Err(ApprovalError::AdminBarred);
    }
    let mut tx = state.store.begin().await?;
    let (p, envelope) = Store::lock_promotion_for_vote(&mut tx, id)
        .await?
        .ok_or(ApprovalError::NotFound(id))?;
    if crate::services::expiry::is_overdue(state, &p) {
        crate::services::expiry::expire_locked(state, &mut tx, &p).await?;
        portcullis_store::commit(tx).await?;
        return Err(ApprovalError::NotPending {
            id,
            state: PromotionState::Expired,
        });
    }
    if !caller.may_on(crate::auth::roles::VOTERS, &p.route) {
        return Err(ApprovalError::RouteNotAllowed(p.route.clone()));
    }
    if p.state != PromotionState::PendingApproval {
        return Err(ApprovalError::NotPending { id, state: p.state });
    }
    // A promotion is judged under one policy and one set of waivers: if another policy
    // serves now, or a waiver stopped (or started) applying, the votes so far were given on
    // a judgement that no longer holds, so it is judged again and the voter told to look again.
    if let Some(r) =
        promotions::rejudge_locked(state, &mut tx, &p, promotions::Cause::Check, caller).await?
    {
        portcullis_store::commit(tx).await?;
        return Err(if r.policy_changed {
            ApprovalError::PolicyChanged(r.reason)
        } else {
            ApprovalError::EvidenceChanged {
                shown: shown.to_owned(),
                current: r.evidence_hash,
            }
        });
    }
    // Read with the lock: a judgement made again above returned, so it is still the one stored.
    let evaluation = match state.keys.verify_evaluation(&p, envelope.as_ref()) {
        Ok(e) if e.allow => e,
        Ok(_) => {
            drop(tx);
            let denied =
                IntegrityError::Votes("the signed evaluation denied this promotion".into());
            return Err(integrity(state, caller, &p, denied).await);
        }
        Err(e) => {
            drop(tx);
            return Err(integrity(state, caller, &p, e).await);
        }
    };
    // A vote counts only for the evidence the approver was shown.
    if shown != evaluation.evidence_hash {
        return Err(ApprovalError::EvidenceChanged {
            shown: shown.to_owned(),
            current: evaluation.evidence_hash.clone(),
        });
    }
    let mut earlier = Store::list_approvals_tx(&mut tx, id).await?;
    let required = rules::check_vote(&rules::Ballot {
        promotion: id,
        requested_by: &p.requested_by,
        required: evaluation.required.as_ref(),
        voter: &caller.subject,
        voter_groups: &caller.groups,
        earlier: &earlier,
    })?
    .clone();
    // The copy's plan is read while this vote is checked, signed and committed, so that the
    // copy, once released, starts writing at once (a hint: nothing is decided on it).
    if rules::may_release(verdict, &earlier, &required) {
        crate::services::copier::read_plan_ahead(state, &p);
    }
    let mut vote = ApprovalRecord {
        approver: caller.subject.clone(),
        verdict,
        comment: comment.to_owned(),
        at: Utc::now().trunc_subsecs(6),
        evidence_hash: Some(evaluation.evidence_hash.clone()),
        envelope: None,
    };
    vote.envelope = Some(state.keys.sign_vote(
        &p,
        &vote,
        &caller.groups,
        &evaluation.evidence_hash,
    )?);
    match Store::insert_approval(&mut tx, id, &vote).await {
        // A concurrent vote by the same person won the race for the row.
        Err(portcullis_store::Error::Conflict(_)) => {
            return Err(ApprovalError::AlreadyVoted {
                subject: caller.subject.clone(),
                id,
            });
        }
        other => other?,
    }
    // The promotion is locked: its votes are the earlier ones and this one, in time order.
    earlier.push(vote);
    // As the store orders them (`ORDER BY at, approver`), even if the clock stepped back.
    earlier.sort_by(|a, b| (a.at, &a.approver).cmp(&(b.at, &b.approver)));
    let approvals = earlier;
    let signed = match state
        .keys
        .verify_votes(&p, &approvals, &evaluation.evidence_hash)
    {
        Ok(s) => s,
        Err(e) => {
            drop(tx);
            return Err(integrity(state, caller, &p, e).await);
        }
    };
    let approving: Vec<_> = approvals
        .iter()
        .zip(signed)
        .filter(|(a, _)| a.verdict == Verdict::Approve)
        .map(|(_, s)| s)
        .collect();
    let held: Vec<Vec<portcullis_core::GroupName>> = approving
        .iter()
        .map(|s| crate::services::trust::signed_groups(&s.record))
        .collect();
    let held: Vec<&[portcullis_core::GroupName]> = held.iter().map(Vec::as_slice).collect();
    let next = rules::next_state(verdict, &held, &required);
    let mut handed = None;
    if next == PromotionState::Promoting {
        let route = state.routes.iter().find(|r| r.name == p.route);
        let release = Release::for_route(route, p.tag.as_ref());
        let statement = state.keys.sign_statement(
            &p,
            &release,
            &approving,
            &evaluation.evidence_hash,
            Utc::now(),
        )?;
        // This process's worker takes the job at once when it has a free slot: claimed here,
        // started after the commit, with no claim of its own.
        let slot = state.copy_handoff.slot(state);
        let claim = slot.as_ref().map(crate::services::copier::Slot::claim);
        let released = Store::release_promotion(&mut tx, id, &statement, claim).await?;
        handed = slot.map(|s| (s, released, statement));
    } else if next != p.state {
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
                    "required": required.total(),
                    "required_approvals": required,
                    "policy_digest": p.policy_digest,
                    "evidence_hash": evaluation.evidence_hash,
                    "state": next,
                }),
                request_id: caller.request_id.clone(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    state.metrics.vote(verdict == Verdict::Approve);
    tracing::info!(promotion.id = %id, approval.verdict = verdict.as_str(), promotion.state = %next, "vote recorded");
    match handed {
        Some((slot, job, statement)) => {
            let envelopes = portcullis_store::SignedEnvelopes {
                evaluation: envelope,
                statement: Some(statement),
            };
            slot.start(state, job, envelopes);
        }
        None if next == PromotionState::Promoting => state.copy_wakeup.notify_one(),
        None => {}
    }
    let promotion = state
        .store
        .get_promotion(id)
        .await?
        .ok_or(ApprovalError::NotFound(id))?;
    Ok(PromotionView::new(promotion, approvals))
}
