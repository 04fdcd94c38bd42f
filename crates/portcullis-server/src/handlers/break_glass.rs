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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassBody {
    justification: String,
}

/// `POST /v1/promotions/{id}/break-glass` (role `break-glass` only).
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    state: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/reviews?state=open|all&limit=` (auditor, admin).
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    #[serde(default)]
    note: String,
}

/// `POST /v1/reviews/{id}/acknowledge` (auditor).
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
