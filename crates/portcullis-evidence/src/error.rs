//! Evidence errors: a report that does not parse names its format and the field at fault.

/// Why evidence could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document holding more evidence than the request may bring (`limits.*`).
    #[error("{0}")]
    TooLarge(crate::LimitExceeded),
    /// A report that does not match its format.
    #[error("{format} report is invalid at {field}: {reason}")]
    InvalidReport {
        /// The format.
        format: &'static str,
        /// JSON path of the offending field.
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// A trusted key that could not be loaded.
    #[error("trusted key {id}: {reason}")]
    InvalidKey {
        /// The key id.
        id: String,
        /// What was wrong.
        reason: String,
    },
    /// A keyless (Fulcio + Rekor) trust configuration that could not be loaded.
    #[error("keyless trust configuration: {0}")]
    InvalidKeyless(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
