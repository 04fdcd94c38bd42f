//! `GET /v1/audit/verify`: the audit log checked against itself and the witness file, from
//! the newest checkpoint this replica verified before, so each answer fits in the request
//! deadline however long the log grows. The first check (and one after a failure) covers
//! the whole log; `portcullis audit verify` always does, and agrees with it.
//!
//! An anchor is moved only to a witnessed checkpoint whose signature verified and whose
//! event holds exactly the witnessed hash, after the whole chain up to it verified. The
//! anchor's own event is compared with its hash on every check, and every checkpoint past
//! the anchor is checked anew.

use std::sync::Mutex;

use portcullis_gate::Checkpoint;
use serde::Serialize;

use crate::services::checkpoints;
use crate::state::AppState;

/// The newest verified checkpoint (`seq`, head hash) of this replica.
#[derive(Debug, Default)]
pub struct Anchor(Mutex<Option<(i64, String)>>);

impl Anchor {
    fn get(&self) -> Option<(i64, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, to: Option<(i64, String)>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

/// What `GET /v1/audit/verify` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Whether the log and the witness agree and every event verifies.
    pub ok: bool,
    /// Events verified, counted from the first.
    pub events: i64,
    /// Where this check started: after this event (verified at a checkpoint before), or 0
    /// for the whole log.
    pub verified_from: i64,
    /// The first event that fails, if any.
    pub first_bad_seq: Option<i64>,
    /// What is wrong, if anything.
    pub problem: Option<String>,
    /// The newest witnessed checkpoint, if any.
    pub checkpoint: Option<Checkpoint>,
}

/// Why the log could not be checked (not a verdict on the log).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// The witness file could not be read.
    #[error("the witness file: {0}")]
    Witness(#[from] portcullis_gate::Error),
    /// The reading task failed.
    #[error("reading the witness file: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The witnessed checkpoints, oldest first.
pub async fn checkpoints(state: &AppState) -> Result<Vec<Checkpoint>, VerifyError> {
    let file = state.checkpoints.file.clone();
    Ok(tokio::task::spawn_blocking(move || portcullis_gate::read_checkpoints(&file)).await??)
}

/// Verifies the log from this replica's anchor (see the module).
#[tracing::instrument(skip_all)]
pub async fn verify(state: &AppState) -> Result<VerifyReport, VerifyError> {
    let witnessed = checkpoints(state).await?;
    let anchor = state.audit_anchor.get();
    let from = anchor.as_ref().map_or(0, |(seq, _)| *seq);
    // The CLI's check, from the anchor: the same verdict and the same words.
    let report = checkpoints::verify_log_from(
        &state.store,
        &state.keys,
        &witnessed,
        anchor.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    )
    .await?;
    let (chain, problem, first_bad_seq) = (report.chain, report.problem, report.first_bad_seq);
    let ok = problem.is_none();
    // The next check starts at the newest checkpoint verified now; a failure starts over.
    state.audit_anchor.set(if ok {
        witnessed
            .iter()
            .filter(|cp| cp.seq <= chain.events)
            .max_by_key(|cp| cp.seq)
            .map(|cp| (cp.seq, cp.head_hash.clone()))
            .or(anchor)
    } else {
        None
    });
    Ok(VerifyReport {
        ok,
        events: chain.events,
        verified_from: from,
        first_bad_seq,
        problem,
        checkpoint: witnessed.into_iter().max_by_key(|cp| cp.seq),
    })
}
