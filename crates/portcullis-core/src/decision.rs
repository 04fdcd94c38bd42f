//! The policy decision and the promotion life cycle.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, GroupName, Result};

/// One rule the artifact broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Stable rule id, e.g. `vuln.no_critical`.
    pub rule: String,
    /// Human-readable explanation.
    pub message: String,
    /// `critical`, `high`, `medium`, `low`.
    pub severity: String,
    /// What to do about it.
    #[serde(default)]
    pub remediation: String,
}

/// A vulnerability finding that a VEX statement suppressed; listed so the suppression is
/// visible in the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The vulnerability id.
    pub vulnerability: String,
    /// The affected package.
    pub package: String,
    /// The VEX status that suppressed it (`not_affected`, `fixed`).
    pub status: String,
    /// The VEX justification, when given.
    #[serde(default)]
    pub justification: Option<String>,
    /// Where the VEX statement came from (`ci:openvex`, `attestation:<key ids>`).
    pub source: String,
}

/// How many approvals from which group the policy demands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredApprovals {
    /// Number of distinct approvers.
    pub count: u32,
    /// The group they must hold.
    pub group: GroupName,
}

/// The verdict of the policy over one evidence set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the artifact may proceed to approval.
    pub allow: bool,
    /// Every rule broken; empty when allowed.
    pub violations: Vec<Violation>,
    /// The approvals required before copying.
    pub required_approvals: Option<RequiredApprovals>,
    /// Notes that never block.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Findings suppressed by VEX statements.
    #[serde(default)]
    pub suppressions: Vec<Suppression>,
}

impl Decision {
    /// A deny with a single violation; used whenever evaluation itself fails (fail closed).
    pub fn deny(rule: &str, message: impl Into<String>) -> Self {
        Self {
            allow: false,
            violations: vec![Violation {
                rule: rule.to_owned(),
                message: message.into(),
                severity: "critical".to_owned(),
                remediation: "fix the policy bundle or the evidence and request again".to_owned(),
            }],
            required_approvals: None,
            warnings: Vec::new(),
            suppressions: Vec::new(),
        }
    }
}

/// Where a promotion is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionState {
    /// The policy denied it. Terminal.
    Denied,
    /// Allowed by policy, waiting for approvals.
    PendingApproval,
    /// An approver vetoed it. Terminal.
    Rejected,
    /// Approved; the copy job is running.
    Promoting,
    /// Copied to production. Terminal.
    Promoted,
    /// The copy failed. Terminal.
    Failed,
}

impl PromotionState {
    /// Every state.
    pub const ALL: [Self; 6] = [
        Self::Denied,
        Self::PendingApproval,
        Self::Rejected,
        Self::Promoting,
        Self::Promoted,
        Self::Failed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::PendingApproval => "pending_approval",
            Self::Rejected => "rejected",
            Self::Promoting => "promoting",
            Self::Promoted => "promoted",
            Self::Failed => "failed",
        }
    }

    /// Whether nothing more can happen to the promotion.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Denied | Self::Rejected | Self::Promoted | Self::Failed
        )
    }
}

impl FromStr for PromotionState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "promotion state",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for PromotionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An approver's vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Counts toward the required approvals.
    Approve,
    /// Vetoes the promotion.
    Reject,
}

impl Verdict {
    /// The wire name, as stored and signed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

impl FromStr for Verdict {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Self::Approve, Self::Reject]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "verdict",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
