//! `/v1/waivers`: governed exceptions. An approver creates a waiver, a second approver
//! confirms it, an approver or admin revokes it; approvers, auditors and admins read them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::WaiverState;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::services::waivers::{self, RevokeRequest, WaiverRequest};
use crate::state::AppState;

const READERS: u8 = roles::APPROVER | roles::AUDITOR | roles::ADMIN;

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no waiver {id:?}")))
}

/// Propose a waiver.
///
/// `POST /v1/waivers` (approver): `{kind, id, scope, expires_at, justification}`; 201 with
/// the waiver, `pending` until a second approver confirms it.
#[utoipa::path(
    post, path = "/v1/waivers", tag = "waivers", operation_id = "createWaiver",
    security(("bearer" = ["approver"])),
    request_body(content = WaiverRequest, example = crate::openapi::examples::waiver_request),
    responses(
        (status = 201, description = "Created, `pending` until a second approver confirms it",
            body = portcullis_store::WaiverRecord, example = crate::openapi::examples::waiver),
        (status = 422, description = "`invalid_kind`, `invalid_id`, `invalid_scope`, \
            `invalid_expires_at`, `invalid_justification`: a field is missing or not usable \
            (`expires_at` must be ahead, within `waivers.max_days`)"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::APPROVER }>,
    ApiJson(body): ApiJson<WaiverRequest>,
) -> Result<Response, ApiError> {
    let waiver = waivers::create(&state, &caller, &body).await?;
    Ok((StatusCode::CREATED, Json(waiver)).into_response())
}

/// Confirm a pending waiver (a second approver).
///
/// `POST /v1/waivers/{id}/confirm` (an approver other than the creator).
#[utoipa::path(
    post, path = "/v1/waivers/{id}/confirm", tag = "waivers", operation_id = "confirmWaiver",
    security(("bearer" = ["approver"])),
    params(("id" = Uuid, Path, description = "The waiver's id")),
    responses(
        (status = 200, description = "Active", body = portcullis_store::WaiverRecord),
        (status = 403, description = "`self_confirm`: its creator cannot confirm it"),
        (status = 404, description = "`not_found`: no such waiver"),
        (status = 409, description = "`waiver_not_pending`: it is not `pending`"),
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::APPROVER }>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(waivers::confirm(&state, &caller, id).await?).into_response())
}

/// Revoke a waiver.
///
/// `POST /v1/waivers/{id}/revoke` (approver or admin): `{reason}`.
#[utoipa::path(
    post, path = "/v1/waivers/{id}/revoke", tag = "waivers", operation_id = "revokeWaiver",
    security(("bearer" = ["approver", "admin"])),
    params(("id" = Uuid, Path, description = "The waiver's id")),
    request_body(content = RevokeRequest, example = json!({
        "reason": "the January base image fixes it; no longer needed"
    })),
    responses(
        (status = 200, description = "Revoked", body = portcullis_store::WaiverRecord),
        (status = 404, description = "`not_found`: no such waiver"),
        (status = 409, description = "`waiver_not_revocable`: it is revoked or expired already"),
        (status = 422, description = "`invalid_reason`: missing, too long or holding a \
            character not allowed"),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::APPROVER | roles::ADMIN }>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(waivers::revoke(&state, &caller, id, &body).await?).into_response())
}

/// Show a waiver.
///
/// `GET /v1/waivers/{id}` (approver, auditor, admin).
#[utoipa::path(
    get, path = "/v1/waivers/{id}", tag = "waivers", operation_id = "getWaiver",
    security(("bearer" = ["approver", "auditor", "admin"])),
    params(("id" = Uuid, Path, description = "The waiver's id")),
    responses(
        (status = 200, description = "The waiver", body = portcullis_store::WaiverRecord,
            example = crate::openapi::examples::waiver),
        (status = 404, description = "`not_found`: no such waiver"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<READERS>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(waivers::get(&state, id).await?).into_response())
}

/// Query of `GET /v1/waivers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending`, `active`, `revoked`, `expired` or `all` (default).
    state: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// List waivers.
///
/// `GET /v1/waivers?state=pending|active|revoked|expired|all&limit=` (approver, auditor,
/// admin); default `all`, 100.
#[utoipa::path(
    get, path = "/v1/waivers", tag = "waivers", operation_id = "listWaivers",
    security(("bearer" = ["approver", "auditor", "admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::schemas::WaiverList),
        (status = 400, description = "`invalid_query`: an unknown state, or `limit` out of 1–500"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<READERS>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = match q.state.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(s.parse::<WaiverState>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("state must be pending, active, revoked, expired or all, not {s:?}"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let items = waivers::list(&state, filter, limit).await?;
    Ok(Json(serde_json::json!({ "waivers": items })).into_response())
}
