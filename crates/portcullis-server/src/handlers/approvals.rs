//! `/v1/promotions/{id}/approvals`: approvers vote.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use portcullis_core::TextKind;
use serde::Deserialize;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, check_field};
use crate::handlers::promotions::parse_id;
use crate::services::approvals;
use crate::state::AppState;

/// Body of a vote.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    verdict: portcullis_core::Verdict,
    comment: String,
    /// The `evidence_hash` of the promotion as the approver saw it (its GET shows it).
    evidence_hash: String,
}

/// `POST /v1/promotions/{id}/approvals`.
pub async fn vote(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::VOTERS }>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoteBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    check_field("invalid_comment", "comment", &body.comment, TextKind::Prose)?;
    if body.comment.len() > 4096 {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "comment is longer than 4096 bytes",
        ));
    }
    let well_formed = body
        .evidence_hash
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(ApiError::unprocessable(
            "invalid_evidence_hash",
            "evidence_hash must be the sha256:<64 hex digits> the promotion's GET shows",
        ));
    }
    let view = approvals::vote(
        &state,
        &caller,
        id,
        body.verdict,
        &body.comment,
        &body.evidence_hash.to_ascii_lowercase(),
    )
    .await?;
    Ok(Json(view).into_response())
}
