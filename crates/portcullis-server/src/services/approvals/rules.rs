//! The voting rules as pure functions, so each can be tested without a database: who may
//! vote (`check_vote`), where a vote leaves the promotion (`next_state`), and whether it may
//! release it (`may_release`, a hint checked before the vote's signatures are).

use portcullis_core::{GroupName, PromotionState, RequiredApprovals, Verdict};
use portcullis_store::ApprovalRecord;
use uuid::Uuid;

use super::error::ApprovalError;

/// What a vote is judged on: the promotion's requester and signed requirement, the voter,
/// and the votes already cast.
#[derive(Debug, Clone, Copy)]
pub struct Ballot<'a> {
    /// The promotion.
    pub promotion: Uuid,
    /// Who requested it (as stored).
    pub requested_by: &'a str,
    /// The approvals the signed evaluation requires; `None` if it requires none.
    pub required: Option<&'a RequiredApprovals>,
    /// The voter's normalised subject.
    pub voter: &'a str,
    /// The voter's groups.
    pub voter_groups: &'a [GroupName],
    /// The votes cast so far.
    pub earlier: &'a [ApprovalRecord],
}

/// Whether the voter may vote: not the requester (separation of duties), a promotion that
/// asks for approvals, the required group, and no earlier vote by the same person
/// (subjects compare case-insensitively). Returns the requirement the vote counts towards.
pub fn check_vote<'a>(b: &Ballot<'a>) -> Result<&'a RequiredApprovals, ApprovalError> {
    if b.requested_by.to_lowercase() == b.voter {
        return Err(ApprovalError::SelfApproval);
    }
    let required = b.required.ok_or(ApprovalError::NoApprovalsRequired)?;
    if required.total() == 0 {
        return Err(ApprovalError::NoApprovalsRequired);
    }
    if !required.admits(b.voter_groups) {
        let names: Vec<&str> = required
            .groups()
            .iter()
            .filter(|g| g.count > 0)
            .map(|g| g.group.as_str())
            .collect();
        return Err(ApprovalError::MissingGroup(names.join(" or ")));
    }
    if b.earlier
        .iter()
        .any(|v| v.approver.to_lowercase() == b.voter)
    {
        return Err(ApprovalError::AlreadyVoted {
            subject: b.voter.to_owned(),
            id: b.promotion,
        });
    }
    Ok(required)
}

/// Where a vote leaves the promotion: a rejection vetoes it; approvals whose approvers (each
/// with the groups they held when voting, this vote included) can be matched to every slot
/// of the requirement release the copy; otherwise it keeps waiting.
pub fn next_state(
    verdict: Verdict,
    approving: &[&[GroupName]],
    required: &RequiredApprovals,
) -> PromotionState {
    match verdict {
        Verdict::Reject => PromotionState::Rejected,
        Verdict::Approve if required.is_met(approving) => PromotionState::Promoting,
        Verdict::Approve => PromotionState::PendingApproval,
    }
}

/// Whether this vote may be the one that releases the promotion: an approval, no earlier
/// rejection, and enough approvals with it to fill the requirement's count (groups are
/// judged by `next_state` later). A hint only (the copier reads the copy's plan ahead on it);
/// nothing is decided on it.
pub fn may_release(
    verdict: Verdict,
    earlier: &[ApprovalRecord],
    required: &RequiredApprovals,
) -> bool {
    let approvals = earlier
        .iter()
        .filter(|v| v.verdict == Verdict::Approve)
        .count();
    verdict == Verdict::Approve
        && earlier.iter().all(|v| v.verdict == Verdict::Approve)
        && approvals + 1 >= usize::try_from(required.total()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn group(name: &str) -> GroupName {
        name.parse().unwrap()
    }

    fn vote(approver: &str, verdict: Verdict) -> ApprovalRecord {
        ApprovalRecord {
            approver: approver.to_owned(),
            verdict,
            comment: String::new(),
            at: Utc::now(),
            evidence_hash: None,
            envelope: None,
        }
    }

    fn two_of_release() -> RequiredApprovals {
        RequiredApprovals::One(portcullis_core::GroupRequirement {
            count: 2,
            group: group("release-approvers"),
        })
    }

    fn ballot<'a>(
        required: Option<&'a RequiredApprovals>,
        voter: &'a str,
        groups: &'a [GroupName],
        earlier: &'a [ApprovalRecord],
    ) -> Ballot<'a> {
        Ballot {
            promotion: Uuid::nil(),
            requested_by: "CI-Pipeline",
            required,
            voter,
            voter_groups: groups,
            earlier,
        }
    }

    #[test]
    fn requester_cannot_approve_own_promotion_whatever_the_case() {
        let req = two_of_release();
        let groups = [group("release-approvers")];
        let err = check_vote(&ballot(Some(&req), "ci-pipeline", &groups, &[])).unwrap_err();
        assert!(matches!(err, ApprovalError::SelfApproval), "{err}");
    }

    #[test]
    fn voter_outside_the_required_group_is_refused() {
        let req = two_of_release();
        let groups = [group("developers")];
        let err = check_vote(&ballot(Some(&req), "mallory", &groups, &[])).unwrap_err();
        assert!(
            matches!(&err, ApprovalError::MissingGroup(g) if g == "release-approvers"),
            "{err}"
        );
    }

    #[test]
    fn a_second_vote_by_the_same_person_is_refused() {
        let req = two_of_release();
        let groups = [group("release-approvers")];
        let earlier = [vote("Alice", Verdict::Approve)];
        let err = check_vote(&ballot(Some(&req), "alice", &groups, &earlier)).unwrap_err();
        assert!(matches!(err, ApprovalError::AlreadyVoted { .. }), "{err}");
        let other = [vote("bob", Verdict::Approve)];
        let ok = check_vote(&ballot(Some(&req), "alice", &groups, &other)).unwrap();
        assert_eq!(ok, &req);
    }

    #[test]
    fn a_decision_without_a_requirement_takes_no_votes() {
        let groups = [group("release-approvers")];
        let err = check_vote(&ballot(None, "alice", &groups, &[])).unwrap_err();
        assert!(matches!(err, ApprovalError::NoApprovalsRequired), "{err}");
    }

    #[test]
    fn quorum_releases_the_copy_and_not_before() {
        let req = two_of_release();
        let release = [group("release-approvers")];
        assert_eq!(
            next_state(Verdict::Approve, &[&release], &req),
            PromotionState::PendingApproval
        );
        assert_eq!(
            next_state(Verdict::Approve, &[&release, &release], &req),
            PromotionState::Promoting
        );
    }

    #[test]
    fn several_groups_need_distinct_people_matched_to_their_slots() {
        let req: RequiredApprovals = serde_json::from_str(
            r#"[{"group": "security", "count": 1}, {"group": "release-approvers", "count": 1}]"#,
        )
        .unwrap();
        let both = [group("security"), group("release-approvers")];
        let release = [group("release-approvers")];
        assert_eq!(
            next_state(Verdict::Approve, &[&both], &req),
            PromotionState::PendingApproval,
            "one person in two groups counts once"
        );
        assert_eq!(
            next_state(Verdict::Approve, &[&release, &both], &req),
            PromotionState::Promoting
        );
        let err = check_vote(&ballot(Some(&req), "mallory", &[group("qa")], &[])).unwrap_err();
        assert!(
            matches!(&err, ApprovalError::MissingGroup(g) if g == "security or release-approvers"),
            "{err}"
        );
    }

    #[test]
    fn one_rejection_vetoes_whatever_the_count() {
        let req = two_of_release();
        let release = [group("release-approvers")];
        for approving in [0, 1, 2, 5] {
            let voters = vec![&release[..]; approving];
            assert_eq!(
                next_state(Verdict::Reject, &voters, &req),
                PromotionState::Rejected
            );
        }
    }

    #[test]
    fn only_the_approval_that_fills_the_count_may_release() {
        let required = two_of_release();
        let alice = vote("alice", Verdict::Approve);
        assert!(!may_release(Verdict::Approve, &[], &required));
        assert!(may_release(
            Verdict::Approve,
            std::slice::from_ref(&alice),
            &required
        ));
        assert!(!may_release(
            Verdict::Reject,
            std::slice::from_ref(&alice),
            &required
        ));
        let carol = vote("carol", Verdict::Reject);
        assert!(!may_release(Verdict::Approve, &[alice, carol], &required));
    }
}
