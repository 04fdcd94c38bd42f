//! The testkit's error type: one enum for every failure the helpers can report.

use oci_client::errors::OciDistributionError;
use sigstore::errors::SigstoreError;

/// Everything that can go wrong while building, pushing or signing test images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry rejected a request or could not be reached.
    #[error("registry request failed")]
    Registry(#[from] Box<OciDistributionError>),
    /// Key handling or signing inside sigstore failed.
    #[error("sigstore operation failed")]
    Sigstore(#[from] Box<SigstoreError>),
    /// A private key could not be decrypted or parsed.
    #[error("cannot load private key (wrong password, or not a cosign ECDSA P-256 key)")]
    KeyLoad(#[source] Box<SigstoreError>),
    /// A registry/repository/tag/digest combination did not form a valid reference.
    #[error("invalid image reference `{0}`")]
    Reference(String),
    /// A JSON document could not be (de)serialized.
    #[error("JSON encoding failed")]
    Json(#[from] serde_json::Error),
    /// A local file or process operation failed.
    #[error("I/O failed")]
    Io(#[from] std::io::Error),
    /// An argument was outside what the helper supports.
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl From<OciDistributionError> for Error {
    fn from(e: OciDistributionError) -> Self {
        Self::Registry(Box::new(e))
    }
}

impl From<SigstoreError> for Error {
    fn from(e: SigstoreError) -> Self {
        Self::Sigstore(Box::new(e))
    }
}

/// Result alias used throughout the testkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;
