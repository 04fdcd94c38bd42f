//! `/v1/promotions/{id}/break-glass` and `/v1/reviews`: emergency promotion and its review.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_core::TextKind;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, check_field};
use crate::handlers::promotions::parse_id;
use crate::services::break_glass;
use crate::state::AppState;

/// Longest justification or note, in bytes.
const MAX_TEXT: usize = 2000;

/// Body of a break-glass.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassBody {
    /// Why the gate is bypassed (required, at most 2000 bytes); auditors review it.
    justification: String,
}

/// Promote despite the policy or missing approvals.
///
/// `POST /v1/promotions/{id}/break-glass` (role `break-glass` only).
#[utoipa::path(
    post, path = "/v1/promotions/{id}/break-glass", tag = "break-glass",
    operation_id = "breakGlass",
    security(("bearer" = ["break-glass"])),
    params(("id" = Uuid, Path, description = "The promotion's id")),
    request_body(content = BreakGlassBody, example = json!({
        "justification": "INC-4711: payment outage, hotfix must ship before the scan service is back"
    })),
    responses(
        (status = 200, description = "Promoting; an auditor review is opened",
            body = crate::views::PromotionView),
        (status = 403, description = "`self_break_glass`: not on one's own request; \
            `route_not_allowed`: the caller may not use its route"),
        (status = 404, description = "`not_found`: no such promotion"),
        (status = 409, description = "`invalid_state`: only a `denied` or `pending_approval` \
            promotion can be forced"),
        (status = 422, description = "`invalid_justification`: empty, longer than 2000 bytes or \
            holding a character not allowed"),
    )
)]
pub async fn break_glass(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::BREAK_GLASS }>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BreakGlassBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let justification = body.justification.trim();
    if justification.is_empty() || justification.len() > MAX_TEXT {
        return Err(ApiError::unprocessable(
            "invalid_justification",
            format!("justification is required, at most {MAX_TEXT} bytes"),
        ));
    }
    check_field(
        "invalid_justification",
        "justification",
        justification,
        TextKind::Prose,
    )?;
    let view = break_glass::break_glass(&state, &caller, id, justification).await?;
    Ok(Json(view).into_response())
}

/// Query of `GET /v1/reviews`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// `open` (default) or `all`.
    state: Option<String>,
    /// At most this many (1–500, default 50).
    limit: Option<i64>,
}

/// List break-glass reviews.
///
/// `GET /v1/reviews?state=open|all&limit=` (auditor, admin).
#[utoipa::path(
    get, path = "/v1/reviews", tag = "break-glass", operation_id = "listReviews",
    security(("bearer" = ["auditor", "admin"])),
    params(ReviewQuery),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::schemas::ReviewList),
        (status = 400, description = "`invalid_query`: `state` other than `open` or `all`, or \
            `limit` out of 1–500"),
    )
)]
pub async fn reviews(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<Response, ApiError> {
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("state must be open or all, not {other:?}"),
            ));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let items = break_glass::reviews(&state, open_only, limit).await?;
    Ok(Json(serde_json::json!({ "reviews": items })).into_response())
}

/// Body of an acknowledgement.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    /// The auditor's note (at most 2000 bytes).
    #[serde(default)]
    note: String,
}

/// Acknowledge a break-glass review.
///
/// `POST /v1/reviews/{id}/acknowledge` (auditor).
#[utoipa::path(
    post, path = "/v1/reviews/{id}/acknowledge", tag = "break-glass",
    operation_id = "acknowledgeReview",
    security(("bearer" = ["auditor"])),
    params(("id" = Uuid, Path, description = "The review's id")),
    request_body(content = AcknowledgeBody, example = json!({
        "note": "INC-4711 post-mortem linked; scan passed after the fact"
    })),
    responses(
        (status = 200, description = "Acknowledged", body = portcullis_store::ReviewRecord),
        (status = 403, description = "`self_review`: not one's own break-glass"),
        (status = 404, description = "`not_found`: no such review"),
        (status = 409, description = "`already_acknowledged`: acknowledged already"),
        (status = 422, description = "`invalid_note`: longer than 2000 bytes or holding a \
            character not allowed"),
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::AUDITOR }>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AcknowledgeBody>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found(format!("no review {id:?}")))?;
    if body.note.len() > MAX_TEXT {
        return Err(ApiError::unprocessable(
            "invalid_note",
            format!("note is at most {MAX_TEXT} bytes"),
        ));
    }
    check_field("invalid_note", "note", &body.note, TextKind::Prose)?;
    let review = break_glass::acknowledge(&state, &caller, id, &body.note).await?;
    Ok(Json(review).into_response())
}
