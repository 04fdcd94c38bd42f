//! `/v1/admin`: operator actions.

use axum::Json;
use axum::extract::State;

use crate::auth::{Authorized, roles};
use crate::error::ApiError;
use crate::services::policy::Reloaded;
use crate::state::AppState;

/// `POST /v1/admin/policy/reload`: reload the bundle from disk; a bundle that does not
/// compile or fails its tests is refused (422) and the previous one keeps serving.
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
