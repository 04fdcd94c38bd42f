//! `PromotionError`: why a promotion request, read or retry did not go through. Each variant
//! has a stable machine `code`; `error.rs` maps it to its HTTP status, once.

use portcullis_core::{Digest, PromotionState, Tag};
use uuid::Uuid;

use crate::services::documents::EvidenceError;
use crate::services::work::WorkError;

/// Which registry a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryEnd {
    /// The registry the image is promoted from.
    Source,
    /// The registry it is promoted to.
    Destination,
}

impl std::fmt::Display for RegistryEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Destination => "destination",
        })
    }
}

/// A promotion request, read or retry that failed.
#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    /// `source` is pinned by a malformed digest.
    #[error("{0}")]
    InvalidDigest(portcullis_core::Error),
    /// `source` is not an image reference.
    #[error("{0}")]
    InvalidSource(portcullis_core::Error),
    /// `route` names no configured route.
    #[error("no route named {0:?}")]
    UnknownRoute(String),
    /// `source` is not under the route's source prefix.
    #[error("{source_ref} is not under route {route:?}'s source prefix {from:?}")]
    SourceOutsideRoute {
        /// The requested source.
        source_ref: String,
        /// The route.
        route: String,
        /// Its source prefix.
        from: String,
    },
    /// `tag` is not a valid tag.
    #[error("{0}")]
    InvalidTag(portcullis_core::Error),
    /// A rollback's `repository` is not a repository name.
    #[error("repository {0:?} is not host/repository")]
    InvalidRepository(String),
    /// A rollback's `repository` is not under the route's destination prefix.
    #[error("{repository} is not under route {route:?}'s destination prefix {to:?}")]
    RepositoryOutsideRoute {
        /// The requested repository.
        repository: String,
        /// The route.
        route: String,
        /// Its destination prefix.
        to: String,
    },
    /// A rollback names a tag the route does not declare in `channel_tags`.
    #[error(
        "{tag} is not a channel tag of route {route:?} (channel tags: {declared}); only channel tags can be rolled back"
    )]
    NotAChannelTag {
        /// The tag asked for.
        tag: Tag,
        /// The route.
        route: String,
        /// The route's channel tags, comma-separated.
        declared: String,
    },
    /// A rollback to a digest this gate never promoted on the route and repository.
    #[error(
        "{digest} was never promoted to {repository} on route {route:?}; a rollback can only return to a digest promoted there"
    )]
    NotPromotedOnRoute {
        /// The digest asked for.
        digest: Digest,
        /// The destination repository.
        repository: String,
        /// The route.
        route: String,
    },
    /// A rollback's digest, or part of it, is no longer in the production registry.
    #[error("{digest} is not complete in {repository}: {missing}; promote it again instead")]
    MissingInProduction {
        /// The digest asked for.
        digest: Digest,
        /// The destination repository.
        repository: String,
        /// What is missing.
        missing: String,
    },
    /// The stored evidence of the promotion rolled back to is not an input document.
    #[error("the evidence stored with promotion {0} is not an object")]
    CorruptEvidence(Uuid),
    /// The evidence documents were refused or could not be processed.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// The destination tag points at another digest and the route keeps tags immutable.
    #[error(
        "{destination}:{tag} already points at {current}; tags are immutable on route {route:?} (set allow_tag_overwrite, or list it in channel_tags, to move it)"
    )]
    TagExists {
        /// The destination repository.
        destination: String,
        /// The tag.
        tag: Tag,
        /// What it points at now.
        current: Digest,
        /// The route.
        route: String,
    },
    /// A registry failed; `end` says which.
    #[error("the {end} registry: {source}")]
    Registry {
        /// Source or destination.
        end: RegistryEnd,
        /// The registry client's error.
        source: portcullis_registry::Error,
    },
    /// The same digest and route is open towards another destination or tag.
    #[error("promotion {id} is already open for this digest on route {route} to {destination}")]
    ConflictingOpen {
        /// The open promotion.
        id: Uuid,
        /// Its route.
        route: String,
        /// Its destination, with `:tag` if it has one.
        destination: String,
    },
    /// A concurrent request changed the promotion first.
    #[error("a concurrent request changed this promotion; retry")]
    ConcurrentChange,
    /// No such promotion.
    #[error("no promotion {0}")]
    NotFound(Uuid),
    /// The caller's role is granted on other routes only (`auth.oidc[].roles[].routes`).
    #[error("the caller's role is not granted on route {0}")]
    RouteNotAllowed(String),
    /// Only the requester or an admin may retry.
    #[error("only the requester of a promotion or an admin may retry it")]
    NotRequester,
    /// Only failed promotions can be retried.
    #[error("promotion {id} is {state}; only failed promotions can be retried")]
    NotFailed {
        /// The promotion.
        id: Uuid,
        /// Its state.
        state: PromotionState,
    },
    /// The promotion stopped being failed while the retry ran.
    #[error("promotion {0} is no longer failed")]
    NoLongerFailed(Uuid),
    /// The policy that judged the promotion no longer serves.
    #[error(
        "promotion {id} was approved under policy {judged_by} but {serving} serves now; request it again"
    )]
    PolicyChanged {
        /// The promotion.
        id: Uuid,
        /// The policy it was judged under.
        judged_by: Digest,
        /// The serving policy.
        serving: Digest,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
    /// Signing the evaluation failed.
    #[error("signing the evaluation: {0}")]
    Signing(#[from] portcullis_gate::Error),
    /// The blocking pool failed.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// The dry-run answer could not be serialised.
    #[error("serialising the dry-run answer: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl PromotionError {
    /// The stable machine code the API answers (`error.rs` adds the HTTP status).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDigest(_) => "invalid_digest",
            Self::InvalidSource(_) => "invalid_source",
            Self::UnknownRoute(_) => "unknown_route",
            Self::SourceOutsideRoute { .. } => "source_outside_route",
            Self::InvalidTag(_) => "invalid_tag",
            Self::InvalidRepository(_) => "invalid_repository",
            Self::RepositoryOutsideRoute { .. } => "repository_outside_route",
            Self::NotAChannelTag { .. } => "not_a_channel_tag",
            Self::NotPromotedOnRoute { .. } => "not_promoted_on_route",
            Self::MissingInProduction { .. } => "missing_in_production",
            Self::CorruptEvidence(_) => "internal",
            Self::Evidence(e) => e.code(),
            Self::TagExists { .. } => "tag_exists",
            Self::Registry { source, end } => registry_code(*end, source),
            Self::ConflictingOpen { .. } => "conflicting_open_promotion",
            Self::ConcurrentChange => "conflict",
            Self::NotFound(_) => "not_found",
            Self::NotRequester => "not_requester",
            Self::RouteNotAllowed(_) => "route_not_allowed",
            Self::NotFailed { .. } | Self::NoLongerFailed(_) => "promotion_not_failed",
            Self::PolicyChanged { .. } => "policy_changed",
            Self::Store(e) => crate::services::store_code(e),
            Self::Signing(_) | Self::Work(_) | Self::Serialize(_) => "internal",
        }
    }

    /// Whether this is a governance refusal the audit log records (`retry_refused`), not an
    /// unknown promotion, an outage or a bug.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::NotRequester
                | Self::RouteNotAllowed(_)
                | Self::NotFailed { .. }
                | Self::NoLongerFailed(_)
                | Self::PolicyChanged { .. }
                | Self::Store(portcullis_store::Error::Conflict(_))
        )
    }
}

/// The code of a registry failure: a missing source image or an existing tag are the
/// client's to fix; a hung registry and any other failure are the registry's.
fn registry_code(end: RegistryEnd, e: &portcullis_registry::Error) -> &'static str {
    match (end, e) {
        (_, portcullis_registry::Error::Timeout { .. }) => "registry_timeout",
        (RegistryEnd::Source, portcullis_registry::Error::NotFound { .. }) => "source_not_found",
        (RegistryEnd::Source, portcullis_registry::Error::TagExists { .. }) => "tag_exists",
        _ => "registry_unavailable",
    }
}
