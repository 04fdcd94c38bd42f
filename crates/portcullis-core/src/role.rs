//! Roles and approver groups carried by API tokens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Requests promotions.
    Ci,
    /// Approves or rejects promotions for the groups it holds.
    Approver,
    /// Reads promotions and the audit log.
    Auditor,
    /// Everything.
    Admin,
    /// Promotes in an emergency despite a deny or missing approvals (loudly, reviewed).
    #[serde(rename = "break-glass")]
    BreakGlass,
    /// The Kubernetes admission webhook's credentials: asks whether images may run and
    /// reports what runs, nothing else.
    Admission,
}

impl Role {
    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ci => "ci",
            Self::Approver => "approver",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
            Self::BreakGlass => "break-glass",
            Self::Admission => "admission",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ci" => Ok(Self::Ci),
            "approver" => Ok(Self::Approver),
            "auditor" => Ok(Self::Auditor),
            "admin" => Ok(Self::Admin),
            "break-glass" => Ok(Self::BreakGlass),
            "admission" => Ok(Self::Admission),
            _ => Err(Error::InvalidRole(s.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An approver group name, `[A-Za-z0-9_.-]{1,64}`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "release-approvers")]
pub struct GroupName(String);

impl GroupName {
    /// The group's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GroupName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidGroup(s.to_owned()))
        }
    }
}

impl TryFrom<String> for GroupName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<GroupName> for String {
    fn from(g: GroupName) -> String {
        g.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
