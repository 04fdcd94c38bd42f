//! The promotion request body and its checks: every field is parsed into its domain type,
//! the route found, the evidence parsed and counted (on the blocking pool), before anything
//! is resolved, evaluated or written.

use std::sync::Arc;

use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};
use portcullis_store::PromotionRecord;
use serde::Deserialize;

use super::error::{PromotionError, RegistryEnd};
use crate::auth::{Caller, roles};
use crate::config::Route;
use crate::services::documents::{self, EvidenceDocument};
use crate::services::input_cache::ParsedDocument;
use crate::services::work::{self, Weight};
use crate::state::AppState;

/// The roles that may request promotions (and retry them).
pub(super) const REQUESTERS: u8 = roles::CI | roles::ADMIN;

/// The body of `POST /v1/promotions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// The source image, `host/repository@sha256:<hex>` (or a tag, resolved once).
    pub(super) source: String,
    /// The configured route it travels.
    pub(super) route: String,
    /// The destination tag to set.
    tag: Option<String>,
    /// CI-supplied evidence documents (scan reports, SBOMs, VEX).
    #[serde(default)]
    evidence: Vec<EvidenceDocument>,
    /// Judge only: answer the verdict and the policy input, store nothing.
    #[serde(default)]
    pub(super) dry_run: bool,
}

impl PromotionRequest {
    /// The free-text fields and their names, for the handler's text check.
    pub fn text_fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![("source", self.source.as_str()), ("route", &self.route)];
        fields.extend(self.tag.as_deref().map(|t| ("tag", t)));
        fields.extend(
            self.evidence
                .iter()
                .map(|e| ("evidence.format", e.format())),
        );
        fields
    }
}

/// A request whose every field has been checked.
pub(super) struct Validated {
    pub(super) source: ImageRef,
    pub(super) route: Route,
    /// The destination registry and repository, and the two joined.
    pub(super) dest: (RegistryHost, RepoPath),
    pub(super) destination: String,
    pub(super) tag: Option<Tag>,
    /// The CI-supplied documents, parsed and built.
    pub(super) documents: Vec<Arc<ParsedDocument>>,
}

/// Checks every field; the evidence documents are taken out of `req`, parsed and counted on
/// the blocking pool.
pub(super) async fn validate(
    state: &AppState,
    caller: &Caller,
    req: &mut PromotionRequest,
) -> Result<Validated, PromotionError> {
    let source: ImageRef = req.source.parse().map_err(|e| match e {
        e @ portcullis_core::Error::InvalidDigest(_) => PromotionError::InvalidDigest(e),
        other => PromotionError::InvalidSource(other),
    })?;
    let route = state
        .routes
        .iter()
        .find(|r| r.name == req.route)
        .ok_or_else(|| PromotionError::UnknownRoute(req.route.clone()))?
        .clone();
    if !caller.may_on(REQUESTERS, &route.name) {
        return Err(PromotionError::RouteNotAllowed(route.name.clone()));
    }
    let (host, repo) =
        route
            .destination(&source)
            .ok_or_else(|| PromotionError::SourceOutsideRoute {
                source_ref: source.to_string(),
                route: route.name.clone(),
                from: route.from.clone(),
            })?;
    let tag = match (&req.tag, &source.reference) {
        (Some(t), _) => Some(t.parse().map_err(PromotionError::InvalidTag)?),
        (None, Reference::Tag(t)) => Some(t.clone()),
        (None, Reference::Digest(_)) => None,
    };
    let documents = std::mem::take(&mut req.evidence);
    let limits = state.gate.limits;
    let cache = Arc::clone(&state.gate.input_cache);
    let bytes = documents.iter().map(EvidenceDocument::byte_len).sum();
    let parsed = work::run(
        &state.gate.eval_permits,
        Weight::of_bytes(bytes),
        move || documents::parse(documents, &limits, &cache),
    )
    .await??;
    Ok(Validated {
        source,
        route,
        destination: format!("{}/{}", host.as_str(), repo.as_str()),
        dest: (host, repo),
        tag,
        documents: parsed,
    })
}

/// Production tags are immutable unless the route allows moving them: a tag that already
/// points at another digest refuses the request before anything is evaluated or written.
/// (The copy checks again just before it writes the tag.) A dry run may use an answer a
/// moment old (`tag_probe`); a real request always asks the registry.
pub(super) async fn tag_is_free(
    state: &AppState,
    v: &Validated,
    tag: &Tag,
    digest: &Digest,
    dry_run: bool,
) -> Result<(), PromotionError> {
    let (host, repo) = &v.dest;
    let recent = if dry_run {
        state.tag_probes.recent(host, repo, tag)
    } else {
        None
    };
    let current = match recent {
        Some(current) => current,
        None => {
            let dest = ImageRef {
                registry: host.clone(),
                repository: repo.clone(),
                reference: Reference::Tag(tag.clone()),
            };
            let current = match state.registry.resolve(&dest).await {
                Ok(current) => Some(current),
                Err(portcullis_registry::Error::NotFound { .. }) => None,
                Err(source) => {
                    return Err(PromotionError::Registry {
                        end: RegistryEnd::Destination,
                        source,
                    });
                }
            };
            state.tag_probes.record(host, repo, tag, current.clone());
            current
        }
    };
    match current {
        Some(current) if current != *digest => Err(PromotionError::TagExists {
            destination: v.destination.clone(),
            tag: tag.clone(),
            current,
            route: v.route.name.clone(),
        }),
        _ => Ok(()),
    }
}

/// The open promotion is returned only if it is the same request; the same digest and route
/// to another destination or tag is a conflict the caller must resolve.
pub(super) fn same_request(
    open: &PromotionRecord,
    destination: &(RegistryHost, RepoPath),
    tag: Option<&Tag>,
) -> Result<(), PromotionError> {
    if open.destination != *destination || open.tag.as_ref() != tag {
        return Err(PromotionError::ConflictingOpen {
            id: open.id,
            route: open.route.clone(),
            destination: format!(
                "{}{}",
                open.destination_name(),
                open.tag
                    .as_ref()
                    .map(|t| format!(":{t}"))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(())
}
