//! Waivers expire: a sweep every minute (with a time limit, like the promotion expiry
//! sweep) marks each pending or active waiver past its `expires_at` as `expired`, audited
//! once (`waiver_expired`), and judges the pending promotions it covered again, each waiver
//! in a transaction of its own. Evaluation never waits for it: an expired waiver is left out
//! of every input by time already (`Store::live_waivers_for`).

use std::time::Duration;

use portcullis_core::{AuditAction, WaiverState};
use portcullis_store::Store;
use serde_json::json;

use crate::auth::Caller;
use crate::state::AppState;

/// How often the sweep runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest one sweep may take.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Most waivers one round looks at (the sweep goes on until none is due).
const BATCH: i64 = 100;

/// The caller background jobs act as (`system`).
pub fn system_caller() -> Caller {
    Caller {
        subject: "system".to_owned(),
        issuer: crate::auth::STATIC_ISSUER.to_owned(),
        roles: Vec::new(),
        scoped: Vec::new(),
        groups: Vec::new(),
        request_id: None,
    }
}

/// Expires every waiver past its expiry now and judges again the pending promotions the
/// active ones covered; returns how many waivers expired. The test hook, as
/// `expiry::sweep` is for promotions.
pub async fn sweep(state: &AppState) -> Result<usize, portcullis_store::Error> {
    let by = system_caller();
    let mut total = 0;
    loop {
        let due = state.store.due_waiver_ids(BATCH).await?;
        let mut expired = 0;
        for id in &due {
            let mut tx = state.store.begin().await?;
            let Some(before) = Store::expire_waiver(&mut tx, *id).await? else {
                continue;
            };
            let rejudged = if before.stored_state == WaiverState::Active {
                super::rejudge_scope(state, &mut tx, &before, "expired", &by).await?
            } else {
                0
            };
            let extra = json!({
                "previous_state": before.stored_state,
                "state": WaiverState::Expired,
                "promotions_rejudged": rejudged,
            });
            super::audit(
                state,
                &mut tx,
                &by.subject,
                None,
                AuditAction::WaiverExpired,
                &before,
                extra,
            )
            .await?;
            portcullis_store::commit(tx).await?;
            tracing::info!(waiver.id = %id, promotions.rejudged = rejudged, "waiver expired");
            expired += 1;
        }
        total += expired;
        if (due.len() as i64) < BATCH || expired == 0 {
            return Ok(total);
        }
    }
}

/// Sweeps every minute until the task is aborted.
pub async fn run(state: AppState) {
    loop {
        match tokio::time::timeout(SWEEP_TIMEOUT, sweep(&state)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(waivers = n, "waivers expired"),
            Ok(Err(e)) => tracing::warn!(error = %e, "waiver sweep failed; retrying next minute"),
            Err(_) => tracing::warn!("waiver sweep timed out; retrying next minute"),
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}
