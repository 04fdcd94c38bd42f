//! Wakes this replica's copy worker when any replica releases a job: a Postgres
//! `LISTEN portcullis_copy_jobs` (see `CopyJobListener`) forwarded to the worker's `Notify`.
//! A lost listener connection is re-established; while it is down, and after it comes back
//! (a notification may have been missed), the worker is woken to look for jobs itself,
//! and its slow fallback poll covers the rest.

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::{Store, Wakeup};
use tokio::sync::Notify;

/// The first wait before listening again after the listener failed; doubled up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two attempts to listen.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Forwards copy-job notifications to `wakeup` forever.
pub async fn forward_notifications(store: Store, wakeup: Arc<Notify>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut listener = match store.listen_copy_jobs().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry.delay_ms = ms(backoff), "cannot listen for copy jobs; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        tracing::debug!("listening for copy jobs");
        // Whatever was released while nobody listened is looked for now.
        wakeup.notify_one();
        loop {
            match listener.next().await {
                Ok(Wakeup::Job) => {
                    backoff = FIRST_BACKOFF;
                    wakeup.notify_one();
                }
                Ok(Wakeup::Reconnected) => {
                    tracing::info!("copy-job listener reconnected; looking for missed jobs");
                    wakeup.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry.delay_ms = ms(backoff), "copy-job listener failed; listening anew");
                    wakeup.notify_one();
                    // A listener that keeps failing must not spin (nor make the worker spin).
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    break;
                }
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Aborts a spawned task when dropped (the worker's listener dies with the worker).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
