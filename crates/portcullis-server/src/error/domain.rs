//! Each service area's error mapped to its HTTP status, once. The machine `code` comes from
//! the domain error (`code()`), so the audit log of a refusal and the client's answer agree;
//! the status is decided here and nowhere else. Outages and bugs go through
//! `ApiError::internal` / `database_unavailable`, which log the cause and show none of it.

use axum::http::StatusCode;

use super::ApiError;
use crate::services::approvals::ApprovalError;
use crate::services::audit::AuditError;
use crate::services::documents::EvidenceError;
use crate::services::policy::ReloadError;
use crate::services::promotions::{PromotionError, RegistryEnd};
use crate::services::work::WorkError;

/// An answer with `status`, the error's own `code` and its message as the detail.
fn answer(status: StatusCode, code: &'static str, e: &dyn std::error::Error) -> ApiError {
    ApiError::new(status, code, e.to_string())
}

impl From<PromotionError> for ApiError {
    fn from(e: PromotionError) -> Self {
        use PromotionError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Evidence(ev) => ev.into(),
            E::Registry { end, source } => registry(end, source),
            E::Work(w) => w.into(),
            E::Signing(_) | E::Serialize(_) => Self::internal(&e),
            E::NotFound(_) => answer(StatusCode::NOT_FOUND, code, &e),
            E::NotRequester => answer(StatusCode::FORBIDDEN, code, &e),
            E::InvalidDigest(_)
            | E::InvalidSource(_)
            | E::UnknownRoute(_)
            | E::SourceOutsideRoute { .. }
            | E::InvalidTag(_) => answer(StatusCode::UNPROCESSABLE_ENTITY, code, &e),
            E::TagExists { .. }
            | E::ConflictingOpen { .. }
            | E::ConcurrentChange
            | E::NotFailed { .. }
            | E::NoLongerFailed(_)
            | E::PolicyChanged { .. } => answer(StatusCode::CONFLICT, code, &e),
        }
    }
}

/// A failure of the `end` registry while serving a request: a missing source image is the
/// client's 422, an existing tag a 409, a hung registry 504 `registry_timeout` naming the
/// registry and the operation, any other failure 502 `registry_unavailable`.
fn registry(end: RegistryEnd, e: portcullis_registry::Error) -> ApiError {
    use portcullis_registry::Error as R;
    match (end, e) {
        (_, e @ R::Timeout { .. }) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "registry_timeout",
            format!("the {end} {e}"),
        ),
        (RegistryEnd::Source, e @ R::NotFound { .. }) => ApiError::unprocessable(
            "source_not_found",
            format!("the source image does not exist: {e}"),
        ),
        (RegistryEnd::Source, e @ R::TagExists { .. }) => {
            ApiError::conflict("tag_exists", e.to_string())
        }
        (_, other) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "registry_unavailable",
            format!("the {end} registry could not be read: {other}"),
        ),
    }
}

impl From<EvidenceError> for ApiError {
    fn from(e: EvidenceError) -> Self {
        match e {
            EvidenceError::Work(w) => w.into(),
            other => answer(StatusCode::UNPROCESSABLE_ENTITY, other.code(), &other),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        use ApprovalError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Signing(_) => Self::internal(&e),
            E::NotFound(_) => answer(StatusCode::NOT_FOUND, code, &e),
            E::SelfApproval | E::MissingGroup(_) => answer(StatusCode::FORBIDDEN, code, &e),
            E::NotPending { .. }
            | E::NoApprovalsRequired
            | E::PolicyChanged(_)
            | E::AlreadyVoted { .. }
            | E::Integrity { .. } => answer(StatusCode::CONFLICT, code, &e),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(s) => s.into(),
            e @ AuditError::InvalidQuery(_) => answer(StatusCode::BAD_REQUEST, e.code(), &e),
        }
    }
}

impl From<ReloadError> for ApiError {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::Store(s) => s.into(),
            e @ ReloadError::Invalid { .. } => {
                answer(StatusCode::UNPROCESSABLE_ENTITY, "policy_invalid", &e)
            }
            e @ ReloadError::TestsFailed { .. } => {
                answer(StatusCode::UNPROCESSABLE_ENTITY, "policy_tests_failed", &e)
            }
        }
    }
}

impl From<WorkError> for ApiError {
    fn from(e: WorkError) -> Self {
        Self::internal(&e)
    }
}
