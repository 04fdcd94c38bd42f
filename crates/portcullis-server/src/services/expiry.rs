//! Pending promotions expire: one left in `pending_approval` longer than
//! `approvals.pending_expiry_hours` becomes `expired` (terminal, audited), so a stale request
//! cannot be approved weeks later on evidence nobody looked at again. A sweep runs every
//! minute with a time limit; a vote on an overdue promotion expires it on the spot, so the
//! rule holds between sweeps too.

use std::time::Duration;

use chrono::Utc;
use portcullis_core::{AuditAction, PromotionState};
use portcullis_store::{NewAuditEvent, PromotionRecord, Store, Tx};
use serde_json::json;

use crate::state::AppState;

/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest one sweep may take.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most promotions one sweep expires (the next sweep takes the rest).
const BATCH: i64 = 500;

/// Whether `p` is pending and older than the configured expiry.
pub fn is_overdue(state: &AppState, p: &PromotionRecord) -> bool {
    state.pending_expiry.is_some_and(|max| {
        p.state == PromotionState::PendingApproval
            && Utc::now()
                .signed_duration_since(p.created_at)
                .to_std()
                .is_ok_and(|age| age > max)
    })
}

/// Expires the locked, overdue promotion `p` inside `tx` and audits it.
pub async fn expire_locked(
    state: &AppState,
    tx: &mut Tx,
    p: &PromotionRecord,
) -> Result<(), portcullis_store::Error> {
    Store::set_promotion_state(tx, p.id, PromotionState::Expired, None, None).await?;
    state
        .store
        .append_audit(tx, &event(state, p.id, &p.digest))
        .await?;
    Ok(())
}

fn event(state: &AppState, id: uuid::Uuid, digest: &portcullis_core::Digest) -> NewAuditEvent {
    NewAuditEvent {
        actor: "system".to_owned(),
        action: AuditAction::Expired,
        promotion_id: Some(id),
        digest: Some(digest.clone()),
        details: json!({
            "after_hours": state.pending_expiry.map(|d| d.as_secs() / 3600),
        }),
        request_id: None,
    }
}

/// Expires every overdue pending promotion now (in batches); returns how many.
pub async fn sweep(state: &AppState) -> Result<usize, portcullis_store::Error> {
    let Some(max) = state.pending_expiry else {
        return Ok(0);
    };
    let max_age = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let mut tx = state.store.begin().await?;
        let expired = Store::expire_pending(&mut tx, max_age, BATCH).await?;
        for (id, digest) in &expired {
            state
                .store
                .append_audit(&mut tx, &event(state, *id, digest))
                .await?;
        }
        portcullis_store::commit(tx).await?;
        total += expired.len();
        if (expired.len() as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// Sweeps every minute until the task is aborted.
pub async fn run(state: AppState) {
    if state.pending_expiry.is_none() {
        return;
    }
    loop {
        match tokio::time::timeout(SWEEP_TIMEOUT, sweep(&state)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(promotions = n, "pending promotions expired"),
            Ok(Err(e)) => tracing::warn!(error = %e, "expiry sweep failed; retrying next minute"),
            Err(_) => tracing::warn!("expiry sweep timed out; retrying next minute"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}
