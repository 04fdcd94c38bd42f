//! `/v1/audit`: the decision history, newest first, paged (`services::audit`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use portcullis_core::TextKind;
use portcullis_store::AuditPage;
use serde::Deserialize;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_field};
use crate::services::audit;
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
    let query = audit::AuditQuery {
        digest: q.digest,
        actor: q.actor,
        action: q.action,
        since: q.since,
        until: q.until,
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(audit::query(&state.store, query).await?))
}
