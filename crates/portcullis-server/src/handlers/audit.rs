//! `/v1/audit`: the decision history, newest first, paged.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use portcullis_core::TextKind;
use portcullis_store::{AuditFilter, AuditPage};
use serde::Deserialize;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_field};
use crate::state::AppState;

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    digest: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/audit`.
pub async fn query(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    for (field, value) in [
        ("digest", &q.digest),
        ("actor", &q.actor),
        ("action", &q.action),
        ("cursor", &q.cursor),
    ] {
        if let Some(v) = value {
            check_field("invalid_query", field, v, TextKind::Line)?;
        }
    }
    let digest = q
        .digest
        .as_deref()
        .map(str::parse::<portcullis_core::Digest>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let action = q
        .action
        .as_deref()
        .map(str::parse::<portcullis_core::AuditAction>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let before_seq = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_query", "cursor is not valid"))
        })
        .transpose()?;
    let filter = AuditFilter {
        digest,
        actor: q.actor,
        action,
        since: q.since,
        until: q.until,
        before_seq,
        limit,
    };
    Ok(Json(state.store.query_audit(&filter).await?))
}
