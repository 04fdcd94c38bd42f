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

/// Page through the audit log, newest first.
///
/// `GET /v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit", operation_id = "queryAudit",
    security(("bearer" = ["auditor", "admin"])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page", body = AuditPage,
            example = crate::openapi::examples::audit_page),
        (status = 400, description = "`invalid_query`: a bad digest, action, time range, \
            `limit` or `cursor`"),
        (status = 422, description = "`invalid_query`: a field holds a character not allowed"),
    )
)]
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

/// Verify the audit chain against the witnessed checkpoints.
///
/// `GET /v1/audit/verify`: the log checked against itself and the witnessed checkpoints,
/// from the newest checkpoint verified before (`services::audit_verify`).
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit", operation_id = "verifyAudit",
    security(("bearer" = ["auditor", "admin"])),
    responses(
        (status = 200, description = "The verdict (`ok: false` names the first bad event)",
            body = VerifyReport, example = crate::openapi::examples::verify_report),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
) -> Result<Json<VerifyReport>, ApiError> {
    Ok(Json(audit_verify::verify(&state).await?))
}

/// The witnessed checkpoints, as JSON lines.
///
/// `GET /v1/audit/checkpoints`: the witnessed checkpoints, oldest first, as the witness
/// file holds them (JSON lines `{seq, head_hash, time, key_id, signature}`), to keep outside
/// the gate's infrastructure: `portcullis audit verify --checkpoints FILE` reads them back.
#[utoipa::path(
    get, path = "/v1/audit/checkpoints", tag = "audit", operation_id = "auditCheckpoints",
    security(("bearer" = ["auditor", "admin"])),
    responses(
        (status = 200, description = "One `Checkpoint` JSON object per line, oldest first",
            content_type = "application/x-ndjson", body = portcullis_gate::Checkpoint),
    )
)]
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

/// Export the audit log, streamed in chain order.
///
/// `GET /v1/audit/export?format=jsonl|csv&since=&until=&digest=`: every matching event in
/// chain order with its hash, streamed (`services::audit_export`).
#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit", operation_id = "exportAudit",
    security(("bearer" = ["auditor", "admin"])),
    params(crate::services::audit_export::ExportQuery),
    responses(
        (status = 200, description = "`jsonl`: one `AuditEvent` per line; `csv`: RFC 4180 with a \
            header, `details` as JSON text", content(
            (portcullis_store::AuditEvent = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_query`: a bad format, digest or time range"),
        (status = 422, description = "`invalid_query`: a field holds a character not allowed"),
    )
)]
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
