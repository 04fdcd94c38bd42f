//! `ApprovalError`: why a vote was not taken. Each variant has a stable machine `code`;
//! `error.rs` maps it to its HTTP status, once.

use portcullis_core::PromotionState;
use uuid::Uuid;

use crate::services::trust::IntegrityError;

/// A vote that was refused or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such promotion.
    #[error("no promotion {0}")]
    NotFound(Uuid),
    /// Only `pending_approval` promotions take votes.
    #[error("promotion {id} is {state}; only pending_approval promotions take votes")]
    NotPending {
        /// The promotion.
        id: Uuid,
        /// Its state.
        state: PromotionState,
    },
    /// The decision asks for no approvals.
    #[error("the decision requires no approvals")]
    NoApprovalsRequired,
    /// The policy changed since the promotion was judged; it was closed instead (the reason).
    #[error("{0}")]
    PolicyChanged(String),
    /// Separation of duties: the requester cannot vote on their own promotion.
    #[error("the requester of a promotion cannot vote on it")]
    SelfApproval,
    /// The vote was cast on other evidence than the promotion's.
    #[error(
        "the evidence changed: the vote names evidence {shown}, the promotion's is {current}; look again and vote on what is there now"
    )]
    EvidenceChanged {
        /// The hash the voter sent.
        shown: String,
        /// The promotion's evidence hash.
        current: String,
    },
    /// The caller's role is granted on other routes only (`auth.oidc[].roles[].routes`).
    #[error("the caller's role is not granted on route {0}")]
    RouteNotAllowed(String),
    /// Holders of the admin role may not approve (`approvals.bar_admins`).
    #[error("holders of the admin role may not vote (approvals.bar_admins)")]
    AdminBarred,
    /// The voter lacks the group the decision requires.
    #[error("approving this promotion requires membership of group {0}")]
    MissingGroup(String),
    /// One vote per person.
    #[error("{subject} already voted on {id}")]
    AlreadyVoted {
        /// The voter.
        subject: String,
        /// The promotion.
        id: Uuid,
    },
    /// The promotion's signed records do not hold; it takes no votes.
    #[error("promotion {id} cannot take votes: {source}")]
    Integrity {
        /// The promotion.
        id: Uuid,
        /// What does not hold.
        source: IntegrityError,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// Signing the vote or the decision statement failed.
    #[error("signing: {0}")]
    Signing(#[from] portcullis_gate::Error),
}

impl ApprovalError {
    /// The stable machine code the API answers (`error.rs` adds the HTTP status).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotPending { .. } | Self::NoApprovalsRequired => "promotion_not_pending",
            Self::PolicyChanged(_) => "policy_changed",
            Self::SelfApproval => "self_approval",
            Self::AdminBarred => "admin_barred",
            Self::RouteNotAllowed(_) => "route_not_allowed",
            Self::EvidenceChanged { .. } => "evidence_changed",
            Self::MissingGroup(_) => "missing_group",
            Self::AlreadyVoted { .. } => "already_voted",
            Self::Integrity { .. } => "integrity_violation",
            Self::Store(e) => crate::services::store_code(e),
            Self::Signing(_) => "internal",
        }
    }

    /// Whether this is a governance refusal the audit log records (`vote_refused`), not an
    /// unknown promotion, an outage or a bug.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::NotFound(_) | Self::Signing(_))
            && !matches!(self, Self::Store(e) if !matches!(e, portcullis_store::Error::Conflict(_)))
    }
}
