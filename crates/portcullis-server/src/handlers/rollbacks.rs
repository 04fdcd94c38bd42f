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

/// `POST /v1/rollbacks`: 201 with the new rollback (a promotion of kind `rollback`), 200 with
/// the open one for the same digest, route and channel tag.
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
