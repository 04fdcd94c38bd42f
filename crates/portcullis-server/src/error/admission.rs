//! Withdrawal and runtime-report errors mapped to their HTTP status, once (the admission
//! review itself never fails: it answers an AdmissionReview).

use axum::http::StatusCode;

use super::ApiError;
use crate::services::runtime::RuntimeError;
use crate::services::withdrawal::WithdrawalError;

impl From<WithdrawalError> for ApiError {
    fn from(e: WithdrawalError) -> Self {
        use WithdrawalError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Signing(_) => Self::internal(&e),
            E::InvalidReason(_) => Self::unprocessable(code, e.to_string()),
            E::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, e.to_string()),
            E::NotPromoted { .. } | E::AlreadyWithdrawn(_) => Self::conflict(code, e.to_string()),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let code = e.code();
        match e {
            RuntimeError::Store(s) => s.into(),
            RuntimeError::Invalid {
                code: "invalid_query",
                ..
            } => Self::bad_request(code, e.to_string()),
            RuntimeError::Invalid { .. } => Self::unprocessable(code, e.to_string()),
        }
    }
}
