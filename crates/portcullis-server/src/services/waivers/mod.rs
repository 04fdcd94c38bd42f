//! Waivers: governed exceptions to the policy. An approver creates one (`pending`, not yet
//! applying); a second approver, not its creator, confirms it (`active`); an approver or
//! admin may revoke it; it expires at `expires_at` (at most `waivers.max_days` away).
//!
//! The policy input carries the active, unexpired waivers whose scope covers the image
//! (`input.waivers`), so they are part of a promotion's evidence hash. When a waiver is
//! confirmed, revoked or expires, every pending promotion in its scope is judged again in the
//! same transaction (`promotions::rejudge_locked`): its votes are voided and it stays pending
//! or becomes denied. Every change is audited in the transaction that makes it.
//!
//! `validate` checks request bodies, `sweep` expires waivers in the background.

mod error;
mod sweep;
mod validate;

use chrono::Utc;
use portcullis_core::{AuditAction, Digest, ImageRef, WaiverScope, WaiverState};
use portcullis_policy::WaiverEntry;
use portcullis_store::{NewAuditEvent, NewWaiver, Store, Tx, WaiverRecord};
use serde_json::json;
use uuid::Uuid;

pub use error::WaiverError;
pub use sweep::{run, sweep, system_caller};
pub use validate::{MAX_TEXT, RevokeRequest, WaiverRequest};

use crate::auth::Caller;
use crate::services::promotions::{self, Cause};
use crate::state::AppState;

/// The policy input's view of the waivers among `live` (active, unexpired) whose scope
/// covers `source`'s repository or `digest`.
pub fn entries(live: &[WaiverRecord], source: &ImageRef, digest: &Digest) -> Vec<WaiverEntry> {
    live.iter()
        .filter(|w| w.state == WaiverState::Active && w.scope.covers(&source.repository, digest))
        .map(|w| WaiverEntry {
            expires_at: crate::services::trust::timestamp(w.expires_at),
            id: w.id.to_string(),
            kind: w.kind,
            matched: w.matched.as_str().to_owned(),
            scope: w.scope.clone(),
        })
        .collect()
}

/// The waivers that apply now to `source` pinned to `digest`.
pub async fn applying(
    store: &Store,
    source: &ImageRef,
    digest: &Digest,
) -> Result<Vec<WaiverEntry>, portcullis_store::Error> {
    let live = store.live_waivers_for(digest).await?;
    Ok(entries(&live, source, digest))
}

fn scope_digest(w: &WaiverRecord) -> Option<Digest> {
    match &w.scope {
        WaiverScope::Digest(d) => Some(d.clone()),
        WaiverScope::RepositoryPrefix(_) => None,
    }
}

/// Appends the audit event of a change to `w` inside `tx`.
async fn audit(
    state: &AppState,
    tx: &mut Tx,
    actor: &str,
    request_id: Option<portcullis_core::RequestId>,
    action: AuditAction,
    w: &WaiverRecord,
    extra: serde_json::Value,
) -> Result<(), portcullis_store::Error> {
    let mut details = json!({
        "waiver_id": w.id,
        "kind": w.kind,
        "match": w.matched,
        "scope": w.scope,
        "expires_at": w.expires_at,
        "created_by": w.created_by,
    });
    if let (Some(d), serde_json::Value::Object(e)) = (details.as_object_mut(), extra) {
        d.extend(e);
    }
    let event = NewAuditEvent {
        actor: actor.to_owned(),
        action,
        promotion_id: None,
        digest: scope_digest(w),
        details,
        request_id,
    };
    state.store.append_audit(tx, &event).await?;
    Ok(())
}

/// Judges every pending promotion in `w`'s scope again after `change`; returns how many
/// changed. Promotions are locked in id order, so two waiver changes never deadlock.
async fn rejudge_scope(
    state: &AppState,
    tx: &mut Tx,
    w: &WaiverRecord,
    change: &'static str,
    by: &Caller,
) -> Result<usize, portcullis_store::Error> {
    let keys = Store::pending_promotion_keys(tx, scope_digest(w).as_ref()).await?;
    let cause = Cause::Waiver { id: w.id, change };
    let mut changed = 0;
    for (id, source, digest) in keys {
        if !w.scope.covers(&source.repository, &digest) {
            continue;
        }
        let Some(p) = Store::lock_promotion(tx, id).await? else {
            continue;
        };
        if promotions::rejudge_locked(state, tx, &p, cause, by)
            .await?
            .is_some()
        {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Creates a pending waiver for `caller` (an approver).
#[tracing::instrument(skip_all)]
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: &WaiverRequest,
) -> Result<WaiverRecord, WaiverError> {
    let v = validate::validate(req, Utc::now(), state.waiver_max_days)?;
    let new = NewWaiver {
        id: Uuid::new_v4(),
        kind: v.kind,
        matched: v.matched,
        scope: v.scope,
        expires_at: v.expires_at,
        justification: v.justification,
        created_by: caller.subject.clone(),
    };
    let mut tx = state.store.begin().await?;
    let w = Store::insert_waiver(&mut tx, &new).await?;
    let extra = json!({"justification": w.justification, "state": w.state});
    let rid = caller.request_id.clone();
    audit(
        state,
        &mut tx,
        &caller.subject,
        rid,
        AuditAction::WaiverCreated,
        &w,
        extra,
    )
    .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(waiver.id = %w.id, waiver.kind = %w.kind, waiver.match = %w.matched, "waiver created");
    Ok(w)
}

async fn locked(tx: &mut Tx, id: Uuid) -> Result<WaiverRecord, WaiverError> {
    Store::lock_waiver(tx, id)
        .await?
        .ok_or(WaiverError::NotFound(id))
}

/// Confirms waiver `id` by `caller`, an approver other than its creator: it applies from
/// now, and the pending promotions in its scope are judged again.
#[tracing::instrument(skip_all, fields(waiver.id = %id))]
pub async fn confirm(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<WaiverRecord, WaiverError> {
    let mut tx = state.store.begin().await?;
    let w = locked(&mut tx, id).await?;
    if w.created_by == caller.subject {
        return Err(WaiverError::SelfConfirm);
    }
    if w.state != WaiverState::Pending
        || !Store::confirm_waiver(&mut tx, id, &caller.subject).await?
    {
        return Err(WaiverError::NotPending { id, state: w.state });
    }
    let w = locked(&mut tx, id).await?;
    let rejudged = rejudge_scope(state, &mut tx, &w, "confirmed", caller).await?;
    let extra = json!({"state": w.state, "promotions_rejudged": rejudged});
    let rid = caller.request_id.clone();
    audit(
        state,
        &mut tx,
        &caller.subject,
        rid,
        AuditAction::WaiverConfirmed,
        &w,
        extra,
    )
    .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(waiver.id = %id, promotions.rejudged = rejudged, "waiver confirmed");
    Ok(w)
}

/// Revokes waiver `id` (pending or active, not expired) for `reason`; the pending
/// promotions in its scope are judged again.
#[tracing::instrument(skip_all, fields(waiver.id = %id))]
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: &RevokeRequest,
) -> Result<WaiverRecord, WaiverError> {
    let reason = validate::reason(req)?;
    let mut tx = state.store.begin().await?;
    let w = locked(&mut tx, id).await?;
    let was = w.state;
    if !matches!(was, WaiverState::Pending | WaiverState::Active)
        || !Store::revoke_waiver(&mut tx, id, &caller.subject, &reason).await?
    {
        return Err(WaiverError::NotRevocable { id, state: w.state });
    }
    let w = locked(&mut tx, id).await?;
    let rejudged = if was == WaiverState::Active {
        rejudge_scope(state, &mut tx, &w, "revoked", caller).await?
    } else {
        0
    };
    let extra = json!({"reason": reason, "previous_state": was, "promotions_rejudged": rejudged});
    let rid = caller.request_id.clone();
    audit(
        state,
        &mut tx,
        &caller.subject,
        rid,
        AuditAction::WaiverRevoked,
        &w,
        extra,
    )
    .await?;
    portcullis_store::commit(tx).await?;
    tracing::info!(waiver.id = %id, promotions.rejudged = rejudged, "waiver revoked");
    Ok(w)
}

/// One waiver.
pub async fn get(state: &AppState, id: Uuid) -> Result<WaiverRecord, WaiverError> {
    state
        .store
        .get_waiver(id)
        .await?
        .ok_or(WaiverError::NotFound(id))
}

/// Waivers in `filter` (as seen now; `None` is all), newest first, at most `limit`.
pub async fn list(
    state: &AppState,
    filter: Option<WaiverState>,
    limit: i64,
) -> Result<Vec<WaiverRecord>, WaiverError> {
    Ok(state.store.list_waivers(filter, limit).await?)
}
