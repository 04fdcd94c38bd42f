//! Reading promotions with their votes. A page of promotions costs two queries: the
//! promotions, then the votes of all of them at once.

use portcullis_core::PromotionState;
use portcullis_store::{PromotionRecord, Store};
use uuid::Uuid;

use super::error::PromotionError;
use crate::views::PromotionView;

/// One promotion with its votes.
#[tracing::instrument(skip_all, fields(promotion.id = %id))]
pub async fn get(store: &Store, id: Uuid) -> Result<PromotionView, PromotionError> {
    // The record and what the view attaches to it, read side by side: one round trip.
    let (p, parts) = tokio::try_join!(store.get_promotion(id), parts(store, id))?;
    let p = p.ok_or(PromotionError::NotFound(id))?;
    Ok(assemble(p, parts))
}

/// One promotion with its votes, and the evidence document the policy judged (what the web
/// page summarises for an approver).
#[tracing::instrument(skip_all, fields(promotion.id = %id))]
pub async fn get_with_evidence(
    store: &Store,
    id: Uuid,
) -> Result<(PromotionView, serde_json::Value), PromotionError> {
    let p = store
        .get_promotion(id)
        .await?
        .ok_or(PromotionError::NotFound(id))?;
    let evidence = p.evidence.clone();
    Ok((view(store, p).await?, evidence))
}

/// Promotions, newest first, each with its votes.
#[tracing::instrument(skip_all, fields(promotion.state = ?filter, page.limit = limit))]
pub async fn list(
    store: &Store,
    filter: Option<PromotionState>,
    limit: i64,
) -> Result<Vec<PromotionView>, PromotionError> {
    let page = store.list_promotions(filter, limit).await?;
    let ids: Vec<Uuid> = page.iter().map(|p| p.id).collect();
    let mut votes = store.list_approvals_for(&ids).await?;
    Ok(page
        .into_iter()
        .map(|p| {
            let approvals = votes.remove(&p.id).unwrap_or_default();
            PromotionView::new(p, approvals)
        })
        .collect())
}

/// Attaches the votes (and a break-glass or withdrawal, if any) to a promotion record.
pub async fn view(store: &Store, p: PromotionRecord) -> Result<PromotionView, PromotionError> {
    let parts = parts(store, p.id).await?;
    Ok(assemble(p, parts))
}

/// What a view attaches to a promotion record: its votes, break-glass review, voided
/// approvals, withdrawal and decision ids.
type Parts = (
    Vec<portcullis_store::ApprovalRecord>,
    Option<portcullis_store::ReviewRecord>,
    Option<serde_json::Value>,
    Option<portcullis_store::Withdrawal>,
    Vec<Uuid>,
);

/// The parts of promotion `id`'s view: independent reads, side by side.
async fn parts(store: &Store, id: Uuid) -> Result<Parts, portcullis_store::Error> {
    tokio::try_join!(
        store.list_approvals(id),
        store.break_glass_review(id),
        store.approvals_voided(id),
        store.withdrawal(id),
        store.decision_ids(id),
    )
}

/// The view of `p` with its parts.
fn assemble(p: PromotionRecord, parts: Parts) -> PromotionView {
    let (approvals, break_glass, approvals_voided, withdrawal, decision_ids) = parts;
    let evidence_hash = crate::services::trust::evidence_hash(&p.evidence);
    let mut view = PromotionView::new(p, approvals);
    view.break_glass = break_glass;
    view.approvals_voided = approvals_voided;
    view.evidence_hash = Some(evidence_hash);
    view.withdrawn = withdrawal.map(|w| crate::views::WithdrawnView {
        at: w.withdrawn_at,
        by: w.withdrawn_by,
        reason: w.reason,
    });
    view.decision_ids = Some(decision_ids);
    view
}

/// The pending promotions `caller` may still approve: they hold the required group, did not
/// request it, have not voted on it, and hold the approver role on its route; newest first, at most `limit`.
pub async fn awaiting(
    store: &Store,
    caller: &crate::auth::Caller,
    limit: i64,
) -> Result<Vec<PromotionView>, PromotionError> {
    use crate::services::approvals::rules::{Ballot, check_vote};
    let page = store
        .list_promotions(Some(portcullis_core::PromotionState::PendingApproval), 500)
        .await?;
    let ids: Vec<Uuid> = page.iter().map(|p| p.id).collect();
    let mut votes = store.list_approvals_for(&ids).await?;
    let mut out = Vec::new();
    for p in page {
        let approvals = votes.remove(&p.id).unwrap_or_default();
        let may_vote = check_vote(&Ballot {
            promotion: p.id,
            requested_by: &p.requested_by,
            required: p.decision.required_approvals.as_ref(),
            voter: &caller.subject,
            voter_groups: &caller.groups,
            earlier: &approvals,
        })
        .is_ok()
            && caller.may_on(crate::auth::roles::VOTERS, &p.route);
        if may_vote {
            let evidence_hash = crate::services::trust::evidence_hash(&p.evidence);
            let mut view = PromotionView::new(p, approvals);
            view.evidence_hash = Some(evidence_hash);
            out.push(view);
            if out.len() as i64 >= limit {
                break;
            }
        }
    }
    Ok(out)
}
