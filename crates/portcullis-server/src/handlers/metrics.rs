//! `GET /metrics`: Prometheus text exposition (`metrics`), with the gauges read at scrape
//! time from the database and the verification cache.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::state::AppState;

/// Prometheus metrics.
///
/// `GET /metrics` with an auditor or admin token (`metrics.public: false`, the default).
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    security(("bearer" = ["auditor", "admin"])),
    responses((status = 200, description = "Prometheus text exposition 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
)]
pub async fn protected(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
) -> Result<Response, ApiError> {
    render(&state).await
}

/// Prometheus metrics (`metrics.public: true`).
///
/// `GET /metrics` without a token (`metrics.public: true`).
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition 0.0.4",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
)]
pub async fn public(State(state): State<AppState>) -> Result<Response, ApiError> {
    render(&state).await
}

async fn render(state: &AppState) -> Result<Response, ApiError> {
    let text = crate::services::metrics::scrape(state).await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
