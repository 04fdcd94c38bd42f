//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness.
///
/// `GET /healthz`: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "The process answers",
        body = crate::openapi::schemas::Health)),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long readiness waits for the database: probes (and load balancers) need an answer
/// well within their own timeout, outage or not.
const READY_WITHIN: Duration = Duration::from_millis(1500);

/// Readiness.
///
/// `GET /readyz`: the database answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "The database answers", body = crate::openapi::schemas::Ready),
        (status = 503, description = "`not_ready`: the database is not reachable"),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping(READY_WITHIN).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is not reachable",
        )
    })?;
    Ok(Json(
        json!({"status": "ready", "policy_digest": state.gate.policy.digest()}),
    ))
}
