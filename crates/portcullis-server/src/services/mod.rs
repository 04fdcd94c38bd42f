//! Services: the promotion workflow. Handlers call services; services call the store,
//! the registry client, the verifier and the policy, and own transaction boundaries.
//! handlers → services → repositories, never the reverse.
//!
//! Each service area answers its own `thiserror` enum (`PromotionError`, `ApprovalError`,
//! `AuditError`, `EvidenceError`, `ReloadError`, `ReplayError`, `SimulationError`, `WaiverError`,
//! `WorkError`, `WithdrawalError`, `RuntimeError`) with a stable machine `code`;
//! no service names an HTTP status or builds an `ApiError`: `error.rs` maps them, once.
//! Service entry points are `#[tracing::instrument]`ed, so their spans (children of the
//! request's span, which carries `request.id`) name the promotion they work on.

pub mod admission;
pub mod approvals;
pub mod attestation;
pub mod audit;
pub mod audit_export;
pub mod audit_verify;
pub mod break_glass;
pub mod checkpoints;
pub mod copier;
pub mod decisions;
pub mod documents;
pub mod evidence;
pub mod expiry;
pub mod input_cache;
pub mod metrics;
pub mod policy;
pub mod promotions;
pub mod refusals;
pub mod runtime;
pub mod trust;
pub mod ui_sessions;
pub mod waivers;
pub mod watch;
pub mod webhooks;
pub mod withdrawal;
pub mod work;

/// The machine code of a database failure: a constraint violation is a `conflict`, an
/// unreachable database `database_unavailable`, anything else `internal`.
pub fn store_code(e: &portcullis_store::Error) -> &'static str {
    match e {
        portcullis_store::Error::Conflict(_) => "conflict",
        portcullis_store::Error::Unavailable(_) => "database_unavailable",
        _ => "internal",
    }
}
