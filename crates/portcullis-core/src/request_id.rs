//! `RequestId`: the id one HTTP request carries through the logs, its error answer and the
//! audit events it writes. A client may bring its own in `x-request-id`; it is kept only if
//! it is 1-64 characters of `[A-Za-z0-9._-]` (nothing a log line or a header could be
//! confused by), otherwise the gate makes one (a UUID).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest client-supplied id kept.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// A checked request id: 1-64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id (a random UUID, always valid).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RequestId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if s.is_empty() || s.len() > MAX_REQUEST_ID_LEN || !s.chars().all(allowed) {
            return Err(Error::InvalidRequestId(s.chars().take(80).collect()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for RequestId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RequestId> for String {
    fn from(r: RequestId) -> Self {
        r.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_up_to_64_of_the_allowed_characters() {
        let id = "a".repeat(64);
        assert_eq!(id.parse::<RequestId>().map(String::from), Ok(id));
        assert!("Build-42.run_7".parse::<RequestId>().is_ok());
    }

    #[test]
    fn refuses_long_empty_or_foreign_characters() {
        for bad in ["", &"a".repeat(65), "a b", "a\nb", "a/b", "é", "id;drop"] {
            assert!(bad.parse::<RequestId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert!(a.as_str().parse::<RequestId>().is_ok());
    }
}
