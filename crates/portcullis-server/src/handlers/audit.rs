//! `/v1/audit`: the decision history, newest first, paged (`services::audit`).

use axum::Json;
use axum::extract::State;
use portcullis_core::TextKind;
use portcullis_store::AuditPage;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_field};
use crate::services::audit::{self, AuditQuery};
use crate::state::AppState;

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
    Ok(Json(audit::query(&state.store, q).await?))
}
