//! Errors raised while loading or testing a policy bundle.

use std::path::PathBuf;

/// Why a bundle could not be loaded or tested.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a bundle file failed.
    #[error("cannot read policy file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A Rego file failed to parse or compile.
    #[error("policy file {path} does not compile: {message}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// The engine's message.
        message: String,
    },
    /// The data document is not valid JSON.
    #[error("policy data {path} is invalid: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The bundle holds no policy.
    #[error("policy directory {0} holds no .rego policy")]
    Empty(PathBuf),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
