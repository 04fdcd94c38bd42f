//! `/v1/rollbacks`: point a route's channel tag back at a digest promoted before.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::TextKind;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, check_field};
use crate::services::promotions::{self, Outcome, RollbackRequest};
use crate::state::AppState;

/// Who may request a rollback: those who may request a promotion.
const REQUESTERS: u8 = roles::CI | roles::ADMIN;

/// Point a channel tag back at a digest promoted before.
///
/// `POST /v1/rollbacks`: 201 with the new rollback (a promotion of kind `rollback`), 200 with
/// the open one for the same digest, route and channel tag.
#[utoipa::path(
    post, path = "/v1/rollbacks", tag = "promotions", operation_id = "createRollback",
    security(("bearer" = ["ci", "admin"])),
    request_body(content = RollbackRequest, example = crate::openapi::examples::rollback_request),
    responses(
        (status = 201, description = "Requested: a promotion of `kind: rollback`",
            body = crate::views::PromotionView),
        (status = 200, description = "The open rollback for the same digest, route and tag",
            body = crate::views::PromotionView),
        (status = 403, description = "`route_not_allowed`: the caller may not use this route"),
        (status = 409, description = "`not_promoted_on_route`: the digest was not promoted on \
            this route and repository (or was withdrawn); `missing_in_production`: a manifest or \
            blob is gone from production; `conflicting_open_promotion`: another digest is open \
            for this tag; `conflict`: a concurrent change"),
        (status = 422, description = "`unknown_route`, `invalid_repository`, \
            `repository_outside_route`, `invalid_digest`, `invalid_tag`, `not_a_channel_tag`: a \
            field is not usable"),
        (status = 502, description = "`registry_unavailable`: production could not be read"),
        (status = 504, description = "`registry_timeout`: production did not answer in time"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized<REQUESTERS>,
    ApiJson(body): ApiJson<RollbackRequest>,
) -> Result<Response, ApiError> {
    for (field, value) in body.text_fields() {
        check_field("invalid_body", field, value, TextKind::Line)?;
    }
    Ok(match promotions::rollback(&state, &caller, body).await? {
        Outcome::Existing(p) => (StatusCode::OK, Json(p)).into_response(),
        Outcome::Created(p) => (StatusCode::CREATED, Json(p)).into_response(),
        // A rollback has no dry run; answered as a promotion's would be.
        Outcome::DryRun(body) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    })
}
