//! `/v1/policy`: what a candidate bundle would change (`services::decisions::simulate`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::services::decisions::SimulationError;
use crate::services::decisions::simulate::{self, SimulationReport};
use crate::services::decisions::tarball::MAX_BUNDLE_BYTES;
use crate::state::AppState;

/// Query of `POST /v1/policy/simulate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimulateQuery {
    /// How many of the most recent decisions to judge again (default 1000, at most 10000).
    last: Option<i64>,
}

/// Which recent verdicts a candidate policy bundle would flip.
///
/// `POST /v1/policy/simulate[?last=N]` (admin), the candidate bundle as a plain tar archive
/// in the body (at most 4 MiB): the recent decisions whose verdict it would flip.
#[utoipa::path(
    post, path = "/v1/policy/simulate", tag = "decisions", operation_id = "simulatePolicy",
    security(("bearer" = ["admin"])),
    params(SimulateQuery),
    request_body(content = String, content_type = "application/x-tar",
        description = "The candidate bundle as a plain tar archive (at most 4 MiB)"),
    responses(
        (status = 200, description = "The flips, newest first", body = SimulationReport,
            example = crate::openapi::examples::simulation_report),
        (status = 413, description = "`bundle_too_large`: the archive is larger than 4 MiB"),
        (status = 422, description = "`bundle_archive_invalid`, `bundle_entry_refused`, \
            `bundle_too_many_entries`, `bundle_invalid`: the archive or the bundle is refused; \
            `invalid_last`: `last` out of 1–10000; `simulation_timeout`: judging took longer \
            than `simulation.timeout_ms`"),
    )
)]
pub async fn simulate(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::ADMIN }>,
    ApiQuery(q): ApiQuery<SimulateQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SimulationReport>, ApiError> {
    let body = body.map_err(body_rejection)?;
    let permits = &state.gate.eval_permits;
    let candidate = simulate::load_upload(permits, body, state.simulation_timeout).await?;
    let report = simulate::simulate(
        &state.store,
        permits,
        candidate,
        q.last,
        state.simulation_timeout,
    )
    .await?;
    Ok(Json(report))
}

/// An upload over the cap is the bundle's 413 `bundle_too_large`; anything else about
/// reading the body is answered like a JSON body's.
fn body_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return SimulationError::TooLarge {
            limit: MAX_BUNDLE_BYTES,
        }
        .into();
    }
    crate::extract::body_rejection(r)
}
