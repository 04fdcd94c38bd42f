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
    let p = store
        .get_promotion(id)
        .await?
        .ok_or(PromotionError::NotFound(id))?;
    view(store, p).await
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

/// Attaches the votes (and a break-glass, if any) to a promotion record.
pub async fn view(store: &Store, p: PromotionRecord) -> Result<PromotionView, PromotionError> {
    let approvals = store.list_approvals(p.id).await?;
    let break_glass = store.break_glass_review(p.id).await?;
    let mut view = PromotionView::new(p, approvals);
    view.break_glass = break_glass;
    Ok(view)
}
