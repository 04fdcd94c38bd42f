//! `/v1/webhooks/deliveries`: where each webhook event stands with each subscriber.

use axum::Json;
use axum::extract::State;
use portcullis_store::DeliveryRecord;
use serde::Deserialize;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// `?state=pending|delivered|dead&promotion=<id>&limit=` (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead`.
    state: Option<String>,
    /// Only events about this promotion (its id).
    promotion: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// Where each webhook event stands with each subscriber.
///
/// `GET /v1/webhooks/deliveries` (auditor, admin): newest first, at most `limit` (1–500,
/// default 100).
#[utoipa::path(
    get, path = "/v1/webhooks/deliveries", tag = "webhooks", operation_id = "webhookDeliveries",
    security(("bearer" = ["auditor", "admin"])),
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::schemas::DeliveryList),
        (status = 400, description = "`invalid_query`: an unknown state, a promotion that is not \
            an id, or `limit` out of 1–500"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bad = |detail: String| ApiError::bad_request("invalid_query", detail);
    let wanted = match q.state.as_deref() {
        None => None,
        Some(s @ ("pending" | "delivered" | "dead")) => Some(s),
        Some(other) => {
            return Err(bad(format!(
                "state must be pending, delivered or dead, not {other:?}"
            )));
        }
    };
    let promotion = q
        .promotion
        .as_deref()
        .map(uuid::Uuid::parse_str)
        .transpose()
        .map_err(|_| bad("promotion must be a promotion id".into()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(bad("limit must be between 1 and 500".into()));
    }
    let list: Vec<DeliveryRecord> =
        crate::services::webhooks::deliveries(&state.store, wanted, promotion, limit).await?;
    Ok(Json(serde_json::json!({ "deliveries": list })))
}
