//! CPU-bound work (parsing evidence, matching VEX, evaluating the policy) runs on the
//! blocking pool behind the evaluation semaphore, never on the async executor that also
//! answers `/healthz`, and inside the caller's tracing span (so its log lines keep the
//! request id).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Work that could not be run or did not complete; a 500 (`error.rs`), nothing written.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The evaluation semaphore was closed.
    #[error("the evaluation pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
    /// The task panicked or was cancelled.
    #[error("blocking task did not complete")]
    Join(#[from] tokio::task::JoinError),
}

/// Runs `work` on the blocking pool once one of `permits` is free.
pub async fn blocking<T, F>(permits: &Arc<Semaphore>, work: F) -> Result<T, WorkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let permit = permits.clone().acquire_owned().await?;
    let span = tracing::Span::current();
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(work)
    })
    .await?)
}
