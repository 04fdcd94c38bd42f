//! `Subject`: who a token (and so a vote or a request) belongs to. One person is one
//! identity across their tokens: subjects are trimmed and lower-cased when parsed, so
//! `Alice` and `alice` are the same approver and cannot fill two approval slots.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, TextKind, is_forbidden};

/// A normalised subject: 1-200 characters, lower case, no white space at either end, no
/// control or bidirectional-formatting characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Subject {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_lowercase();
        let len = norm.chars().count();
        if !(1..=200).contains(&len) {
            return Err(Error::InvalidSubject {
                value: s.to_owned(),
                reason: "must be 1-200 characters",
            });
        }
        if norm.chars().any(|c| is_forbidden(c, TextKind::Line)) {
            return Err(Error::InvalidSubject {
                value: s.to_owned(),
                reason: "must not contain control or bidirectional-formatting characters",
            });
        }
        Ok(Self(norm))
    }
}

impl TryFrom<String> for Subject {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> Self {
        s.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_surrounding_space_do_not_make_another_person() {
        let a: Subject = "Alice".parse().unwrap();
        let b: Subject = "  alice ".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "alice");
        assert_eq!(
            "ALICE@Example.COM".parse::<Subject>().unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn empty_long_and_control_subjects_are_refused() {
        for bad in [
            "",
            "   ",
            "a\u{0}b",
            "evil\u{202e}gpj",
            "x\u{1b}[31m",
            &"a".repeat(201),
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad:?}");
        }
    }
}
