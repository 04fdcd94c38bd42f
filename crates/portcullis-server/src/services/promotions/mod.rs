//! Requesting promotions: validate everything first, resolve the digest, evaluate, then
//! write the promotion and its audit events in one transaction. A repeated request for an
//! open digest and route returns the open promotion.
//!
//! `validate` checks the body, `record` writes, `rejudge` judges a pending promotion again
//! (policy or waiver change), `read` shows promotions with their votes, `retry` re-queues a
//! failed copy, `rollback` points a channel tag back at an earlier promoted digest;
//! `tag_probe` remembers destination tags for dry runs; `error` is this area's `PromotionError`.

mod error;
mod read;
mod record;
mod rejudge;
mod retry;
mod rollback;
pub mod tag_probe;
mod validate;

use portcullis_core::{PromotionKind, PromotionState};
use portcullis_policy::RequestInfo;
use portcullis_store::NewPromotion;
use uuid::Uuid;

pub use error::{PromotionError, RegistryEnd};
pub use read::{awaiting, get, get_with_evidence, list, view};
pub use rejudge::rejudge_after_reload;
pub(crate) use rejudge::rejudge_locked;
pub use rejudge::{Cause, Rejudged};
pub use retry::retry;
pub use rollback::{RollbackRequest, rollback};
pub use validate::PromotionRequest;

use crate::auth::Caller;
use crate::services::evidence;
use crate::state::AppState;
use crate::views::{DryRunView, PromotionView};

/// What a request produced.
pub enum Outcome {
    /// A new promotion (201).
    Created(PromotionView),
    /// The open promotion for the same digest and route (200).
    Existing(PromotionView),
    /// A dry run's verdict (200), already serialised to JSON: the input document it carries
    /// can be megabytes, so it is written on the blocking pool, not the executor.
    DryRun(Vec<u8>),
}

/// Handles a promotion request end to end.
#[tracing::instrument(
    skip_all,
    fields(promotion.route = %req.route, promotion.dry_run = req.dry_run, image.digest = tracing::field::Empty)
)]
pub async fn request(
    state: &AppState,
    caller: &Caller,
    mut req: PromotionRequest,
) -> Result<Outcome, PromotionError> {
    let v = validate::validate(state, caller, &mut req).await?;
    let digest = state
        .gate
        .collector
        .resolve(&state.registry, &v.source)
        .await
        .map_err(|source| PromotionError::Registry {
            end: RegistryEnd::Source,
            source,
        })?;
    tracing::Span::current().record("image.digest", tracing::field::display(&digest));
    if let Some(tag) = &v.tag
        && !v.route.may_move(Some(tag))
    {
        validate::tag_is_free(state, &v, tag, &digest, req.dry_run).await?;
    }
    if !req.dry_run
        && let Some(open) = state
            .store
            .find_open_promotion(&digest, &v.route.name)
            .await?
        && !record::supersede_if_stale(state, &open, caller).await?
    {
        validate::same_request(&open, &v.dest, v.tag.as_ref())?;
        return Ok(Outcome::Existing(view(&state.store, open).await?));
    }
    let source = v.source.with_digest(digest.clone());
    let request_info = RequestInfo {
        destination: v.destination.clone(),
        dry_run: req.dry_run,
        kind: PromotionKind::Promotion,
        requested_by: caller.subject.clone(),
        route: v.route.name.clone(),
        tag: v.tag.as_ref().map(|t| t.as_str().to_owned()),
    };
    let waivers = crate::services::waivers::applying(&state.store, &v.source, &digest).await?;
    let eval = evidence::evaluate(
        &state.gate,
        &source,
        &digest,
        v.documents,
        request_info,
        waivers,
    )
    .await?;
    state.metrics.decision(
        eval.decision.allow,
        req.dry_run,
        eval.decision.violations.iter().map(|v| v.rule.clone()),
    );
    if req.dry_run {
        let view = DryRunView {
            dry_run: true,
            digest: digest.to_string(),
            destination: v.destination,
            decision: eval.decision,
            policy_digest: eval.policy_digest.to_string(),
        };
        // The input's JSON text is spliced in as written, never parsed or printed again.
        return Ok(Outcome::DryRun(view.to_json(&eval.input)?));
    }
    let evidence = eval.input_value()?;
    let judgement = eval.judgement()?;
    let new = NewPromotion {
        id: Uuid::new_v4(),
        state: if eval.decision.allow {
            PromotionState::PendingApproval
        } else {
            PromotionState::Denied
        },
        source: v.source,
        digest: digest.clone(),
        route: v.route.name.clone(),
        destination: v.dest,
        tag: v.tag,
        requested_by: caller.subject.clone(),
        decision: eval.decision,
        evidence,
        policy_digest: eval.policy_digest,
        kind: PromotionKind::Promotion,
    };
    match record::insert(state, caller, &new, &judgement, serde_json::json!({})).await {
        Ok(()) => {}
        Err(PromotionError::Store(portcullis_store::Error::Conflict(_))) => {
            // A concurrent identical request won the race; return its promotion.
            if let Some(open) = state.store.find_open_promotion(&digest, &new.route).await? {
                validate::same_request(&open, &new.destination, new.tag.as_ref())?;
                return Ok(Outcome::Existing(view(&state.store, open).await?));
            }
            return Err(PromotionError::ConcurrentChange);
        }
        Err(e) => return Err(e),
    }
    tracing::info!(promotion.id = %new.id, image.digest = %digest, promotion.state = %new.state, "promotion requested");
    Ok(Outcome::Created(get(&state.store, new.id).await?))
}
