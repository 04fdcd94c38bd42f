//! The scrape: what this process counted (`crate::metrics`) plus gauges read now — the
//! copy queue's depth and the age of its oldest job, the webhook deliveries waiting, the
//! audit chain's length (all from the database, in one query) and the verification cache's
//! hits and misses.

use std::fmt::Write as _;

use crate::state::AppState;

/// The whole exposition.
pub async fn scrape(state: &AppState) -> Result<String, portcullis_store::Error> {
    let snapshot = state.store.metrics_snapshot().await?;
    let mut out = state.metrics.render();
    let cache = state.gate.collector.cache_stats();
    let gauges = [
        (
            "portcullis_copy_queue_depth",
            "gauge",
            "Promotions waiting for or in a copy (state promoting).",
            snapshot.queue_depth as f64,
        ),
        (
            "portcullis_copy_queue_oldest_age_seconds",
            "gauge",
            "Age of the oldest promotion in promoting, 0 when none.",
            snapshot.queue_oldest_age_seconds,
        ),
        (
            "portcullis_webhook_deliveries_pending",
            "gauge",
            "Webhook deliveries not yet delivered or given up.",
            snapshot.webhooks_pending as f64,
        ),
        (
            "portcullis_audit_chain_length",
            "gauge",
            "Events in the audit chain (its newest seq).",
            snapshot.audit_chain_length as f64,
        ),
        (
            "portcullis_verification_cache_hits_total",
            "counter",
            "Signature and attestation verifications answered from the cache.",
            cache.hits as f64,
        ),
        (
            "portcullis_verification_cache_misses_total",
            "counter",
            "Signature and attestation verifications computed.",
            cache.misses as f64,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    Ok(out)
}
