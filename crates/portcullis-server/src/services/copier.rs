//! The copy worker: claims `promoting` promotions from Postgres (lease + SKIP LOCKED, so
//! replicas share the work), copies the image digest for digest, and records the outcome.

use std::time::Duration;

use portcullis_core::{ImageRef, PromotionState, RegistryHost, RepoPath};
use portcullis_registry::{CopyPlan, copy_image};
use portcullis_store::{NewAuditEvent, PromotionRecord, Store};
use serde_json::json;

use crate::state::AppState;

/// How long a claimed job stays leased before another worker may take it over.
const LEASE_SECS: i64 = 900;
/// How often to look for jobs when nobody wakes the worker.
const POLL: Duration = Duration::from_secs(2);

/// Runs forever: claim a job, copy, record; sleep when idle.
pub async fn run(state: AppState) {
    loop {
        match state.store.claim_copy_job(LEASE_SECS).await {
            Ok(Some(job)) => process(&state, job).await,
            Ok(None) => {
                let _ = tokio::time::timeout(POLL, state.copy_wakeup.notified()).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a copy job failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

fn plan(job: &PromotionRecord) -> Result<CopyPlan, String> {
    let source: ImageRef = job
        .source
        .parse()
        .map_err(|e| format!("stored source is invalid: {e}"))?;
    let (host, repo) = job
        .destination
        .split_once('/')
        .ok_or("stored destination is invalid")?;
    let dest_registry: RegistryHost = host
        .parse()
        .map_err(|e| format!("stored destination: {e}"))?;
    let dest_repo: RepoPath = repo
        .parse()
        .map_err(|e| format!("stored destination: {e}"))?;
    Ok(CopyPlan {
        source: source.with_digest(job.digest.clone()),
        dest_registry,
        dest_repo,
        dest_tag: job.tag.clone(),
    })
}

async fn process(state: &AppState, job: PromotionRecord) {
    let event = |action: &str, details| NewAuditEvent {
        actor: "system".to_owned(),
        action: action.to_owned(),
        promotion_id: Some(job.id),
        digest: Some(job.digest.to_string()),
        details,
    };
    tracing::info!(promotion.id = %job.id, image.digest = %job.digest, attempt = job.attempts, "copy started");
    if let Err(e) = state
        .store
        .append_audit_now(&event(
            "copy_started",
            json!({"destination": job.destination, "attempt": job.attempts}),
        ))
        .await
    {
        tracing::error!(error = %e, promotion.id = %job.id, "could not audit copy start");
    }
    let outcome = match plan(&job) {
        Ok(p) => copy_image(&state.registry, &p)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let recorded = async {
        let mut tx = state.store.begin().await?;
        match &outcome {
            Ok(report) => {
                let report = json!({
                    "digest": report.digest,
                    "manifests_copied": report.manifests_copied,
                    "blobs_copied": report.blobs_copied,
                    "blobs_skipped": report.blobs_skipped,
                    "bytes_copied": report.bytes_copied,
                    "signature_copied": report.signature_copied,
                    "attestation_copied": report.attestation_copied,
                });
                Store::set_promotion_state(
                    &mut tx,
                    job.id,
                    PromotionState::Promoted,
                    None,
                    Some(&report),
                )
                .await?;
                Store::append_audit(&mut tx, &event("promoted", report)).await?;
            }
            Err(reason) => {
                Store::set_promotion_state(
                    &mut tx,
                    job.id,
                    PromotionState::Failed,
                    Some(reason),
                    None,
                )
                .await?;
                Store::append_audit(&mut tx, &event("failed", json!({"reason": reason}))).await?;
            }
        }
        portcullis_store::commit(tx).await
    };
    match recorded.await {
        Ok(()) => tracing::info!(promotion.id = %job.id, ok = outcome.is_ok(), "copy finished"),
        // The lease expires and another attempt picks the job up.
        Err(e) => {
            tracing::error!(error = %e, promotion.id = %job.id, "could not record the copy outcome")
        }
    }
}
