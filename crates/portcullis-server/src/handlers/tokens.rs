//! `/v1/tokens`: just-in-time tokens minted by an admin. A `ci` or `auditor` token works at
//! once; an `approver` or `break-glass` token works only after a second admin confirms it, so
//! no single admin can grant the power to approve or to break the glass. Every token minted
//! here expires (`tokens.max_ttl_hours`), and both steps are audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use portcullis_core::{AuditAction, GroupName, Role, Subject};
use portcullis_store::NewAuditEvent;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Authorized, Caller, mint_token, roles};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintBody {
    /// Who the token speaks for.
    subject: String,
    /// `ci`, `approver`, `auditor`, `break-glass` or `admission` (not `admin`).
    role: String,
    /// The approver groups it holds.
    #[serde(default)]
    groups: Vec<String>,
    /// Lifetime: at least 60, at most `tokens.max_ttl_hours`.
    ttl_seconds: u64,
}

fn invalid(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, detail)
}

async fn audit(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .store
        .append_audit_now(&NewAuditEvent {
            actor: caller.subject.clone(),
            action,
            promotion_id: None,
            digest: None,
            details,
            request_id: caller.request_id.clone(),
        })
        .await?;
    Ok(())
}

/// Mint an expiring token.
///
/// `POST /v1/tokens` (admin): `{subject, role, groups?, ttl_seconds}`.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "tokens", operation_id = "mintToken",
    security(("bearer" = ["admin"])),
    request_body(content = MintBody, example = crate::openapi::examples::mint_request),
    responses(
        (status = 201, description = "Minted; the secret is shown only here. An `approver` or \
            `break-glass` token works once a second admin confirms it",
            body = crate::openapi::schemas::MintedToken, example = crate::openapi::examples::minted),
        (status = 422, description = "`invalid_subject`, `invalid_role`, `invalid_group`, \
            `invalid_ttl`: a field is not usable (`admin` tokens are not minted here)"),
    )
)]
pub async fn mint(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::ADMIN }>,
    ApiJson(body): ApiJson<MintBody>,
) -> Result<Response, ApiError> {
    let subject: Subject = body
        .subject
        .parse()
        .map_err(|e| invalid("invalid_subject", format!("{e}")))?;
    let role: Role = body
        .role
        .parse()
        .map_err(|e| invalid("invalid_role", format!("{e}")))?;
    if role == Role::Admin {
        return Err(invalid(
            "invalid_role",
            "admin tokens are not minted through the API; use `portcullis token create`",
        ));
    }
    let groups = body
        .groups
        .iter()
        .map(|g| g.parse::<GroupName>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("invalid_group", format!("{e}")))?;
    let max = state.token_max_ttl.as_secs();
    if body.ttl_seconds < 60 || body.ttl_seconds > max {
        return Err(invalid(
            "invalid_ttl",
            format!("ttl_seconds must be between 60 and {max} (tokens.max_ttl_hours)"),
        ));
    }
    let expires_at =
        Utc::now() + chrono::Duration::seconds(i64::try_from(body.ttl_seconds).unwrap_or(i64::MAX));
    let awaiting = matches!(role, Role::Approver | Role::BreakGlass);
    let (id, secret) = mint_token(
        &state.store,
        &state.keys,
        &subject,
        role,
        groups.clone(),
        Some(expires_at),
        Some(caller.subject.clone()),
        awaiting,
    )
    .await?;
    audit(
        &state,
        &caller,
        AuditAction::TokenCreated,
        json!({"token_id": id, "subject": subject.as_str(), "role": role, "groups": groups,
               "expires_at": expires_at, "awaiting_confirmation": awaiting}),
    )
    .await?;
    let view = json!({
        "id": id, "token": secret, "subject": subject.as_str(), "role": role, "groups": groups,
        "expires_at": expires_at,
        "state": if awaiting { "awaiting_confirmation" } else { "active" },
    });
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Confirm an approver or break-glass token (a second admin).
///
/// `POST /v1/tokens/{id}/confirm` (admin other than the one who minted it).
#[utoipa::path(
    post, path = "/v1/tokens/{id}/confirm", tag = "tokens", operation_id = "confirmToken",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Active", body = crate::openapi::schemas::ConfirmedToken),
        (status = 403, description = "`self_confirmation`: the admin who minted it cannot confirm it"),
        (status = 404, description = "`not_found`: no such token"),
        (status = 409, description = "`not_awaiting_confirmation`: it is active or revoked"),
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::ADMIN }>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found(format!("no token {id:?}")))?;
    let grant = state
        .store
        .token_grant(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no token {id}")))?;
    if grant.created_by.as_deref() == Some(caller.subject.as_str()) {
        return Err(ApiError::forbidden(
            "self_confirmation",
            "the admin who minted a token cannot confirm it",
        ));
    }
    if !grant.awaiting_confirmation || grant.revoked {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_awaiting_confirmation",
            format!("token {id} is not awaiting confirmation"),
        ));
    }
    if !state.store.confirm_token(id, &caller.subject).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_awaiting_confirmation",
            format!("token {id} is not awaiting confirmation"),
        ));
    }
    audit(
        &state,
        &caller,
        AuditAction::TokenConfirmed,
        json!({"token_id": id, "subject": grant.subject, "role": grant.role,
               "minted_by": grant.created_by}),
    )
    .await?;
    Ok(
        Json(json!({"id": id, "subject": grant.subject, "role": grant.role, "state": "active"}))
            .into_response(),
    )
}
