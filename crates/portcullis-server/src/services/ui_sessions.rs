//! The web page's background job: prunes ended sessions (past `ui.session_ttl` or unused
//! for `ui.idle_timeout`) and abandoned OIDC sign-ins, so neither table grows between
//! sign-ins. Each run is bounded by a timeout, like every background job.

use std::time::Duration;

use portcullis_store::Store;

/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// How long one run may take.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Prunes every five minutes until the task is aborted.
pub async fn sweep(store: Store, idle_timeout: u64) {
    let idle = i64::try_from(idle_timeout).unwrap_or(i64::MAX);
    loop {
        match tokio::time::timeout(SWEEP_TIMEOUT, store.prune_sessions(idle)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(ui.pruned = n, "ended /ui sessions and sign-ins pruned"),
            Ok(Err(e)) => tracing::warn!(error = %e, "pruning /ui sessions failed; retrying later"),
            Err(_) => tracing::warn!("pruning /ui sessions timed out; retrying later"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}
