//! The policy decision and the promotion life cycle.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, GroupName, Result};

/// One rule the artifact broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// A finding that an active waiver suppressed; listed so the verdict shows which waiver
/// suppressed which finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Waived {
    /// The waiver's id (a UUID).
    pub waiver: String,
    /// `vulnerability` or `licence`.
    pub kind: String,
    /// The id the waiver names.
    #[serde(rename = "match")]
    pub matched: String,
    /// The finding it suppressed: the vulnerability id, or the licence term.
    pub finding: String,
    /// The affected package or component.
    pub package: String,
}

/// How many approvals from one group the policy demands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequirement {
    /// Number of distinct approvers.
    pub count: u32,
    /// The group they must hold.
    pub group: GroupName,
}

/// Most approval slots a requirement may have in all, and most groups it may name.
pub const MAX_APPROVAL_SLOTS: u32 = 64;
/// Most groups one requirement may name.
pub const MAX_APPROVAL_GROUPS: usize = 16;

/// The approvals the policy demands: one group's count (`{count, group}`, the original form,
/// kept byte for byte in signed records), or several (`[{group, count}, …]`, e.g. one from
/// `security` and two from `release-approvers`). One person fills at most one slot, of a
/// group they hold: a requirement is met when distinct approvers can be matched to every
/// slot (a bipartite matching, not a greedy count). A total of 0 promotes at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RequiredApprovals {
    /// One group.
    One(GroupRequirement),
    /// Several groups.
    Many(Vec<GroupRequirement>),
}

impl RequiredApprovals {
    /// The per-group requirements.
    pub fn groups(&self) -> &[GroupRequirement] {
        match self {
            Self::One(g) => std::slice::from_ref(g),
            Self::Many(gs) => gs,
        }
    }

    /// The number of approvals needed in all.
    pub fn total(&self) -> u32 {
        self.groups().iter().map(|g| g.count).sum()
    }

    /// Whether the shape is within bounds and names each group once.
    pub fn check(&self) -> std::result::Result<(), String> {
        let groups = self.groups();
        if groups.len() > MAX_APPROVAL_GROUPS {
            return Err(format!("more than {MAX_APPROVAL_GROUPS} approval groups"));
        }
        let total = groups
            .iter()
            .try_fold(0u32, |acc, g| acc.checked_add(g.count));
        if total.is_none_or(|t| t > MAX_APPROVAL_SLOTS) {
            return Err(format!("more than {MAX_APPROVAL_SLOTS} approvals in all"));
        }
        let mut names: Vec<&GroupName> = groups.iter().map(|g| &g.group).collect();
        names.sort();
        names.dedup();
        if names.len() != groups.len() {
            return Err("a group is named twice".into());
        }
        Ok(())
    }

    /// Whether someone holding `groups` could fill a slot.
    pub fn admits(&self, groups: &[GroupName]) -> bool {
        self.groups()
            .iter()
            .any(|g| g.count > 0 && groups.contains(&g.group))
    }

    /// How many slots distinct approvers (each with the groups they hold) can fill at most:
    /// a maximum bipartite matching of approvers to slots (Kuhn's augmenting paths; at most
    /// 64 slots).
    pub fn filled(&self, approvers: &[&[GroupName]]) -> u32 {
        let slots: Vec<&GroupName> = self
            .groups()
            .iter()
            .flat_map(|g| std::iter::repeat_n(&g.group, g.count as usize))
            .take(MAX_APPROVAL_SLOTS as usize)
            .collect();
        let mut slot_owner: Vec<Option<usize>> = vec![None; slots.len()];
        let mut matched = 0;
        for a in 0..approvers.len() {
            let mut seen = vec![false; slots.len()];
            if augment(a, approvers, &slots, &mut slot_owner, &mut seen) {
                matched += 1;
            }
        }
        matched
    }

    /// Whether the approvers meet the requirement.
    pub fn is_met(&self, approvers: &[&[GroupName]]) -> bool {
        self.filled(approvers) >= self.total()
    }
}

fn augment(
    a: usize,
    approvers: &[&[GroupName]],
    slots: &[&GroupName],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for s in 0..slots.len() {
        if seen[s] || !approvers[a].contains(slots[s]) {
            continue;
        }
        seen[s] = true;
        let free = match owner[s] {
            None => true,
            Some(other) => augment(other, approvers, slots, owner, seen),
        };
        if free {
            owner[s] = Some(a);
            return true;
        }
    }
    false
}

/// The verdict of the policy over one evidence set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Findings suppressed by active waivers.
    #[serde(default)]
    pub waived: Vec<Waived>,
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
            waived: Vec::new(),
        }
    }
}

/// Where a promotion is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Nobody approved it within `approvals.pending_expiry_hours`. Terminal.
    Expired,
}

impl PromotionState {
    /// Every state.
    pub const ALL: [Self; 7] = [
        Self::Denied,
        Self::PendingApproval,
        Self::Rejected,
        Self::Promoting,
        Self::Promoted,
        Self::Failed,
        Self::Expired,
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
            Self::Expired => "expired",
        }
    }

    /// Whether nothing more can happen to the promotion.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Denied | Self::Rejected | Self::Promoted | Self::Failed | Self::Expired
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn g(name: &str) -> GroupName {
        name.parse().unwrap()
    }

    fn req(json: &str) -> RequiredApprovals {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_single_form_round_trips_as_before_and_lists_are_accepted() {
        let one = req(r#"{"count": 2, "group": "release"}"#);
        assert!(matches!(one, RequiredApprovals::One(_)));
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            r#"{"count":2,"group":"release"}"#
        );
        let many = req(r#"[{"group": "security", "count": 1}, {"group": "release", "count": 2}]"#);
        assert_eq!(many.total(), 3);
        assert!(many.check().is_ok());
        assert!(
            req(r#"[{"group": "a", "count": 1}, {"group": "a", "count": 1}]"#)
                .check()
                .is_err()
        );
        assert!(req(r#"{"count": 65, "group": "a"}"#).check().is_err());
        assert!(
            serde_json::from_str::<RequiredApprovals>(r#"{"count": 1, "group": "a", "x": 1}"#)
                .is_err()
        );
    }

    #[test]
    fn one_person_fills_one_slot_and_the_matching_is_not_greedy() {
        let need = req(r#"[{"group": "security", "count": 1}, {"group": "release", "count": 1}]"#);
        let both = [g("security"), g("release")];
        let release = [g("release")];
        // One person in both groups counts once.
        assert!(!need.is_met(&[&both]));
        // A greedy count would give the dual member the release slot and leave security
        // empty; the matching gives them security.
        assert!(need.is_met(&[&both, &release]));
        assert!(need.is_met(&[&release, &both]));
        // Two release-only approvers cannot fill the security slot.
        assert!(!need.is_met(&[&release, &release]));
        assert_eq!(need.filled(&[&release, &release]), 1);
        // Zero in all is met by nobody.
        let none = req(r#"{"count": 0, "group": "release"}"#);
        assert!(none.is_met(&[]));
        assert!(!none.admits(&release));
    }
}
