//! Errors of the gate's key handling and signed records.

/// Why a key could not be used or a record did not verify.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key is not a PEM key of a supported kind.
    #[error("{0}")]
    InvalidKey(String),
    /// Signing failed (the crypto library refused).
    #[error("signing failed")]
    Sign,
    /// A signed record does not verify.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// A record is not what its type says.
    #[error("malformed record: {0}")]
    Malformed(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
