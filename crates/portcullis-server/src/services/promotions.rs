//! Requesting promotions: validate everything first, resolve the digest, evaluate, then
//! write the promotion and its audit events in one transaction. A repeated request for an
//! open digest and route returns the open promotion.

use portcullis_core::{
    AuditAction, Digest, EvidenceItems, ImageRef, PromotionState, Reference, RegistryHost,
    RepoPath, Tag,
};
use portcullis_store::{NewAuditEvent, NewPromotion, PromotionRecord, Store};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::Route;
use crate::error::ApiError;
use crate::services::documents::{self, EvidenceDocument};
use crate::services::{evidence, refusals, work};
use crate::state::AppState;
use crate::views::{DryRunView, PromotionView};

/// The body of `POST /v1/promotions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    source: String,
    route: String,
    tag: Option<String>,
    #[serde(default)]
    evidence: Vec<EvidenceDocument>,
    #[serde(default)]
    dry_run: bool,
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

/// What a request produced.
pub enum Outcome {
    /// A new promotion (201).
    Created(PromotionView),
    /// The open promotion for the same digest and route (200).
    Existing(PromotionView),
    /// A dry run's verdict (200), already serialised to JSON: the input document it carries
    /// can be megabytes, so it is written on the blocking pool, not the executor.
    DryRun(Vec<u8>),
}

/// A request whose every field has been checked.
struct Validated {
    source: ImageRef,
    route: Route,
    /// The destination registry and repository, and the two joined (for messages and the
    /// policy input).
    dest: (RegistryHost, RepoPath),
    destination: String,
    tag: Option<Tag>,
    items: EvidenceItems,
}

/// Checks every field; the evidence documents are taken out of `req`, parsed and counted on
/// the blocking pool.
async fn validate(state: &AppState, req: &mut PromotionRequest) -> Result<Validated, ApiError> {
    let source: ImageRef = req
        .source
        .parse()
        .map_err(|e: portcullis_core::Error| match e {
            portcullis_core::Error::InvalidDigest(_) => {
                ApiError::unprocessable("invalid_digest", e.to_string())
            }
            other => ApiError::unprocessable("invalid_source", other.to_string()),
        })?;
    let route = state
        .routes
        .iter()
        .find(|r| r.name == req.route)
        .ok_or_else(|| {
            ApiError::unprocessable("unknown_route", format!("no route named {:?}", req.route))
        })?
        .clone();
    let (host, repo) = route.destination(&source).ok_or_else(|| {
        ApiError::unprocessable(
            "source_outside_route",
            format!(
                "{} is not under route {:?}'s source prefix {:?}",
                source, route.name, route.from
            ),
        )
    })?;
    let tag = match (&req.tag, &source.reference) {
        (Some(t), _) => Some(t.parse().map_err(|e: portcullis_core::Error| {
            ApiError::unprocessable("invalid_tag", e.to_string())
        })?),
        (None, Reference::Tag(t)) => Some(t.clone()),
        (None, Reference::Digest(_)) => None,
    };
    let documents = std::mem::take(&mut req.evidence);
    let limits = state.limits;
    let items = work::blocking(&state.eval_permits, move || {
        documents::parse(documents, &limits)
    })
    .await??;
    Ok(Validated {
        source,
        route,
        destination: format!("{}/{}", host.as_str(), repo.as_str()),
        dest: (host, repo),
        tag,
        items,
    })
}

/// Production tags are immutable unless the route allows moving them: a tag that already
/// points at another digest refuses the request before anything is evaluated or written.
/// (The copy checks again just before it writes the tag.)
async fn tag_is_free(
    state: &AppState,
    v: &Validated,
    tag: &Tag,
    digest: &Digest,
) -> Result<(), ApiError> {
    let dest = ImageRef {
        registry: v.dest.0.clone(),
        repository: v.dest.1.clone(),
        reference: Reference::Tag(tag.clone()),
    };
    match state.registry.resolve(&dest).await {
        Ok(current) if current == *digest => Ok(()),
        Ok(current) => Err(ApiError::conflict(
            "tag_exists",
            format!(
                "{}:{tag} already points at {current}; tags are immutable on route {:?} (set allow_tag_overwrite to move them)",
                v.destination, v.route.name
            ),
        )),
        Err(portcullis_registry::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(ApiError::registry("destination", e)),
    }
}

/// The open promotion is returned only if it is the same request; the same digest and route
/// to another destination or tag is a conflict the caller must resolve.
fn same_request(
    open: &PromotionRecord,
    destination: &(RegistryHost, RepoPath),
    tag: Option<&Tag>,
) -> Result<(), ApiError> {
    if open.destination != *destination || open.tag.as_ref() != tag {
        return Err(ApiError::conflict(
            "conflicting_open_promotion",
            format!(
                "promotion {} is already open for this digest on route {} to {}{}",
                open.id,
                open.route,
                open.destination_name(),
                open.tag
                    .as_ref()
                    .map(|t| format!(":{t}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Handles a promotion request end to end.
pub async fn request(
    state: &AppState,
    caller: &Caller,
    mut req: PromotionRequest,
) -> Result<Outcome, ApiError> {
    let v = validate(state, &mut req).await?;
    let digest = state.registry.resolve(&v.source).await?;
    if let Some(tag) = &v.tag
        && !v.route.allow_tag_overwrite
    {
        tag_is_free(state, &v, tag, &digest).await?;
    }
    if !req.dry_run
        && let Some(open) = state
            .store
            .find_open_promotion(&digest, &v.route.name)
            .await?
        && !supersede_if_stale(state, &open, &caller.subject).await?
    {
        same_request(&open, &v.dest, v.tag.as_ref())?;
        return Ok(Outcome::Existing(view(&state.store, open).await?));
    }
    let source = v.source.with_digest(digest.clone());
    let request_doc = json!({
        "route": v.route.name,
        "destination": v.destination,
        "tag": v.tag,
        "requested_by": caller.subject,
        "dry_run": req.dry_run,
    });
    let eval = evidence::evaluate(state, &source, &digest, v.items, request_doc).await?;
    if req.dry_run {
        let view = DryRunView {
            dry_run: true,
            digest: digest.to_string(),
            destination: v.destination,
            decision: eval.decision,
            policy_digest: eval.policy_digest.to_string(),
            evidence: eval.input,
        };
        let body = work::blocking(&state.eval_permits, move || serde_json::to_vec(&view))
            .await?
            .map_err(|e| ApiError::internal(&e))?;
        return Ok(Outcome::DryRun(body));
    }
    let new = NewPromotion {
        id: Uuid::new_v4(),
        state: if eval.decision.allow {
            PromotionState::PendingApproval
        } else {
            PromotionState::Denied
        },
        source: v.source,
        digest: digest.clone(),
        route: v.route.name.clone(),
        destination: v.dest,
        tag: v.tag,
        requested_by: caller.subject.clone(),
        decision: eval.decision,
        evidence: eval.input,
        policy_digest: eval.policy_digest,
    };
    match insert(state, &new, &eval.input_hash).await {
        Ok(()) => {}
        Err(e) if e.code() == "conflict" => {
            // A concurrent identical request won the race; return its promotion.
            if let Some(open) = state.store.find_open_promotion(&digest, &new.route).await? {
                same_request(&open, &new.destination, new.tag.as_ref())?;
                return Ok(Outcome::Existing(view(&state.store, open).await?));
            }
            return Err(ApiError::conflict(
                "conflict",
                "a concurrent request changed this promotion; retry",
            ));
        }
        Err(e) => return Err(e),
    }
    tracing::info!(promotion.id = %new.id, image.digest = %digest, promotion.state = %new.state, "promotion requested");
    let stored = state
        .store
        .get_promotion(new.id)
        .await?
        .ok_or_else(|| ApiError::not_found("promotion vanished"))?;
    Ok(Outcome::Created(view(&state.store, stored).await?))
}

/// Writes the promotion, the gate's signature over its evaluation (made from the row as
/// stored, so it verifies against what is read back) and its audit events, in one
/// transaction.
async fn insert(state: &AppState, p: &NewPromotion, input_hash: &Digest) -> Result<(), ApiError> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    Store::insert_promotion(&mut tx, p).await?;
    let stored = Store::lock_promotion(&mut tx, p.id)
        .await?
        .ok_or_else(|| ApiError::not_found("promotion vanished"))?;
    let envelope = state
        .gate
        .sign_evaluation(&stored, chrono::Utc::now())
        .map_err(|e| ApiError::internal(&e))?;
    Store::set_evaluation_envelope(&mut tx, p.id, &envelope).await?;
    let base = |action: AuditAction, details: serde_json::Value| NewAuditEvent {
        actor: p.requested_by.clone(),
        action,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details,
    };
    let destination = portcullis_core::repository_name(&p.destination.0, &p.destination.1);
    store.append_audit(
        &mut tx,
        &base(AuditAction::Requested, json!({"source": p.source.to_string(), "route": p.route, "destination": destination, "tag": p.tag})),
    )
    .await?;
    store
        .append_audit(&mut tx, &evaluated_event(p, input_hash))
        .await?;
    portcullis_store::commit(tx).await?;
    Ok(())
}

fn evaluated_event(p: &NewPromotion, input_hash: &Digest) -> NewAuditEvent {
    let decision = &p.decision;
    NewAuditEvent {
        actor: "policy".to_owned(),
        action: AuditAction::Evaluated,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({
            "allow": decision.allow,
            "violations": decision.violations,
            "required_approvals": decision.required_approvals,
            "policy_digest": p.policy_digest,
            "input_hash": input_hash,
            "state": p.state,
        }),
    }
}

/// One promotion with its votes.
pub async fn get(state: &AppState, id: Uuid) -> Result<PromotionView, ApiError> {
    let p = state
        .store
        .get_promotion(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no promotion {id}")))?;
    view(&state.store, p).await
}

/// Promotions, newest first.
pub async fn list(
    state: &AppState,
    filter: Option<PromotionState>,
    limit: i64,
) -> Result<Vec<PromotionView>, ApiError> {
    let mut out = Vec::new();
    for p in state.store.list_promotions(filter, limit).await? {
        out.push(view(&state.store, p).await?);
    }
    Ok(out)
}

/// Attaches the votes to a promotion record.
pub async fn view(store: &Store, p: PromotionRecord) -> Result<PromotionView, ApiError> {
    let approvals = store.list_approvals(p.id).await?;
    Ok(PromotionView::new(p, approvals))
}

/// Why a pending promotion judged under `judged_by` was closed when `serving` took over.
fn superseded_reason(judged_by: &Digest, serving: &Digest) -> String {
    format!(
        "superseded: the policy changed from {judged_by} to {serving} while this promotion awaited \
         approval; approvals given under the old policy do not carry over, request the promotion again"
    )
}

/// Closes a locked pending promotion that was judged under another policy than the serving
/// one: it becomes `denied` with the reason in `error`, and the change is audited. Returns
/// the reason, or `None` when the promotion is current (or no longer pending).
pub(crate) async fn supersede_locked(
    state: &AppState,
    tx: &mut portcullis_store::Tx,
    p: &PromotionRecord,
    serving: &Digest,
    actor: &str,
) -> Result<Option<String>, portcullis_store::Error> {
    if p.state != PromotionState::PendingApproval || p.policy_digest == *serving {
        return Ok(None);
    }
    let reason = superseded_reason(&p.policy_digest, serving);
    Store::set_promotion_state(tx, p.id, PromotionState::Denied, Some(&reason), None).await?;
    state
        .store
        .append_audit(
            tx,
            &NewAuditEvent {
                actor: actor.to_owned(),
                action: AuditAction::Superseded,
                promotion_id: Some(p.id),
                digest: Some(p.digest.clone()),
                details: json!({
                    "previous_policy_digest": p.policy_digest,
                    "policy_digest": serving,
                    "state": PromotionState::Denied,
                }),
            },
        )
        .await?;
    tracing::info!(promotion.id = %p.id, policy.previous = %p.policy_digest, policy.digest = %serving, "pending promotion superseded by a policy change");
    Ok(Some(reason))
}

/// `supersede_locked` for an open promotion found outside a transaction; true when it was
/// closed (so a new one may be requested).
async fn supersede_if_stale(
    state: &AppState,
    open: &PromotionRecord,
    actor: &str,
) -> Result<bool, ApiError> {
    let serving = state.policy.digest();
    if open.state != PromotionState::PendingApproval || open.policy_digest == serving {
        return Ok(false);
    }
    let mut tx = state.store.begin().await?;
    let Some(locked) = Store::lock_promotion(&mut tx, open.id).await? else {
        return Ok(false);
    };
    let closed = supersede_locked(state, &mut tx, &locked, &serving, actor)
        .await?
        .is_some();
    portcullis_store::commit(tx).await?;
    Ok(closed)
}

/// Re-queues a `failed` promotion's copy (`POST /v1/promotions/{id}/retry`): only its
/// requester or an admin may, and only while the policy it was judged under still serves.
pub async fn retry(state: &AppState, caller: &Caller, id: Uuid) -> Result<PromotionView, ApiError> {
    let outcome = requeue(state, caller, id).await;
    if let Err(e) = &outcome {
        refusals::audit(state, caller, AuditAction::RetryRefused, id, e, json!({})).await;
    }
    outcome
}

async fn requeue(state: &AppState, caller: &Caller, id: Uuid) -> Result<PromotionView, ApiError> {
    let mut tx = state.store.begin().await?;
    let p = Store::lock_promotion(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no promotion {id}")))?;
    if caller.role != portcullis_core::Role::Admin
        && caller.subject != p.requested_by.to_lowercase()
    {
        return Err(ApiError::forbidden(
            "not_requester",
            "only the requester of a promotion or an admin may retry it",
        ));
    }
    if p.state != PromotionState::Failed {
        return Err(ApiError::conflict(
            "promotion_not_failed",
            format!(
                "promotion {id} is {}; only failed promotions can be retried",
                p.state
            ),
        ));
    }
    let serving = state.policy.digest();
    if p.policy_digest != serving {
        return Err(ApiError::conflict(
            "policy_changed",
            format!(
                "promotion {id} was approved under policy {} but {serving} serves now; request it again",
                p.policy_digest
            ),
        ));
    }
    if !Store::requeue_failed(&mut tx, id).await? {
        return Err(ApiError::conflict(
            "promotion_not_failed",
            format!("promotion {id} is no longer failed"),
        ));
    }
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action: AuditAction::Retried,
                promotion_id: Some(id),
                digest: Some(p.digest.clone()),
                details: json!({"previous_error": p.error, "state": PromotionState::Promoting}),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(promotion.id = %id, "failed promotion re-queued");
    state.copy_wakeup.notify_one();
    get(state, id).await
}
