//! Waiting for a promotion to change state: `GET /v1/promotions/{id}?wait_seconds=N` answers
//! as soon as the promotion's state differs from the one the caller names (`state=`, by
//! default the state it has when the request arrives), or after N seconds with the current
//! view. A CI job waits for `promoted` without polling, and sees it as soon as it happens.
//!
//! Every replica listens on Postgres `portcullis_promotion_states` (migration 0014's trigger
//! notifies on each state change, at commit) and passes the ids to its waiters. Notifications
//! are best effort, so a waiter also looks again every `RECHECK`, and every waiter looks again
//! when the listener reconnects.

use std::time::Duration;

use portcullis_core::PromotionState;
use portcullis_store::{StateChange, Store};
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

use crate::services::promotions::{self, PromotionError};
use crate::state::AppState;
use crate::views::PromotionView;

/// The longest a waiter goes without looking at the database itself.
const RECHECK: Duration = Duration::from_secs(1);
/// Changes buffered per waiter; one that falls further behind looks again.
const CAPACITY: usize = 256;
/// The first wait before listening again after the listener failed; doubled up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The state changes this replica has heard of: `Some(id)`, or `None` for "look again, all".
#[derive(Debug)]
pub struct StateWatch {
    tx: broadcast::Sender<Option<Uuid>>,
}

impl Default for StateWatch {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl StateWatch {
    /// Wakes this replica's waiters on `change` (`None`: all of them). The copier calls it
    /// right after its commit, a Postgres round trip before the NOTIFY arrives.
    pub fn announce(&self, change: Option<Uuid>) {
        // No receiver means nobody waits: nothing to do.
        let _ = self.tx.send(change);
    }

    /// Every change from now on (`None`: look again at everything), e.g. for a cache that
    /// must forget what a change may have made stale.
    pub fn subscribe(&self) -> broadcast::Receiver<Option<Uuid>> {
        self.tx.subscribe()
    }
}

/// Forwards Postgres state-change notifications to this replica's waiters, forever.
pub async fn run(store: Store, watch: std::sync::Arc<StateWatch>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut listener = match store.listen_promotion_states().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for promotion state changes; waiters look every second");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Whatever changed while nobody listened is looked at now.
        watch.announce(None);
        loop {
            match listener.next().await {
                Ok(StateChange::Promotion(id)) => {
                    backoff = FIRST_BACKOFF;
                    watch.announce(Some(id));
                }
                Ok(StateChange::Unknown) => watch.announce(None),
                Err(e) => {
                    tracing::warn!(error = %e, "promotion state listener failed; listening anew");
                    watch.announce(None);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    break;
                }
            }
        }
    }
}

/// The promotion's view once its state differs from `seen` (default: its state now), or
/// after `wait` with its view then.
pub async fn wait(
    state: &AppState,
    id: Uuid,
    seen: Option<PromotionState>,
    wait: Duration,
) -> Result<PromotionView, PromotionError> {
    // Subscribed before the first look, so no change after it can be missed.
    let mut changes = state.state_watch.tx.subscribe();
    let deadline = Instant::now() + wait;
    let mut seen = seen;
    // The first look reads the record alone, which says whether the state moved; a look
    // after this promotion's own change reads the whole view (votes, break-glass,
    // withdrawal) beside it, as it will most likely be the answer.
    let mut changed = false;
    loop {
        if changed {
            let view = promotions::get(&state.store, id).await?;
            let before = *seen.get_or_insert(view.state);
            if view.state != before || Instant::now() >= deadline {
                return Ok(view);
            }
        } else {
            let record = state
                .store
                .get_promotion(id)
                .await?
                .ok_or(PromotionError::NotFound(id))?;
            let before = *seen.get_or_insert(record.state);
            if record.state != before || Instant::now() >= deadline {
                return promotions::view(&state.store, record).await;
            }
        }
        let look_again = deadline.min(Instant::now() + RECHECK);
        changed = false;
        loop {
            match tokio::time::timeout_at(look_again, changes.recv()).await {
                Ok(Ok(Some(other))) if other != id => continue,
                Ok(Ok(Some(_))) => {
                    changed = true;
                    break;
                }
                // Everyone should look, or changes were missed.
                Ok(Ok(None)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                // The sender lives as long as the state; should it go, poll.
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    tokio::time::sleep_until(look_again).await;
                    break;
                }
                Err(_elapsed) => break,
            }
        }
    }
}
