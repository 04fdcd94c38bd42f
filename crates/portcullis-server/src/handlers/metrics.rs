//! `GET /metrics`: Prometheus text exposition (`metrics`), with the gauges read at scrape
//! time from the database and the verification cache.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /metrics` with an auditor or admin token (`metrics.public: false`, the default).
pub async fn protected(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
) -> Result<Response, ApiError> {
    render(&state).await
}

/// `GET /metrics` without a token (`metrics.public: true`).
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
