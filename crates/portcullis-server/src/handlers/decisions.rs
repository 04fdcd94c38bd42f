//! `/v1/decisions`: replaying a recorded decision (`services::decisions::replay`).

use axum::Json;
use axum::extract::{Path, State};
use uuid::Uuid;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::services::decisions::replay::{self, ReplayReport};
use crate::state::AppState;

/// Replay a recorded decision.
///
/// `POST /v1/decisions/{id}/replay`: judges the decision again with its stored input and
/// bundle at its own time and says whether the verdict is identical (with a diff if not),
/// or that a stored part disagrees with the gate's signed record (`tampered`).
#[utoipa::path(
    post, path = "/v1/decisions/{id}/replay", tag = "decisions", operation_id = "replayDecision",
    security(("bearer" = ["auditor", "admin"])),
    params(("id" = Uuid, Path, description = "The decision's id (a promotion's `decision_ids`)")),
    responses(
        (status = 200, description = "Whether the replay is identical, with a diff if not, or \
            which stored part disagrees with the signed record", body = ReplayReport,
            example = crate::openapi::examples::replay_report),
        (status = 404, description = "`not_found`: no such decision"),
        (status = 409, description = "`decision_not_replayable`: made before inputs were recorded"),
    )
)]
pub async fn replay(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::AUDITOR | roles::ADMIN }>,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::not_found(format!("no decision {id:?}")))?;
    Ok(Json(
        replay::replay(&state.store, &state.keys, &state.gate.eval_permits, id).await?,
    ))
}
