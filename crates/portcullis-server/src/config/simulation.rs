//! Policy simulation (`simulation:`): `POST /v1/policy/simulate` and `portcullis policy
//! simulate` judge recent decisions with a candidate bundle within a time limit.

use serde::Deserialize;

/// Bounds on a policy simulation.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationSettings {
    /// Longest a simulation may run, each candidate evaluation included, before it is
    /// answered 422 `simulation_timeout` (default 10000; at most the request deadline,
    /// `http.request_timeout_seconds`).
    pub timeout_ms: u64,
}

impl Default for SimulationSettings {
    fn default() -> Self {
        Self { timeout_ms: 10_000 }
    }
}
