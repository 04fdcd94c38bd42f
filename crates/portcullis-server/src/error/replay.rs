//! The decision replay's and the policy simulation's errors mapped to their HTTP status.

use axum::http::StatusCode;

use super::ApiError;
use crate::services::decisions::{ReplayError, SimulationError};

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        use ReplayError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Work(w) => w.into(),
            E::Bundle(_) | E::Input(_) => Self::internal(&e),
            E::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, e.to_string()),
            E::NotReplayable(_) => Self::new(StatusCode::CONFLICT, code, e.to_string()),
        }
    }
}

impl From<SimulationError> for ApiError {
    fn from(e: SimulationError) -> Self {
        use SimulationError as E;
        let code = e.code();
        match e {
            E::Store(s) => s.into(),
            E::Work(w) => w.into(),
            E::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, e.to_string()),
            E::Archive(_)
            | E::EntryRefused { .. }
            | E::TooManyEntries(_)
            | E::Invalid(_)
            | E::InvalidLast { .. }
            | E::Timeout { .. } => Self::unprocessable(code, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn replay_and_simulation_errors_keep_their_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ReplayError::NotFound(Uuid::nil()).into(), 404, "not_found"),
            (
                ReplayError::NotReplayable(Uuid::nil()).into(),
                409,
                "decision_not_replayable",
            ),
            (
                SimulationError::TooLarge { limit: 1 }.into(),
                413,
                "bundle_too_large",
            ),
            (
                SimulationError::EntryRefused {
                    path: "x".into(),
                    reason: "no",
                }
                .into(),
                422,
                "bundle_entry_refused",
            ),
            (
                SimulationError::Timeout {
                    limit_ms: 1,
                    judged: 0,
                }
                .into(),
                422,
                "simulation_timeout",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status().as_u16(), e.code()), (status, code));
        }
    }
}
