//! Break-glass: in an emergency a holder of the `break-glass` role promotes despite the
//! policy's deny or missing approvals. Never quietly: the actor may not be the requester, a
//! justification is required, the gate signs a decision statement of kind `break_glass` (the
//! copier accepts nothing else without votes), the event is audited on its own, and a review
//! item stays open until an auditor, not the actor, acknowledges it.

use chrono::{SubsecRound, Utc};
use portcullis_core::{AuditAction, PromotionState};
use portcullis_store::{NewAuditEvent, ReviewRecord, Store};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::services::promotions;
use crate::services::refusals;
use crate::services::trust::Release;
use crate::state::AppState;
use crate::views::PromotionView;

/// Why a break-glass or an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum BreakGlassError {
    /// No such promotion or review.
    #[error("no {what} {id}")]
    NotFound {
        /// `promotion` or `review`.
        what: &'static str,
        /// The id asked for.
        id: Uuid,
    },
    /// Only a denied or pending promotion can be forced.
    #[error(
        "promotion {id} is {state}; only denied or pending_approval promotions can be promoted by break-glass"
    )]
    InvalidState {
        /// The promotion.
        id: Uuid,
        /// Its state.
        state: PromotionState,
    },
    /// The requester cannot force their own promotion.
    #[error("the requester of a promotion cannot break the glass on it")]
    SelfBreakGlass,
    /// The caller's role is granted on other routes only (`auth.oidc[].roles[].routes`).
    #[error("the caller's role is not granted on route {0}")]
    RouteNotAllowed(String),
    /// The actor cannot acknowledge their own break-glass.
    #[error("the actor of a break-glass cannot acknowledge its review")]
    SelfReview,
    /// The review was already acknowledged.
    #[error("review {0} is already acknowledged")]
    AlreadyAcknowledged(Uuid),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// Signing the statement failed.
    #[error("signing: {0}")]
    Signing(#[from] portcullis_gate::Error),
}

impl BreakGlassError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::InvalidState { .. } => "invalid_state",
            Self::SelfBreakGlass => "self_break_glass",
            Self::SelfReview => "self_review",
            Self::RouteNotAllowed(_) => "route_not_allowed",
            Self::AlreadyAcknowledged(_) => "already_acknowledged",
            Self::Store(e) => crate::services::store_code(e),
            Self::Signing(_) => "internal",
        }
    }
}

/// Forces promotion `id` to `promoting` for `justification`, opening a review.
#[tracing::instrument(skip_all, fields(promotion.id = %id))]
pub async fn break_glass(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    justification: &str,
) -> Result<PromotionView, BreakGlassError> {
    let outcome = force(state, caller, id, justification).await;
    if let Err(e) = &outcome
        && matches!(
            e,
            BreakGlassError::InvalidState { .. }
                | BreakGlassError::SelfBreakGlass
                | BreakGlassError::RouteNotAllowed(_)
        )
    {
        let refusal = refusals::Refusal {
            action: AuditAction::BreakGlassRefused,
            code: e.code(),
            reason: e.to_string(),
        };
        refusals::audit(&state.store, caller, id, refusal, json!({})).await;
    }
    outcome
}

async fn force(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    justification: &str,
) -> Result<PromotionView, BreakGlassError> {
    let mut tx = state.store.begin().await?;
    let p = Store::lock_promotion(&mut tx, id)
        .await?
        .ok_or(BreakGlassError::NotFound {
            what: "promotion",
            id,
        })?;
    if !matches!(
        p.state,
        PromotionState::Denied | PromotionState::PendingApproval
    ) {
        return Err(BreakGlassError::InvalidState { id, state: p.state });
    }
    if !caller.may_on(crate::auth::roles::BREAK_GLASS, &p.route) {
        return Err(BreakGlassError::RouteNotAllowed(p.route.clone()));
    }
    if caller.subject == p.requested_by.to_lowercase() {
        return Err(BreakGlassError::SelfBreakGlass);
    }
    let at = Utc::now().trunc_subsecs(6);
    let route = state.routes.iter().find(|r| r.name == p.route);
    let release = Release::for_route(route, p.tag.as_ref());
    let statement =
        state
            .keys
            .sign_break_glass(&p, &release, &caller.subject, justification, at)?;
    Store::set_statement_envelope(&mut tx, id, &statement).await?;
    Store::set_promotion_state(&mut tx, id, PromotionState::Promoting, None, None).await?;
    let review =
        Store::open_break_glass_review(&mut tx, id, &caller.subject, justification, at).await?;
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action: AuditAction::BreakGlass,
                promotion_id: Some(id),
                digest: Some(p.digest.clone()),
                details: json!({
                    "justification": justification,
                    "previous_state": p.state,
                    "policy_allowed": p.decision.allow,
                    "review_id": review.id,
                }),
                request_id: caller.request_id.clone(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    tracing::warn!(promotion.id = %id, actor = %caller.subject, "BREAK-GLASS: promoting despite the policy or missing approvals");
    state.copy_wakeup.notify_one();
    let promotion = state
        .store
        .get_promotion(id)
        .await?
        .ok_or(BreakGlassError::NotFound {
            what: "promotion",
            id,
        })?;
    promotions::view(&state.store, promotion)
        .await
        .map_err(|e| match e {
            promotions::PromotionError::Store(s) => BreakGlassError::Store(s),
            other => BreakGlassError::Store(portcullis_store::Error::Corrupt(other.to_string())),
        })
}

/// Review items, newest first; only open ones when `open_only`.
pub async fn reviews(
    state: &AppState,
    open_only: bool,
    limit: i64,
) -> Result<Vec<ReviewRecord>, BreakGlassError> {
    Ok(state
        .store
        .list_reviews(open_only.then_some("open"), limit)
        .await?)
}

/// Acknowledges review `id` with `note`; the break-glass actor cannot acknowledge it.
pub async fn acknowledge(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    note: &str,
) -> Result<ReviewRecord, BreakGlassError> {
    let mut tx = state.store.begin().await?;
    let review = Store::lock_review(&mut tx, id)
        .await?
        .ok_or(BreakGlassError::NotFound { what: "review", id })?;
    if review.state != "open" {
        return Err(BreakGlassError::AlreadyAcknowledged(id));
    }
    if review.opened_by == caller.subject {
        return Err(BreakGlassError::SelfReview);
    }
    let at = Utc::now().trunc_subsecs(6);
    let done = Store::acknowledge_review(&mut tx, id, &caller.subject, note, at).await?;
    let digest = state
        .store
        .get_promotion(review.promotion_id)
        .await?
        .map(|p| p.digest);
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action: AuditAction::ReviewAcknowledged,
                promotion_id: Some(review.promotion_id),
                digest,
                details: json!({"review_id": id, "kind": review.kind, "note": note}),
                request_id: caller.request_id.clone(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    Ok(done)
}
