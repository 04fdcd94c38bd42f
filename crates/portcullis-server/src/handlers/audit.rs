//! `/v1/audit`: the decision history, newest first, paged (`services::audit`).

use axum::Json;
use axum::extract::State;
use portcullis_core::TextKind;
use portcullis_store::AuditPage;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiQuery, check_field};
use crate::services::audit::{self, AuditQuery};
use crate::services::audit_verify::{self, VerifyReport};
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

/// `GET /v1/audit/verify`: the log checked against itself and the witnessed checkpoints,
/// from the newest checkpoint verified before (`services::audit_verify`).
pub async fn verify(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(audit_verify::verify(&state).await?))
}

/// `GET /v1/audit/checkpoints`: the witnessed checkpoints, oldest first, as the witness
/// file holds them (JSON lines `{seq, head_hash, time, key_id, signature}`), to keep outside
/// the gate's infrastructure: `portcullis audit verify --checkpoints FILE` reads them back.
pub async fn checkpoints(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let mut body = String::new();
    for cp in audit_verify::checkpoints(&state).await? {
        let line = serde_json::to_string(&cp).map_err(|e| ApiError::internal(&e))?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// `GET /v1/audit/export?format=jsonl|csv&since=&until=&digest=`: every matching event in
/// chain order with its hash, streamed (`services::audit_export`).
pub async fn export(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    ApiQuery(q): ApiQuery<crate::services::audit_export::ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    for (field, value) in [("digest", &q.digest), ("format", &q.format)] {
        if let Some(v) = value {
            check_field("invalid_query", field, v, TextKind::Line)?;
        }
    }
    let export = crate::services::audit_export::check(q)?;
    let content_type = export.format.content_type();
    let body = crate::services::audit_export::stream(state.store.clone(), export);
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        axum::body::Body::new(body),
    )
        .into_response())
}
