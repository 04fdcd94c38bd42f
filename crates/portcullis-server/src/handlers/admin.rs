//! `/v1/admin`: operator actions.

use axum::Json;
use axum::extract::State;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::services::policy::Reloaded;
use crate::state::AppState;

/// Reload the policy bundle from disk.
///
/// `POST /v1/admin/policy/reload`: reload the bundle from disk; a bundle that does not
/// compile or fails its tests is refused (422) and the previous one keeps serving.
#[utoipa::path(
    post, path = "/v1/admin/policy/reload", tag = "admin", operation_id = "reloadPolicy",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Reloaded; pending promotions judged again if it changed",
            body = Reloaded, example = crate::openapi::examples::reloaded),
        (status = 422, description = "`policy_invalid`: the bundle does not load or compile; \
            `policy_tests_failed`: its tests fail (the previous bundle keeps serving)"),
    )
)]
pub async fn reload_policy(
    State(state): State<AppState>,
    Authorized(caller): Authorized<{ roles::ADMIN }>,
) -> Result<Json<Reloaded>, ApiError> {
    let mut reloaded = state
        .gate
        .policy
        .reload(&state.store, &caller.subject)
        .await?;
    if reloaded.changed {
        reloaded.rejudged = crate::services::promotions::rejudge_after_reload(&state, &caller)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(Json(reloaded))
}
