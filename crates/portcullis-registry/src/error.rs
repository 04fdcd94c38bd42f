//! The error type of the registry client and copy engine. Messages name the registry and the
//! operation but never a credential, a token or an upload URL (those carry session state).
//! A copy's failures also say which end failed (`Role`): within one registry the host alone
//! cannot tell the source from the destination.

use std::fmt;

use portcullis_core::{Digest, Tag};

/// Everything that can go wrong talking to a registry or copying an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest, blob or repository does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for, e.g. `manifest sha256:… in host/repo`.
        what: String,
    },
    /// The registry refused our credentials (401 after the token dance, or 403).
    #[error("registry {registry} refused access ({status}) to {operation}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// 401 or 403.
        status: u16,
        /// What we were doing.
        operation: &'static str,
    },
    /// Any other unexpected HTTP status. The raw response body is logged, never carried
    /// here: this message reaches API clients.
    #[error(
        "registry {registry} answered {status} to {operation}{}",
        codes_suffix(codes)
    )]
    Http {
        /// The HTTP status code.
        status: u16,
        /// What we were doing.
        operation: &'static str,
        /// The registry host.
        registry: String,
        /// The OCI error `code` values of the body (e.g. `MANIFEST_UNKNOWN`, `DENIED`), if any.
        codes: Vec<String>,
    },
    /// A transient failure (429, 502, 503, 504) that outlasted every retry.
    #[error("registry {registry} answered {status} to {operation} {attempts} times; giving up")]
    RetriesExhausted {
        /// The registry host.
        registry: String,
        /// What we were doing.
        operation: &'static str,
        /// The status of the last attempt.
        status: u16,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// A connection failure or timeout that outlasted every retry; the URL is stripped.
    #[error("transport error talking to {registry} during {operation} {attempts} times; giving up")]
    TransportExhausted {
        /// The registry host.
        registry: String,
        /// What we were doing.
        operation: &'static str,
        /// Attempts made, the first included.
        attempts: u32,
        /// The last underlying error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// Content did not hash to the digest it was requested or announced by.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest we asked for or sent.
        expected: Digest,
        /// The digest we computed or the registry announced.
        actual: Digest,
    },
    /// A manifest we cannot copy: unknown media type or malformed JSON.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// A response that breaks the distribution protocol (bad header, bad upload location).
    #[error("protocol error from {registry}: {reason}")]
    Protocol {
        /// The registry host.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// The connection failed; the URL is stripped from the cause.
    #[error("transport error talking to {registry} during {operation}")]
    Transport {
        /// The registry host.
        registry: String,
        /// What we were doing.
        operation: &'static str,
        /// The underlying error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The registry accepted the request but did not answer within its configured timeouts
    /// (`response_header` for the headers, `idle_read` between two reads of the body).
    /// Not retried by the request itself: a hung registry would hold its caller for every
    /// attempt. The copy job retries it (see `is_transient`).
    #[error("registry {registry} did not answer {operation} in time ({waited_for} timed out)")]
    Timeout {
        /// The registry host.
        registry: String,
        /// What we were doing.
        operation: &'static str,
        /// `response headers` or `response body`.
        waited_for: &'static str,
    },
    /// A blob or manifest larger than the caller allowed.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was being read.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The destination tag already points at another manifest and the copy may not move it.
    #[error(
        "destination tag {tag} already points at {current}; tags are immutable unless overwrite is requested"
    )]
    TagExists {
        /// The destination tag.
        tag: Tag,
        /// The digest it points at now.
        current: Digest,
    },
    /// A copy plan or argument that cannot be executed (e.g. a tag as copy source).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A failure at one end of a copy: `error` happened talking to the `role` registry.
    #[error("{role}: {error}")]
    At {
        /// Which end failed.
        role: Role,
        /// What went wrong there (never another `At`).
        error: Box<Error>,
    },
}

/// Which end of a copy a registry failure happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The registry copied from.
    Source,
    /// The registry copied to.
    Destination,
}

impl Role {
    /// `source` or `destination`, as in messages and problem+json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "destination",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// This error as a failure at `role`'s end; an error that already names its end keeps
    /// it, and one about the request rather than a registry (`InvalidRequest`, `TagExists`)
    /// gets none.
    pub fn at(self, role: Role) -> Self {
        match self {
            Self::At { .. } | Self::InvalidRequest(_) | Self::TagExists { .. } => self,
            error => Self::At {
                role,
                error: Box::new(error),
            },
        }
    }

    /// `|e| e.at(role)`, for `map_err`.
    pub(crate) fn at_end(role: Role) -> impl Fn(Self) -> Self {
        move |e| e.at(role)
    }

    /// The end of a copy the error happened at, when known.
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::At { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// The error without the end it happened at.
    pub fn inner(&self) -> &Self {
        match self {
            Self::At { error, .. } => error,
            other => other,
        }
    }

    /// A transport error with its URL stripped (upload URLs carry session state).
    pub(crate) fn transport(
        registry: &str,
        operation: &'static str,
        source: reqwest::Error,
    ) -> Self {
        Self::Transport {
            registry: registry.to_owned(),
            operation,
            source: source.without_url(),
        }
    }

    /// A transport error on reading a response body: a read that timed out becomes
    /// `Timeout`, anything else `Transport`.
    pub(crate) fn body(registry: &str, operation: &'static str, source: reqwest::Error) -> Self {
        if source.is_timeout() {
            return Self::Timeout {
                registry: registry.to_owned(),
                operation,
                waited_for: "response body",
            };
        }
        Self::transport(registry, operation, source)
    }

    /// Whether a later attempt of the whole operation may succeed: a timeout, a connection
    /// failure, or a throttling/gateway status (also after the request's own retries gave
    /// up). Refusals, missing content, bad content and protocol errors are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::RetriesExhausted { .. } => true,
            Self::TransportExhausted { source, .. } | Self::Transport { source, .. } => {
                crate::retry::is_transient_transport(source)
            }
            Self::Http { status, .. } => crate::retry::is_transient_status(*status),
            Self::At { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// The registry host the error is about, when it is about one.
    pub fn registry(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { registry, .. }
            | Self::Http { registry, .. }
            | Self::RetriesExhausted { registry, .. }
            | Self::TransportExhausted { registry, .. }
            | Self::Protocol { registry, .. }
            | Self::Transport { registry, .. }
            | Self::Timeout { registry, .. } => Some(registry),
            Self::At { error, .. } => error.registry(),
            _ => None,
        }
    }

    /// A protocol error.
    pub(crate) fn protocol(registry: &str, reason: impl Into<String>) -> Self {
        Self::Protocol {
            registry: registry.to_owned(),
            reason: reason.into(),
        }
    }
}

/// ` (CODE1, CODE2)` for a non-empty code list, else nothing.
fn codes_suffix(codes: &[String]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(" ({})", codes.join(", "))
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
