//! Copy plans read ahead: when an approval is about to complete a promotion's requirement,
//! the copy's read-only plan phase (every manifest at the source, what the destination
//! holds, whether the tag already names the image) starts at once, while the vote is still
//! being checked, signed and committed. The copy job of that promotion, when this replica
//! claims it, starts from that plan instead of reading it again: a re-promotion of an image
//! already in production then writes its outcome as soon as it is claimed.
//!
//! Nothing is trusted on the strength of a plan read ahead: it is used only for the very
//! copy it was read for (`CopyPlan` equality, from the signed decision statement), only when
//! at most `PLAN_FRESH_FOR` old, and only on the copy's first attempt. A plan that failed is
//! read again by the copy, whose error is the one recorded. Reads for a vote that does not
//! release the promotion after all are dropped unused within the same time. At most
//! `MAX_PENDING` run or wait at once; beyond that, copies read their plan themselves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use portcullis_registry::{CopyPlan, PLAN_FRESH_FOR, PlannedCopy, RegistryClient};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Plans read ahead and not yet taken, at most.
const MAX_PENDING: usize = 32;

/// The plans this replica read ahead, by promotion id.
#[derive(Debug, Default)]
pub struct ReadAhead {
    pending: Mutex<HashMap<Uuid, Pending>>,
}

/// One plan being read (or read), aborted when dropped untaken.
#[derive(Debug)]
struct Pending {
    started: Instant,
    task: JoinHandle<Option<PlannedCopy>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plan read ahead, taken by its copy.
#[derive(Debug)]
pub struct Taken(Pending);

impl Taken {
    /// The plan, once read; `None` if reading it failed (the copy reads it again).
    pub async fn planned(mut self) -> Option<PlannedCopy> {
        (&mut self.0.task).await.ok().flatten()
    }
}

impl ReadAhead {
    /// Starts reading `plan` for promotion `id` (replacing an earlier read for it), unless
    /// `MAX_PENDING` fresh reads already wait.
    pub fn start(&self, client: &RegistryClient, id: Uuid, plan: CopyPlan) {
        let mut pending = self.lock();
        pending.retain(|_, p| p.started.elapsed() <= PLAN_FRESH_FOR);
        if pending.len() >= MAX_PENDING && !pending.contains_key(&id) {
            tracing::debug!(promotion.id = %id, "copy plans read ahead at their limit; not reading this one");
            return;
        }
        let client = client.clone();
        let task = tokio::spawn(async move {
            let clock = Instant::now();
            match portcullis_registry::plan_copy(&client, &plan).await {
                Ok(planned) => {
                    let read_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::debug!(promotion.id = %id, copy.read_ms = read_ms, "copy plan read ahead");
                    Some(planned)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reading a copy plan ahead failed; the copy reads it itself");
                    None
                }
            }
        });
        let started = Instant::now();
        pending.insert(id, Pending { started, task });
    }

    /// The plan read ahead for promotion `id`, if a fresh one is there.
    pub fn take(&self, id: Uuid) -> Option<Taken> {
        let taken = self.lock().remove(&id)?;
        (taken.started.elapsed() <= PLAN_FRESH_FOR).then_some(Taken(taken))
    }

    /// Plans read ahead and not taken (stale ones included until the next `start`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no plan waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Pending>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
