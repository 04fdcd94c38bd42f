//! `/v1/runtime`: clusters report what runs (`POST /v1/runtime/reports`, the admission
//! role), auditors read what runs that this gate did not promote (`GET /v1/runtime/drift`).

use axum::Json;
use axum::extract::State;
use portcullis_core::TextKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, check_field};
use crate::services::runtime::{self, DriftPage, ReportRequest};
use crate::state::AppState;

/// Report what a workload runs.
///
/// `POST /v1/runtime/reports`: replaces what the workload runs.
#[utoipa::path(
    post, path = "/v1/runtime/reports", tag = "admission", operation_id = "reportRuntime",
    security(("bearer" = ["admission", "admin"])),
    request_body(content = ReportRequest, example = crate::openapi::examples::runtime_report),
    responses(
        (status = 200, description = "Recorded, replacing the workload's earlier report",
            body = crate::openapi::schemas::RuntimeRecorded),
        (status = 422, description = "`invalid_body`: a name is not a Kubernetes name, an image \
            has no digest, or too many images"),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::ADMISSION | roles::ADMIN }>,
    ApiJson(body): ApiJson<ReportRequest>,
) -> Result<Json<Value>, ApiError> {
    for (i, image) in body.images.iter().enumerate() {
        check_field(
            "invalid_body",
            &format!("images[{i}]"),
            image,
            TextKind::Line,
        )?;
    }
    let (cluster, namespace, workload) = (
        body.cluster.clone(),
        body.namespace.clone(),
        body.workload.clone(),
    );
    let images = runtime::report(&state.store, &caller.subject, body).await?;
    Ok(Json(json!({
        "cluster": cluster,
        "namespace": namespace,
        "workload": workload,
        "images": images,
    })))
}

/// Query of `GET /v1/runtime/drift`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Reported workloads looked at (1–500, default 100).
    limit: Option<i64>,
    /// `cluster/namespace/workload`: start after it (the previous page's `next`).
    after: Option<String>,
}

/// Workloads running images this gate did not promote.
///
/// `GET /v1/runtime/drift?limit=&after=`.
#[utoipa::path(
    get, path = "/v1/runtime/drift", tag = "admission", operation_id = "runtimeDrift",
    security(("bearer" = ["auditor", "admin"])),
    params(DriftQuery),
    responses(
        (status = 200, description = "One page", body = DriftPage,
            example = crate::openapi::examples::drift_page),
        (status = 400, description = "`invalid_query`: `limit` out of 1–500, or `after` not \
            `cluster/namespace/workload`"),
        (status = 422, description = "`invalid_query`: `after` holds a character not allowed"),
    )
)]
pub async fn drift(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> Result<Json<DriftPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    if let Some(after) = &q.after {
        check_field("invalid_query", "after", after, TextKind::Line)?;
    }
    let page = runtime::drift(
        &state.admission,
        &state.store,
        &state.keys,
        q.after.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(page))
}
