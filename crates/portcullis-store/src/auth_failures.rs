//! Refused requests, aggregated per minute, client and reason outside the audit chain.
//! Rows are upserted in batches (one statement per flush, however many requests were
//! refused) and, unlike audit events, may be pruned.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Result, Store};

/// Most samples kept per row; later refusals only add to the count.
pub const MAX_SAMPLES_PER_ROW: usize = 5;

/// One refused request kept as an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AuthFailureSample {
    /// When it was refused.
    pub at: DateTime<Utc>,
    /// The token subject, or `anonymous`.
    pub actor: String,
    /// The request method (truncated).
    pub method: String,
    /// The request path (truncated).
    pub path: String,
}

/// Refusals of one client for one reason in one minute, to add to the stored count.
#[derive(Debug, Clone, Serialize)]
pub struct AuthFailureCount {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// The client (peer IP, or `unknown`).
    pub client: String,
    /// Why the requests were refused (`missing_token`, `invalid_token`, …).
    pub reason: String,
    /// How many.
    pub count: i64,
    /// Up to `MAX_SAMPLES_PER_ROW` examples.
    pub samples: Vec<AuthFailureSample>,
}

impl Store {
    /// Adds `batch` to the per-minute counts in one statement; samples are kept up to
    /// `MAX_SAMPLES_PER_ROW` per row.
    pub async fn record_auth_failures(&self, batch: &[AuthFailureCount]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rows = serde_json::to_value(batch)
            .map_err(|e| crate::Error::Corrupt(format!("auth failure batch: {e}")))?;
        sqlx::query(
            "INSERT INTO auth_failures (minute, client, reason, count, samples) \
             SELECT minute, client, reason, count, samples FROM jsonb_to_recordset($1) \
               AS r(minute timestamptz, client text, reason text, count bigint, samples jsonb) \
             ON CONFLICT (minute, client, reason) DO UPDATE SET \
               count = auth_failures.count + EXCLUDED.count, \
               samples = (SELECT coalesce(jsonb_agg(s.x ORDER BY s.n), '[]') FROM \
                 jsonb_array_elements(auth_failures.samples || EXCLUDED.samples) \
                   WITH ORDINALITY AS s(x, n) WHERE s.n <= $2)",
        )
        .bind(rows)
        .bind(MAX_SAMPLES_PER_ROW as i32)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the rows of minutes before `before`; returns how many went.
    pub async fn prune_auth_failures(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM auth_failures WHERE minute < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
