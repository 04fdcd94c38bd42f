//! CPU-bound work (parsing evidence, matching VEX, evaluating the policy) runs on the
//! blocking pool behind the evaluation semaphore, never on the async executor that also
//! answers `/healthz`, and inside the caller's tracing span.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Runs `work` on the blocking pool once one of `permits` is free. A closed semaphore or a
/// task that did not complete is a 500 (logged with its cause); nothing is written.
pub async fn blocking<T, F>(permits: &Arc<Semaphore>, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(work)
    })
    .await
    .map_err(|e| ApiError::internal(&e))
}
