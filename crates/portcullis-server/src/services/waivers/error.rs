//! `WaiverError`: why a waiver request was refused, with a stable machine code. The HTTP
//! status is chosen once, in `error/domain.rs`.

use portcullis_core::WaiverState;
use uuid::Uuid;

/// Why a waiver could not be created, confirmed, revoked or read.
#[derive(Debug, thiserror::Error)]
pub enum WaiverError {
    /// A field of the body is missing or invalid; `code` names which.
    #[error("{detail}")]
    Invalid {
        /// `invalid_kind`, `invalid_id`, `invalid_scope`, `invalid_expires_at`,
        /// `invalid_justification` or `invalid_reason`.
        code: &'static str,
        /// What was wrong, naming the field.
        detail: String,
    },
    /// No such waiver.
    #[error("no waiver {0}")]
    NotFound(Uuid),
    /// The creator tried to confirm their own waiver.
    #[error("the approver who created a waiver cannot confirm it; another approver must")]
    SelfConfirm,
    /// Only a pending, unexpired waiver can be confirmed.
    #[error("waiver {id} is {state}; only a pending waiver that has not expired can be confirmed")]
    NotPending {
        /// The waiver.
        id: Uuid,
        /// Its state now.
        state: WaiverState,
    },
    /// A revoked or expired waiver cannot be revoked.
    #[error("waiver {id} is already {state}")]
    NotRevocable {
        /// The waiver.
        id: Uuid,
        /// Its state now.
        state: WaiverState,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
}

impl WaiverError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::SelfConfirm => "self_confirm",
            Self::NotPending { .. } => "waiver_not_pending",
            Self::NotRevocable { .. } => "waiver_not_revocable",
            Self::Store(e) => crate::services::store_code(e),
        }
    }

    /// A refused field.
    pub(super) fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            detail: detail.into(),
        }
    }
}
