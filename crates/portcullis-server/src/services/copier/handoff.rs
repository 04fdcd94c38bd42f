//! Copy jobs handed from the vote that releases them to this process's worker, with no
//! claim transaction between the approval and the copy.

use std::sync::{Arc, OnceLock};

use portcullis_store::{ClaimedJob, PromotionRecord, SignedEnvelopes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::{LEASE_SECS, spawn};
use crate::state::AppState;

/// Hands the copy jobs that this process's votes release straight to its worker: the vote
/// that releases a promotion claims its job in the same statement when the worker has a
/// free slot (`slot`), and the job starts once the vote commits (`start`), with no claim of
/// its own. Closed (never a slot) while no worker runs, or the audit log halted promotions;
/// the job is then claimed as any other, on a wake-up.
#[derive(Debug, Default)]
pub struct Handoff {
    slots: OnceLock<Arc<Semaphore>>,
}

impl Handoff {
    pub(super) fn open(&self, slots: Arc<Semaphore>) {
        // One worker per process: a second `run` shares the first one's slots.
        let _ = self.slots.set(slots);
    }

    /// A free slot of the worker, if one runs and has one; with it, a claim id and lease
    /// for the vote to claim the job under.
    pub fn slot(&self, state: &AppState) -> Option<Slot> {
        if state.integrity.is_halted() {
            return None;
        }
        let permit = self.slots.get()?.clone().try_acquire_owned().ok()?;
        Some(Slot {
            permit,
            claim: Uuid::new_v4(),
        })
    }
}

/// A worker slot held for a job that a vote is releasing, and the claim id it claims under.
#[derive(Debug)]
pub struct Slot {
    permit: OwnedSemaphorePermit,
    claim: Uuid,
}

impl Slot {
    /// The claim id and lease (seconds) to claim the job under.
    pub fn claim(&self) -> (Uuid, i64) {
        (self.claim, LEASE_SECS)
    }

    /// Starts the claimed job `job` (as committed) with its signed envelopes.
    pub fn start(self, state: &AppState, job: PromotionRecord, envelopes: SignedEnvelopes) {
        tracing::debug!(promotion.id = %job.id, "copy job handed over by its vote");
        let claimed = ClaimedJob {
            job,
            claim: self.claim,
            envelopes,
        };
        spawn(state, claimed, self.permit);
    }
}
