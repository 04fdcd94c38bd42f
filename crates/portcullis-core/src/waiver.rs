//! Waivers: governed exceptions to the policy. A waiver names one vulnerability or licence id
//! and a scope (a repository prefix or one digest); it applies only once a second approver
//! confirmed it, and never after it expires. These are the checked parts of one; the
//! store keeps them and the server decides who may change them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Digest, Error, RepoPath, Result};

/// Longest waived id (`CVE-…`, `GHSA-…`, an SPDX licence id), in bytes.
pub const MAX_WAIVER_MATCH: usize = 128;

/// What a waiver waives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaiverKind {
    /// A vulnerability finding, by id or alias.
    Vulnerability,
    /// A licence term (an SPDX id as the input's `licence.terms` carry it).
    Licence,
}

impl WaiverKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vulnerability => "vulnerability",
            Self::Licence => "licence",
        }
    }
}

impl FromStr for WaiverKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Self::Vulnerability, Self::Licence]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "waiver kind (vulnerability or licence)",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for WaiverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a waiver is in its life, as stored. `expired` is also derived from `expires_at`
/// for a pending or active waiver whose time has passed (see [`WaiverState::at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaiverState {
    /// Created, awaiting a second approver's confirmation; does not apply.
    Pending,
    /// Confirmed: applies until it expires or is revoked.
    Active,
    /// Revoked. Terminal.
    Revoked,
    /// Past its `expires_at`. Terminal.
    Expired,
}

impl WaiverState {
    /// Every state.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Active, Self::Revoked, Self::Expired];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    /// The state as seen when `expired_by_time` (its `expires_at` has passed): a pending or
    /// active waiver is then expired, whether or not the sweep has marked it yet.
    pub fn at(self, expired_by_time: bool) -> Self {
        match self {
            Self::Pending | Self::Active if expired_by_time => Self::Expired,
            other => other,
        }
    }
}

impl FromStr for WaiverState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::InvalidEnum {
                kind: "waiver state",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for WaiverState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id a waiver waives: 1–128 bytes, printable, no white space.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "CVE-2024-3094")]
pub struct WaiverMatch(String);

impl WaiverMatch {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WaiverMatch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let reason = if s.is_empty() {
            Some("it is empty")
        } else if s.len() > MAX_WAIVER_MATCH {
            Some("it is longer than 128 bytes")
        } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains white space or a control character")
        } else if s
            .chars()
            .any(|c| crate::is_forbidden(c, crate::TextKind::Line))
        {
            Some("it contains a forbidden character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidWaiverMatch {
                value: s.chars().take(MAX_WAIVER_MATCH).collect(),
                reason,
            }),
            None => Ok(Self(s.to_owned())),
        }
    }
}

impl TryFrom<String> for WaiverMatch {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<WaiverMatch> for String {
    fn from(m: WaiverMatch) -> String {
        m.0
    }
}

impl fmt::Display for WaiverMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which images a waiver covers: every repository under a path prefix (`{repository_prefix}`,
/// matched on whole path segments of the source repository) or one digest (`{digest}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WaiverScope {
    /// Source repositories equal to this path or under it (`team` covers `team/app`, not
    /// `teamx/app`).
    RepositoryPrefix(RepoPath),
    /// Exactly this manifest digest.
    Digest(Digest),
}

impl WaiverScope {
    /// Whether an image in source repository `repository` with manifest digest `digest` is
    /// in scope.
    pub fn covers(&self, repository: &RepoPath, digest: &Digest) -> bool {
        match self {
            Self::Digest(d) => d == digest,
            Self::RepositoryPrefix(prefix) => {
                let (repo, prefix) = (repository.as_str(), prefix.as_str());
                repo.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoPath {
        s.parse().unwrap()
    }

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    #[test]
    fn a_prefix_covers_whole_path_segments_only() {
        let scope = WaiverScope::RepositoryPrefix(repo("team/app"));
        let d = digest('a');
        assert!(scope.covers(&repo("team/app"), &d));
        assert!(scope.covers(&repo("team/app/worker"), &d));
        assert!(!scope.covers(&repo("team/application"), &d));
        assert!(!scope.covers(&repo("team"), &d));
        assert!(!scope.covers(&repo("other/team/app"), &d));
        let top = WaiverScope::RepositoryPrefix(repo("team"));
        assert!(top.covers(&repo("team/app"), &d));
        assert!(!top.covers(&repo("teamx/app"), &d));
    }

    #[test]
    fn a_digest_scope_covers_that_digest_in_any_repository() {
        let scope = WaiverScope::Digest(digest('a'));
        assert!(scope.covers(&repo("team/app"), &digest('a')));
        assert!(scope.covers(&repo("other"), &digest('a')));
        assert!(!scope.covers(&repo("team/app"), &digest('b')));
    }

    #[test]
    fn scopes_have_exactly_one_key_on_the_wire() {
        let json = serde_json::to_value(WaiverScope::RepositoryPrefix(repo("team"))).unwrap();
        assert_eq!(json, serde_json::json!({"repository_prefix": "team"}));
        let both = serde_json::json!({"repository_prefix": "team", "digest": digest('a')});
        assert!(serde_json::from_value::<WaiverScope>(both).is_err());
        let bad = serde_json::json!({"repository_prefix": "Team/"});
        assert!(serde_json::from_value::<WaiverScope>(bad).is_err());
    }

    #[test]
    fn waived_ids_are_bounded_printable_and_without_white_space() {
        for ok in [
            "CVE-2024-1234",
            "GHSA-xxxx-yyyy-zzzz",
            "GPL-3.0-only",
            "LicenseRef-x",
        ] {
            assert_eq!(ok.parse::<WaiverMatch>().unwrap().as_str(), ok);
        }
        let long = "x".repeat(129);
        for bad in ["", "CVE 1", "CVE-1\n", "\u{202e}CVE", "\tx", long.as_str()] {
            assert!(bad.parse::<WaiverMatch>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(128).parse::<WaiverMatch>().is_ok());
    }

    #[test]
    fn kinds_and_states_round_trip() {
        assert_eq!("licence".parse::<WaiverKind>(), Ok(WaiverKind::Licence));
        assert!("license".parse::<WaiverKind>().is_err());
        for s in WaiverState::ALL {
            assert_eq!(s.as_str().parse::<WaiverState>(), Ok(s));
        }
        assert_eq!(WaiverState::Active.at(true), WaiverState::Expired);
        assert_eq!(WaiverState::Pending.at(true), WaiverState::Expired);
        assert_eq!(WaiverState::Revoked.at(true), WaiverState::Revoked);
        assert_eq!(WaiverState::Active.at(false), WaiverState::Active);
    }
}
