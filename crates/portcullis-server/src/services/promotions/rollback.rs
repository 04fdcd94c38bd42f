//! Rollbacks (`POST /v1/rollbacks`): a route's channel tag pointed back at a digest this gate
//! promoted before on that route and repository. A rollback is a promotion row of kind
//! `rollback` and goes through the same state machine: the digest's signatures are verified
//! again (in production, where the content is), the serving policy judges the evidence stored
//! with the promotion rolled back to, with `input.request.kind == "rollback"`, and the signed
//! decision statement (kind `rollback`) releases only a tag write.
//!
//! Everything is checked before anything is written: the route, the channel tag, the earlier
//! promotion, and that the manifest and every blob under it are still in production.

use portcullis_core::{
    Digest, ImageRef, PromotionKind, PromotionState, Reference, RegistryHost, RepoPath, Tag,
};
use portcullis_policy::{RequestInfo, Signatures};
use portcullis_store::{NewPromotion, PromotionRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{PromotionError, RegistryEnd};
use super::{Outcome, get, record, validate, view};
use crate::auth::Caller;
use crate::config::Route;
use crate::services::decisions::{self, Judgement};
use crate::services::work;
use crate::state::AppState;

/// The body of `POST /v1/rollbacks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The route the digest was promoted on.
    route: String,
    /// The production repository, `host/repository`, as a promotion's `destination` shows it.
    repository: String,
    /// The digest to point the tag back at (promoted on the route before).
    to_digest: String,
    /// The channel tag to move.
    channel_tag: String,
}

impl RollbackRequest {
    /// The free-text fields and their names, for the handler's text check.
    pub fn text_fields(&self) -> [(&'static str, &str); 4] {
        [
            ("route", &self.route),
            ("repository", &self.repository),
            ("to_digest", &self.to_digest),
            ("channel_tag", &self.channel_tag),
        ]
    }
}

/// A rollback request whose every field has been checked.
struct Checked<'a> {
    route: &'a Route,
    dest: (RegistryHost, RepoPath),
    digest: Digest,
    tag: Tag,
}

impl Checked<'_> {
    fn destination(&self) -> String {
        portcullis_core::repository_name(&self.dest.0, &self.dest.1)
    }
}

/// Handles a rollback request end to end; a repeated request while the same rollback is open
/// returns it.
#[tracing::instrument(skip_all, fields(promotion.route = %req.route, image.digest = %req.to_digest))]
pub async fn rollback(
    state: &AppState,
    caller: &Caller,
    req: RollbackRequest,
) -> Result<Outcome, PromotionError> {
    let c = check(state, &req)?;
    if !caller.may_on(super::validate::REQUESTERS, &c.route.name) {
        return Err(PromotionError::RouteNotAllowed(c.route.name.clone()));
    }
    let destination = c.destination();
    let earlier = state
        .store
        .find_promoted(&c.route.name, &c.dest, &c.digest)
        .await?
        .ok_or_else(|| PromotionError::NotPromotedOnRoute {
            digest: c.digest.clone(),
            repository: destination.clone(),
            route: c.route.name.clone(),
        })?;
    in_production(state, &c).await?;
    if let Some(open) = state
        .store
        .find_open_promotion(&c.digest, &c.route.name)
        .await?
        && !super::record::supersede_if_stale(state, &open, caller).await?
    {
        return existing(state, open, &c).await;
    }
    let (evidence, decision, judgement, policy_digest) = judge(state, caller, &c, &earlier).await?;
    let new = NewPromotion {
        id: Uuid::new_v4(),
        state: if decision.allow {
            PromotionState::PendingApproval
        } else {
            PromotionState::Denied
        },
        source: earlier.source.clone(),
        digest: c.digest.clone(),
        route: c.route.name.clone(),
        destination: c.dest.clone(),
        tag: Some(c.tag.clone()),
        requested_by: caller.subject.clone(),
        decision,
        evidence,
        policy_digest,
        kind: PromotionKind::Rollback,
    };
    let extra = json!({"rollback_of": earlier.id, "channel_tag": c.tag});
    match record::insert(state, caller, &new, &judgement, extra).await {
        Ok(()) => {}
        Err(PromotionError::Store(portcullis_store::Error::Conflict(_))) => {
            // A concurrent request opened one first.
            if let Some(open) = state
                .store
                .find_open_promotion(&c.digest, &new.route)
                .await?
            {
                return existing(state, open, &c).await;
            }
            return Err(PromotionError::ConcurrentChange);
        }
        Err(e) => return Err(e),
    }
    tracing::info!(promotion.id = %new.id, promotion.rollback_of = %earlier.id, promotion.state = %new.state, "rollback requested");
    Ok(Outcome::Created(get(&state.store, new.id).await?))
}

/// Parses and checks every field against the configured routes.
fn check<'a>(state: &'a AppState, req: &RollbackRequest) -> Result<Checked<'a>, PromotionError> {
    let route = state
        .routes
        .iter()
        .find(|r| r.name == req.route)
        .ok_or_else(|| PromotionError::UnknownRoute(req.route.clone()))?;
    let digest: Digest = req
        .to_digest
        .parse()
        .map_err(PromotionError::InvalidDigest)?;
    let tag: Tag = req
        .channel_tag
        .parse()
        .map_err(PromotionError::InvalidTag)?;
    let (host, repo) = req
        .repository
        .split_once('/')
        .and_then(|(h, r)| Some((h.parse().ok()?, r.parse().ok()?)))
        .ok_or_else(|| PromotionError::InvalidRepository(req.repository.clone()))?;
    let dest: (RegistryHost, RepoPath) = (host, repo);
    if !portcullis_core::repository_name(&dest.0, &dest.1).starts_with(&route.to) {
        return Err(PromotionError::RepositoryOutsideRoute {
            repository: req.repository.clone(),
            route: route.name.clone(),
            to: route.to.clone(),
        });
    }
    if !route.is_channel_tag(&tag) {
        let declared: Vec<&str> = route.channel_tags.iter().map(Tag::as_str).collect();
        return Err(PromotionError::NotAChannelTag {
            tag,
            route: route.name.clone(),
            declared: if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            },
        });
    }
    Ok(Checked {
        route,
        dest,
        digest,
        tag,
    })
}

/// The manifest and everything under it must still be in production: a rollback moves only
/// the tag. A missing piece is 409 `missing_in_production`.
async fn in_production(state: &AppState, c: &Checked<'_>) -> Result<(), PromotionError> {
    match state
        .registry
        .check_in_place(&c.dest.0, &c.dest.1, &c.digest)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.inner(), portcullis_registry::Error::NotFound { .. }) => {
            Err(PromotionError::MissingInProduction {
                digest: c.digest.clone(),
                repository: c.destination(),
                missing: e.inner().to_string(),
            })
        }
        Err(source) => Err(PromotionError::Registry {
            end: RegistryEnd::Destination,
            source,
        }),
    }
}

/// The open promotion is returned only if it is the same rollback.
async fn existing(
    state: &AppState,
    open: PromotionRecord,
    c: &Checked<'_>,
) -> Result<Outcome, PromotionError> {
    if open.kind != PromotionKind::Rollback {
        return Err(PromotionError::ConflictingOpen {
            id: open.id,
            route: open.route.clone(),
            destination: open.destination_name(),
        });
    }
    validate::same_request(&open, &c.dest, Some(&c.tag))?;
    Ok(Outcome::Existing(view(&state.store, open).await?))
}

/// The rollback's evidence and verdict: the evidence stored with `earlier`, with the
/// signatures verified again in production and this request; the serving policy judges it
/// on the blocking pool. Returns the evidence, the decision, what the decision records (the
/// input text, its hash, the clock) and the digest of the policy that decided.
async fn judge(
    state: &AppState,
    caller: &Caller,
    c: &Checked<'_>,
    earlier: &PromotionRecord,
) -> Result<(Value, portcullis_core::Decision, Judgement, Digest), PromotionError> {
    let production = ImageRef {
        registry: c.dest.0.clone(),
        repository: c.dest.1.clone(),
        reference: Reference::Digest(c.digest.clone()),
    };
    let verified = state.gate.collector.verified(&production, &c.digest).await;
    let request = RequestInfo {
        destination: c.destination(),
        dry_run: false,
        kind: PromotionKind::Rollback,
        requested_by: caller.subject.clone(),
        route: c.route.name.clone(),
        tag: Some(c.tag.as_str().to_owned()),
    };
    // The waivers that apply now, not those of the earlier judgement.
    let waivers =
        crate::services::waivers::applying(&state.store, &earlier.source, &c.digest).await?;
    let mut evidence = earlier.evidence.clone();
    let doc = evidence
        .as_object_mut()
        .ok_or(PromotionError::CorruptEvidence(earlier.id))?;
    doc.insert("request".to_owned(), serde_json::to_value(&request)?);
    doc.insert("waivers".to_owned(), serde_json::to_value(&waivers)?);
    doc.insert(
        "signatures".to_owned(),
        serde_json::to_value(Signatures::of(&verified.signatures))?,
    );
    let policy = state.gate.policy.current();
    let policy_digest = policy.digest().clone();
    let judged = work::blocking(&state.gate.eval_permits, move || {
        decisions::judge_json(&policy, &evidence)
            .map(|(decision, judgement)| (evidence, decision, judgement, policy_digest))
    })
    .await??;
    Ok(judged)
}
