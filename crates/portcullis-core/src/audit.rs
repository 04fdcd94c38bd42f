//! `AuditAction`: what an audit event records. The wire names are part of every event's
//! keyed hash, so they never change; a new action is a new variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What happened, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A promotion was requested.
    Requested,
    /// The policy judged a promotion's evidence.
    Evaluated,
    /// A pending promotion was closed because the policy changed under it.
    Superseded,
    /// An approver approved.
    Approved,
    /// An approver rejected.
    Rejected,
    /// A vote was refused (self approval, missing group, a second vote, …).
    VoteRefused,
    /// A failed promotion was put back in the copy queue.
    Retried,
    /// A retry was refused.
    RetryRefused,
    /// A copy job started.
    CopyStarted,
    /// A copy finished: the image is in production.
    Promoted,
    /// A copy failed.
    Failed,
    /// A signed record or the audit log failed a check.
    IntegrityViolation,
    /// A new policy bundle serves.
    PolicyReloaded,
    /// A policy reload was refused; the previous bundle keeps serving.
    PolicyReloadFailed,
    /// A holder of the break-glass role promoted despite a deny or missing approvals.
    BreakGlass,
    /// A break-glass attempt was refused.
    BreakGlassRefused,
    /// An auditor acknowledged a review item (a break-glass).
    ReviewAcknowledged,
    /// The policy required no approvals: the promotion was released at once.
    AutoApproved,
    /// A pending promotion expired unapproved.
    Expired,
    /// An admin minted a token through the API.
    TokenCreated,
    /// A second admin confirmed an approver or break-glass token.
    TokenConfirmed,
    /// An approver created a waiver (pending until a second approver confirms it).
    WaiverCreated,
    /// A second approver confirmed a waiver: it applies.
    WaiverConfirmed,
    /// A waiver was revoked.
    WaiverRevoked,
    /// A waiver passed its expiry.
    WaiverExpired,
    /// A rollback of a route's channel tag to an earlier promoted digest was requested.
    RollbackRequested,
    /// An admin withdrew a promoted image: admission refuses it from now on.
    Withdrawn,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [Self; 27] = [
        Self::Requested,
        Self::Evaluated,
        Self::Superseded,
        Self::Approved,
        Self::Rejected,
        Self::VoteRefused,
        Self::Retried,
        Self::RetryRefused,
        Self::CopyStarted,
        Self::Promoted,
        Self::Failed,
        Self::IntegrityViolation,
        Self::PolicyReloaded,
        Self::PolicyReloadFailed,
        Self::BreakGlass,
        Self::BreakGlassRefused,
        Self::ReviewAcknowledged,
        Self::AutoApproved,
        Self::Expired,
        Self::TokenCreated,
        Self::TokenConfirmed,
        Self::WaiverCreated,
        Self::WaiverConfirmed,
        Self::WaiverRevoked,
        Self::WaiverExpired,
        Self::RollbackRequested,
        Self::Withdrawn,
    ];

    /// The wire name, as stored and hashed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Evaluated => "evaluated",
            Self::Superseded => "superseded",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::VoteRefused => "vote_refused",
            Self::Retried => "retried",
            Self::RetryRefused => "retry_refused",
            Self::CopyStarted => "copy_started",
            Self::Promoted => "promoted",
            Self::Failed => "failed",
            Self::IntegrityViolation => "integrity_violation",
            Self::PolicyReloaded => "policy_reloaded",
            Self::PolicyReloadFailed => "policy_reload_failed",
            Self::BreakGlass => "break_glass",
            Self::BreakGlassRefused => "break_glass_refused",
            Self::ReviewAcknowledged => "review_acknowledged",
            Self::AutoApproved => "auto_approved",
            Self::Expired => "expired",
            Self::TokenCreated => "token_created",
            Self::TokenConfirmed => "token_confirmed",
            Self::WaiverCreated => "waiver_created",
            Self::WaiverConfirmed => "waiver_confirmed",
            Self::WaiverRevoked => "waiver_revoked",
            Self::WaiverExpired => "waiver_expired",
            Self::RollbackRequested => "rollback_requested",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl FromStr for AuditAction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "audit action",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
            assert_eq!(
                serde_json::to_value(a).ok(),
                Some(serde_json::Value::String(a.as_str().to_owned()))
            );
        }
        assert!("paging_test".parse::<AuditAction>().is_err());
    }
}
