//! The one error type of the domain crate: every way an input can fail to parse.

/// A value that failed validation, with a message that names what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A digest that is not `sha256:<64 hex>` or `sha512:<128 hex>`.
    #[error(
        "invalid digest {0:?}: expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    InvalidDigest(String),
    /// An image reference that does not parse.
    #[error("invalid image reference {value:?}: {reason}")]
    InvalidReference {
        /// The offending input.
        value: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A repository path outside the distribution grammar.
    #[error("invalid repository path {0:?}")]
    InvalidRepository(String),
    /// A tag outside `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag {0:?}: must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")]
    InvalidTag(String),
    /// A group name outside `[A-Za-z0-9_.-]{1,64}`.
    #[error("invalid group name {0:?}: must be 1-64 of [A-Za-z0-9_.-]")]
    InvalidGroup(String),
    /// A token subject that cannot be an identity.
    #[error("invalid subject {value:?}: {reason}")]
    InvalidSubject {
        /// The offending input.
        value: String,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// An unknown role.
    #[error("invalid role {0:?}: expected one of ci, approver, auditor, admin")]
    InvalidRole(String),
    /// A platform filter that is not `os/arch[/variant]`.
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    InvalidPlatform(String),
    /// A request id that is not 1-64 characters of `[A-Za-z0-9._-]`.
    #[error("invalid request id {0:?}: must be 1-64 of [A-Za-z0-9._-]")]
    InvalidRequestId(String),
    /// An unknown severity or promotion state.
    #[error("invalid {kind} {value:?}")]
    InvalidEnum {
        /// Which enumeration.
        kind: &'static str,
        /// The offending input.
        value: String,
    },
    /// A CI-supplied evidence format we do not parse.
    #[error(
        "unknown evidence format {0:?}; supported: trivy-json, grype-json, cyclonedx-json, spdx-json, openvex"
    )]
    UnknownEvidenceFormat(String),
    /// A waived id that is empty, too long or not printable.
    #[error(
        "invalid waiver id {value:?}: {reason}; expected 1-128 printable bytes without white space"
    )]
    InvalidWaiverMatch {
        /// The offending input (at most its first 128 characters).
        value: String,
        /// What was wrong with it.
        reason: &'static str,
    },
}

/// Result alias for domain parsing.
pub type Result<T> = std::result::Result<T, Error>;
