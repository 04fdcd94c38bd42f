//! `ReplayError` and `SimulationError`: why a decision could not be replayed or a candidate
//! bundle simulated, each with a stable machine code. A tampered decision is not an error:
//! the replay reports it. The HTTP status is chosen once, in `error/replay.rs`.

use uuid::Uuid;

use crate::services::work::WorkError;

/// Why a decision could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such decision.
    #[error("no decision {0}")]
    NotFound(Uuid),
    /// The decision was made before inputs were recorded.
    #[error(
        "decision {0} was made before decisions recorded their input and bundle; it cannot be replayed"
    )]
    NotReplayable(Uuid),
    /// The stored bundle matches its signed digest but does not load (a bug, not tampering).
    #[error("the stored bundle does not load: {0}")]
    Bundle(#[source] portcullis_policy::Error),
    /// The stored input matches its signed hash but does not parse.
    #[error("the stored input does not parse: {0}")]
    Input(#[source] serde_json::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// The evaluation could not run.
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl ReplayError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotReplayable(_) => "decision_not_replayable",
            Self::Bundle(_) | Self::Input(_) | Self::Work(_) => "internal",
            Self::Store(e) => crate::services::store_code(e),
        }
    }
}

/// Why a candidate bundle could not be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// The upload or its unpacked files exceed the size limit.
    #[error("the bundle is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The upload is not a readable tar archive (or gzip of one).
    #[error("the bundle is not a readable tar archive: {0}")]
    Archive(String),
    /// An entry of the archive is refused: not a regular file or directory, an absolute
    /// path, a `..` component, a name that is not UTF-8, a file that is not UTF-8 text.
    #[error("archive entry {path:?} refused: {reason}")]
    EntryRefused {
        /// The entry's path as the archive gives it.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The archive holds more entries than allowed.
    #[error("the archive holds more than {0} entries")]
    TooManyEntries(usize),
    /// The candidate bundle does not load or compile.
    #[error("the candidate bundle does not load: {0}")]
    Invalid(#[source] portcullis_policy::Error),
    /// `last` is out of range.
    #[error("last must be between 1 and {max}, not {given}")]
    InvalidLast {
        /// What was asked.
        given: i64,
        /// The largest allowed.
        max: i64,
    },
    /// The simulation did not finish within its time limit.
    #[error(
        "the simulation did not finish within {limit_ms} ms ({judged} decisions judged); simulate fewer decisions (last)"
    )]
    Timeout {
        /// The limit.
        limit_ms: u128,
        /// Decisions judged before it ran out.
        judged: usize,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// The evaluation could not run.
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl SimulationError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "bundle_too_large",
            Self::Archive(_) => "bundle_archive_invalid",
            Self::EntryRefused { .. } => "bundle_entry_refused",
            Self::TooManyEntries(_) => "bundle_too_many_entries",
            Self::Invalid(_) => "bundle_invalid",
            Self::InvalidLast { .. } => "invalid_last",
            Self::Timeout { .. } => "simulation_timeout",
            Self::Work(_) => "internal",
            Self::Store(e) => crate::services::store_code(e),
        }
    }
}
