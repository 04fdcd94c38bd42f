//! `/v1/promotions`: request, show, list, retry and withdraw promotions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_core::TextKind;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, check_field};
use crate::services::promotions::{self, Outcome, PromotionRequest};
use crate::services::{watch, withdrawal};
use crate::state::AppState;
use crate::views::PromotionView;

const READERS: u8 = roles::CI | roles::APPROVER | roles::AUDITOR | roles::ADMIN;
const REQUESTERS: u8 = roles::CI | roles::ADMIN;

/// Request a promotion.
///
/// `POST /v1/promotions`: the policy judges the image's evidence (its signatures and
/// attestations, and the documents sent); an allowed promotion waits for its approvals, then
/// the copy worker copies it by digest.
#[utoipa::path(
    post, path = "/v1/promotions", tag = "promotions", operation_id = "createPromotion",
    security(("bearer" = ["ci", "admin"])),
    request_body(content = PromotionRequest, example = crate::openapi::examples::promotion_request),
    responses(
        (status = 201, description = "Requested and judged: `pending_approval`, `promoting` or \
            `denied` (the verdict says why)", body = PromotionView,
            example = crate::openapi::examples::promotion),
        (status = 200, description = "The open promotion for the same digest, route and tag, \
            or with `dry_run` the verdict and the policy input (nothing stored)",
            body = crate::openapi::schemas::ExistingOrDryRun,
            example = crate::openapi::examples::dry_run),
        (status = 403, description = "`route_not_allowed`: the caller may not use this route"),
        (status = 409, description = "`conflicting_open_promotion`: another digest is open for \
            this destination tag; `tag_exists`: the tag exists and is immutable; `conflict`: a \
            concurrent change"),
        (status = 422, description = "`invalid_source`, `invalid_digest`, `invalid_tag`, \
            `unknown_route`, `source_outside_route`: a field is not usable; `source_not_found`: \
            the source image does not exist; `invalid_evidence`, `unknown_evidence_format`, \
            `evidence_too_large`: an evidence document is refused"),
        (status = 502, description = "`registry_unavailable`: a registry could not be read"),
        (status = 504, description = "`registry_timeout`: a registry did not answer in time"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized<REQUESTERS>,
    ApiJson(body): ApiJson<PromotionRequest>,
) -> Result<Response, ApiError> {
    for (field, value) in body.text_fields() {
        check_field("invalid_body", field, value, TextKind::Line)?;
    }
    Ok(match promotions::request(&state, &caller, body).await? {
        Outcome::Created(p) => (StatusCode::CREATED, Json(p)).into_response(),
        Outcome::Existing(p) => (StatusCode::OK, Json(p)).into_response(),
        Outcome::DryRun(body) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    })
}

/// Query of `GET /v1/promotions/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Wait up to this long for the state to change (long poll).
    wait_seconds: Option<u64>,
    /// The state the caller last saw (with `wait_seconds`); default: the state now.
    state: Option<String>,
}

/// Show a promotion (optionally long-polling for a change).
///
/// `GET /v1/promotions/{id}[?wait_seconds=N[&state=S]]`: with `wait_seconds`, answers as soon
/// as the state differs from `state` (default: the state when the request arrived), or
/// after N seconds with the view then.
#[utoipa::path(
    get, path = "/v1/promotions/{id}", tag = "promotions", operation_id = "getPromotion",
    security(("bearer" = ["ci", "approver", "auditor", "admin"])),
    params(("id" = Uuid, Path, description = "The promotion's id"), ShowQuery),
    responses(
        (status = 200, description = "The promotion, with its `evidence_hash`, decisions, \
            break-glass and withdrawal", body = PromotionView,
            example = crate::openapi::examples::promotion),
        (status = 400, description = "`invalid_query`: `wait_seconds` out of range, `state` \
            without `wait_seconds`, or an unknown state"),
        (status = 404, description = "`not_found`: no such promotion"),
        (status = 422, description = "`invalid_query`: `state` holds a character not allowed"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<READERS>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Some(wait) = q.wait_seconds else {
        if q.state.is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                "state names the state to wait out; it needs wait_seconds",
            ));
        }
        return Ok(Json(promotions::get(&state.store, id).await?).into_response());
    };
    let longest = state.max_wait.as_secs();
    if !(1..=longest).contains(&wait) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "wait_seconds must be between 1 and {longest} (under http.request_timeout_seconds)"
            ),
        ));
    }
    if let Some(s) = &q.state {
        check_field("invalid_query", "state", s, TextKind::Line)?;
    }
    let seen = q
        .state
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}")))?;
    let view = watch::wait(&state, id, seen, std::time::Duration::from_secs(wait)).await?;
    Ok(Json(view).into_response())
}

/// Query of `GET /v1/promotions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only promotions in this state (`denied`, `pending_approval`, `rejected`, `promoting`,
    /// `promoted`, `failed`, `expired`).
    state: Option<String>,
    /// At most this many, newest first (1–500, default 50).
    limit: Option<i64>,
    /// `me`: only pending promotions the caller may still approve.
    awaiting: Option<String>,
}

/// List promotions, or those awaiting the caller's approval.
///
/// `GET /v1/promotions?state=&limit=` or `?awaiting=me`.
#[utoipa::path(
    get, path = "/v1/promotions", tag = "promotions", operation_id = "listPromotions",
    security(("bearer" = ["ci", "approver", "auditor", "admin"])),
    params(ListQuery),
    responses(
        (status = 200, description = "Newest first", body = crate::openapi::schemas::PromotionList,
            example = crate::openapi::examples::promotion_list),
        (status = 400, description = "`invalid_query`: an unknown state, `limit` out of 1–500, \
            `awaiting` other than `me`, or `awaiting` with `state`"),
        (status = 422, description = "`invalid_query`: `state` holds a character not allowed"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized<READERS>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    if let Some(s) = &q.state {
        check_field("invalid_query", "state", s, TextKind::Line)?;
    }
    let filter = q
        .state
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}")))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let items = match q.awaiting.as_deref() {
        None => promotions::list(&state.store, filter, limit).await?,
        Some("me") if filter.is_none() => {
            promotions::awaiting(&state.store, &caller, limit).await?
        }
        Some("me") => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "awaiting=me lists pending_approval promotions; do not combine it with state",
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("awaiting must be me, not {other:?}"),
            ));
        }
    };
    Ok(Json(serde_json::json!({ "promotions": items })).into_response())
}

/// Parses a promotion id path segment.
pub fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no promotion {id:?}")))
}

/// Retry a failed copy.
///
/// `POST /v1/promotions/{id}/retry`: re-queue a failed copy (its requester or an admin).
#[utoipa::path(
    post, path = "/v1/promotions/{id}/retry", tag = "promotions", operation_id = "retryPromotion",
    security(("bearer" = ["ci", "admin"])),
    params(("id" = Uuid, Path, description = "The promotion's id")),
    responses(
        (status = 200, description = "Back in the copy queue (`promoting`)", body = PromotionView),
        (status = 403, description = "`not_requester`: only its requester or an admin; \
            `route_not_allowed`: the caller may not use its route"),
        (status = 404, description = "`not_found`: no such promotion"),
        (status = 409, description = "`promotion_not_failed`: it is not `failed`; `policy_changed`: \
            the policy changed since it was judged; `conflict`: a concurrent change"),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::CI | roles::ADMIN }>,
    Path(id): Path<String>,
) -> Result<Json<PromotionView>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(promotions::retry(&state, &caller, id).await?))
}

/// Body of `POST /v1/promotions/{id}/withdraw`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    /// Why the image must no longer run.
    #[schema(example = "CVE-2024-3094 found after release; replaced by v1.8.1")]
    reason: String,
}

/// Withdraw a promoted image.
///
/// `POST /v1/promotions/{id}/withdraw` (admin): admission refuses the image from now on.
#[utoipa::path(
    post, path = "/v1/promotions/{id}/withdraw", tag = "promotions",
    operation_id = "withdrawPromotion",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The promotion's id")),
    request_body(content = WithdrawBody, example = json!({
        "reason": "CVE-2024-3094 found after release; replaced by v1.8.1"
    })),
    responses(
        (status = 200, description = "Withdrawn: the view shows `withdrawn`", body = PromotionView),
        (status = 404, description = "`not_found`: no such promotion"),
        (status = 409, description = "`not_promoted`: it was never promoted; \
            `already_withdrawn`: it is withdrawn already"),
        (status = 422, description = "`invalid_reason`: the reason is empty, too long or holds a \
            character not allowed"),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::ADMIN }>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WithdrawBody>,
) -> Result<Json<PromotionView>, ApiError> {
    let id = parse_id(&id)?;
    withdrawal::withdraw(&state, &caller, id, &body.reason).await?;
    Ok(Json(promotions::get(&state.store, id).await?))
}
