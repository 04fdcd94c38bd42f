//! Each service area's error mapped to its HTTP status, once. The machine `code` comes from
//! the domain error (`code()`), so the audit log of a refusal and the client's answer agree;
//! the status is decided here and nowhere else. Outages and bugs go through
//! `ApiError::internal` / `database_unavailable`, which log the cause and show none of it.

use axum::http::StatusCode;

use super::ApiError;
use crate::services::approvals::ApprovalError;
use crate::services::audit::AuditError;
use crate::services::break_glass::BreakGlassError;
use crate::services::documents::EvidenceError;
use crate::services::policy::ReloadError;
use crate::services::promotions::{PromotionError, RegistryEnd};
use crate::services::waivers::WaiverError;
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
            E::Signing(_) | E::Serialize(_) | E::CorruptEvidence(_) => Self::internal(&e),
            E::NotFound(_) => answer(StatusCode::NOT_FOUND, code, &e),
            E::NotRequester | E::RouteNotAllowed(_) => answer(StatusCode::FORBIDDEN, code, &e),
            E::InvalidDigest(_)
            | E::InvalidSource(_)
            | E::UnknownRoute(_)
            | E::SourceOutsideRoute { .. }
            | E::InvalidTag(_)
            | E::InvalidRepository(_)
            | E::RepositoryOutsideRoute { .. }
            | E::NotAChannelTag { .. } => answer(StatusCode::UNPROCESSABLE_ENTITY, code, &e),
            E::NotPromotedOnRoute { .. }
            | E::MissingInProduction { .. }
            | E::TagExists { .. }
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
            EvidenceError::Input(e) => ApiError::internal(&e),
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
            E::SelfApproval | E::MissingGroup(_) | E::AdminBarred | E::RouteNotAllowed(_) => {
                answer(StatusCode::FORBIDDEN, code, &e)
            }
            E::NotPending { .. }
            | E::NoApprovalsRequired
            | E::PolicyChanged(_)
            | E::AlreadyVoted { .. }
            | E::EvidenceChanged { .. }
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

impl From<crate::services::audit_verify::VerifyError> for ApiError {
    fn from(e: crate::services::audit_verify::VerifyError) -> Self {
        use crate::services::audit_verify::VerifyError as E;
        match e {
            E::Store(s) => s.into(),
            other => Self::internal(&other),
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

impl From<BreakGlassError> for ApiError {
    fn from(e: BreakGlassError) -> Self {
        use BreakGlassError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Signing(_) => Self::internal(&e),
            E::NotFound { .. } => answer(StatusCode::NOT_FOUND, code, &e),
            E::SelfBreakGlass | E::SelfReview | E::RouteNotAllowed(_) => {
                answer(StatusCode::FORBIDDEN, code, &e)
            }
            E::InvalidState { .. } | E::AlreadyAcknowledged(_) => {
                answer(StatusCode::CONFLICT, code, &e)
            }
        }
    }
}

impl From<WaiverError> for ApiError {
    fn from(e: WaiverError) -> Self {
        use WaiverError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Invalid { .. } => answer(StatusCode::UNPROCESSABLE_ENTITY, code, &e),
            E::NotFound(_) => answer(StatusCode::NOT_FOUND, code, &e),
            E::SelfConfirm => answer(StatusCode::FORBIDDEN, code, &e),
            E::NotPending { .. } | E::NotRevocable { .. } => answer(StatusCode::CONFLICT, code, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::PromotionState;
    use uuid::Uuid;

    use super::*;

    fn problem(e: impl Into<ApiError>) -> (u16, &'static str) {
        let e = e.into();
        (e.status().as_u16(), e.code())
    }

    #[test]
    fn promotion_errors_keep_their_status_and_code() {
        let id = Uuid::nil();
        let core = || portcullis_core::Error::InvalidTag("x".into());
        let cases: Vec<(PromotionError, (u16, &str))> = vec![
            (
                PromotionError::InvalidSource(core()),
                (422, "invalid_source"),
            ),
            (
                PromotionError::InvalidDigest(core()),
                (422, "invalid_digest"),
            ),
            (PromotionError::InvalidTag(core()), (422, "invalid_tag")),
            (
                PromotionError::UnknownRoute("r".into()),
                (422, "unknown_route"),
            ),
            (PromotionError::NotFound(id), (404, "not_found")),
            (PromotionError::NotRequester, (403, "not_requester")),
            (
                PromotionError::NotFailed {
                    id,
                    state: PromotionState::Promoted,
                },
                (409, "promotion_not_failed"),
            ),
            (
                PromotionError::NoLongerFailed(id),
                (409, "promotion_not_failed"),
            ),
            (PromotionError::ConcurrentChange, (409, "conflict")),
            (
                PromotionError::Evidence(EvidenceError::TooMany),
                (422, "invalid_evidence"),
            ),
            (
                PromotionError::Store(portcullis_store::Error::Conflict("x".into())),
                (409, "conflict"),
            ),
        ];
        for (e, expected) in cases {
            let code = e.code();
            assert_eq!(problem(e), expected);
            assert_eq!(code, expected.1, "the audited code is the answered one");
        }
    }

    #[test]
    fn registry_failures_name_their_end() {
        for end in [RegistryEnd::Source, RegistryEnd::Destination] {
            let e: ApiError = PromotionError::Registry {
                end,
                source: portcullis_registry::Error::InvalidRequest("refused".into()),
            }
            .into();
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (502, "registry_unavailable")
            );
            assert!(
                e.detail().starts_with(&format!("the {end} registry")),
                "{e}"
            );
        }
    }

    #[test]
    fn approval_errors_keep_their_status_and_code() {
        let id = Uuid::nil();
        let cases: Vec<(ApprovalError, (u16, &str))> = vec![
            (ApprovalError::NotFound(id), (404, "not_found")),
            (ApprovalError::SelfApproval, (403, "self_approval")),
            (
                ApprovalError::MissingGroup("qa".into()),
                (403, "missing_group"),
            ),
            (
                ApprovalError::AlreadyVoted {
                    subject: "a".into(),
                    id,
                },
                (409, "already_voted"),
            ),
            (
                ApprovalError::NotPending {
                    id,
                    state: PromotionState::Denied,
                },
                (409, "promotion_not_pending"),
            ),
            (
                ApprovalError::NoApprovalsRequired,
                (409, "promotion_not_pending"),
            ),
            (
                ApprovalError::PolicyChanged("x".into()),
                (409, "policy_changed"),
            ),
        ];
        for (e, expected) in cases {
            assert!(e.is_refusal() || expected.0 == 404, "{e}");
            let code = e.code();
            assert_eq!(problem(e), expected);
            assert_eq!(code, expected.1);
        }
        let q = AuditError::InvalidQuery("limit".into());
        assert_eq!(problem(q), (400, "invalid_query"));
    }

    #[test]
    fn waiver_errors_keep_their_status_and_code() {
        use portcullis_core::WaiverState;
        let id = Uuid::nil();
        let cases: Vec<(WaiverError, (u16, &str))> = vec![
            (
                WaiverError::Invalid {
                    code: "invalid_scope",
                    detail: "x".into(),
                },
                (422, "invalid_scope"),
            ),
            (WaiverError::NotFound(id), (404, "not_found")),
            (WaiverError::SelfConfirm, (403, "self_confirm")),
            (
                WaiverError::NotPending {
                    id,
                    state: WaiverState::Active,
                },
                (409, "waiver_not_pending"),
            ),
            (
                WaiverError::NotRevocable {
                    id,
                    state: WaiverState::Expired,
                },
                (409, "waiver_not_revocable"),
            ),
        ];
        for (e, expected) in cases {
            let code = e.code();
            assert_eq!(problem(e), expected);
            assert_eq!(code, expected.1);
        }
    }
}
