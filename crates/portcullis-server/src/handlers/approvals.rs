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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// `approve` or `reject`.
    verdict: portcullis_core::Verdict,
    /// Why (at most 4096 bytes).
    comment: String,
    /// The `evidence_hash` of the promotion as the approver saw it (its GET shows it).
    #[schema(pattern = "^sha256:[0-9a-fA-F]{64}$")]
    evidence_hash: String,
}

/// Approve or reject a pending promotion.
///
/// `POST /v1/promotions/{id}/approvals`.
#[utoipa::path(
    post, path = "/v1/promotions/{id}/approvals", tag = "approvals", operation_id = "vote",
    security(("bearer" = ["approver", "admin"])),
    params(("id" = Uuid, Path, description = "The promotion's id")),
    request_body(content = VoteBody, example = crate::openapi::examples::vote),
    responses(
        (status = 200, description = "Counted: the promotion as it stands now (`promoting` once \
            the last required approval arrived, `rejected` on a reject)",
            body = crate::views::PromotionView, example = crate::openapi::examples::promotion),
        (status = 403, description = "`self_approval`: the requester cannot approve; \
            `missing_group`: the caller holds no group the requirement needs; `admin_barred`: \
            `approvals.bar_admins` is set; `route_not_allowed`: the caller may not use its route"),
        (status = 404, description = "`not_found`: no such promotion"),
        (status = 409, description = "`promotion_not_pending`: it is not `pending_approval`; \
            `already_voted`: the caller voted already; `evidence_changed`: the `evidence_hash` is \
            not the one shown now; `policy_changed`: judged again under a new policy; \
            `integrity_violation`: its stored record does not verify"),
        (status = 422, description = "`invalid_comment`: the comment holds a character not allowed; \
            `invalid_evidence_hash`: not `sha256:<64 hex digits>`"),
    )
)]
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
