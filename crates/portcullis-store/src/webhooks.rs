//! The webhook outbox (migration 0017: triggers write an event in the transaction of every
//! promotion state change, break-glass and integrity violation) and its deliveries: fanned
//! out to the subscribers of each event type, claimed with `SKIP LOCKED` and a lease so
//! replicas share the work, finished as delivered, retried later, or dead.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::{Result, Store};

/// A subscriber as the fan-out sees it: its name and the event types it wants.
#[derive(Debug, Clone)]
pub struct WebhookSubscriber {
    /// Its configured name (the delivery rows' `subscriber`).
    pub name: String,
    /// The event types (`promoted`, `denied`, …) it is sent.
    pub events: Vec<String>,
}

/// One delivery due now, with its event.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The event id (the `webhook-id` and CloudEvents `id`).
    pub event_id: Uuid,
    /// Who it goes to.
    pub subscriber: String,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The event type.
    pub event_type: String,
    /// The promotion it is about.
    pub promotion_id: Option<Uuid>,
    /// The event's data.
    pub data: serde_json::Value,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
}

/// A delivery's state, as `GET /v1/webhooks/deliveries` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// The event id.
    pub event_id: Uuid,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The promotion it is about.
    pub promotion_id: Option<Uuid>,
    /// Who it goes to.
    pub subscriber: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the change was made.
    pub created_at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// A 2xx.
    Delivered {
        /// Its status.
        status: i32,
    },
    /// Try again after `retry_in_ms`, or give up (`dead`) when `None`.
    Failed {
        /// The status, if the receiver answered.
        status: Option<i32>,
        /// Why.
        error: String,
        /// When to try again; `None`: no more attempts.
        retry_in_ms: Option<i64>,
    },
}

impl Store {
    /// Gives each event not yet fanned out (oldest first, at most `limit`) one delivery row
    /// per subscriber of its type, and marks it fanned out; returns how many events.
    pub async fn fan_out_webhooks(
        &self,
        subscribers: &[WebhookSubscriber],
        limit: i64,
    ) -> Result<u64> {
        // One row per (subscriber, event type) it wants.
        let (subs, types): (Vec<&str>, Vec<&str>) = subscribers
            .iter()
            .flat_map(|s| s.events.iter().map(|e| (s.name.as_str(), e.as_str())))
            .unzip();
        let done = sqlx::query(
            "WITH batch AS ( \
               SELECT id, type FROM webhook_outbox WHERE NOT fanned_out \
               ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
             fanned AS ( \
               INSERT INTO webhook_deliveries (event_id, subscriber) \
               SELECT b.id, s.subscriber FROM batch b \
               JOIN unnest($1::text[], $2::text[]) AS s(subscriber, type) ON s.type = b.type \
               ON CONFLICT DO NOTHING) \
             UPDATE webhook_outbox SET fanned_out = true WHERE id IN (SELECT id FROM batch)",
        )
        .bind(&subs)
        .bind(&types)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims up to `limit` due deliveries: each is leased for `lease_secs` (its next attempt
    /// moves that far ahead and its attempts count up), so another replica does not send it
    /// meanwhile; a crash mid-send retries it after the lease.
    pub async fn claim_webhook_deliveries(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT event_id, subscriber FROM webhook_deliveries \
               WHERE state = 'pending' AND next_attempt_at <= now() \
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
               UPDATE webhook_deliveries d SET attempts = d.attempts + 1, \
                 next_attempt_at = now() + make_interval(secs => $2) \
               FROM due WHERE d.event_id = due.event_id AND d.subscriber = due.subscriber \
               RETURNING d.event_id, d.subscriber, d.attempts - 1 AS attempts) \
             SELECT c.event_id, c.subscriber, c.attempts, o.type, o.promotion_id, o.data, \
               o.created_at FROM claimed c JOIN webhook_outbox o ON o.id = c.event_id",
        )
        .bind(limit)
        .bind(lease_secs as f64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    event_id: r.try_get("event_id")?,
                    subscriber: r.try_get("subscriber")?,
                    attempts: r.try_get("attempts")?,
                    event_type: r.try_get("type")?,
                    promotion_id: r.try_get("promotion_id")?,
                    data: r.try_get("data")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Records how an attempt ended.
    pub async fn finish_webhook_delivery(
        &self,
        event_id: Uuid,
        subscriber: &str,
        outcome: &AttemptOutcome,
    ) -> Result<()> {
        let q = match outcome {
            AttemptOutcome::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), \
                 last_status = $3, last_error = NULL WHERE event_id = $1 AND subscriber = $2",
            )
            .bind(event_id)
            .bind(subscriber)
            .bind(*status),
            AttemptOutcome::Failed {
                status,
                error,
                retry_in_ms,
            } => sqlx::query(
                "UPDATE webhook_deliveries SET last_status = $3, last_error = $4, \
                 state = CASE WHEN $5::bigint IS NULL THEN 'dead' ELSE 'pending' END, \
                 next_attempt_at = now() + make_interval(secs => coalesce($5::bigint, 0) / 1000.0) \
                 WHERE event_id = $1 AND subscriber = $2",
            )
            .bind(event_id)
            .bind(subscriber)
            .bind(*status)
            .bind(error)
            .bind(*retry_in_ms),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Deliveries, newest first, of `state` (all when `None`) and `promotion`, at most
    /// `limit`.
    pub async fn webhook_deliveries(
        &self,
        state: Option<&str>,
        promotion: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT d.event_id, o.type, o.promotion_id, d.subscriber, d.state, d.attempts, \
               d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, o.created_at \
             FROM webhook_deliveries d JOIN webhook_outbox o ON o.id = d.event_id \
             WHERE ($1::text IS NULL OR d.state = $1) \
               AND ($2::uuid IS NULL OR o.promotion_id = $2) \
             ORDER BY o.created_at DESC, d.subscriber LIMIT $3",
        )
        .bind(state)
        .bind(promotion)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(DeliveryRecord {
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("type")?,
                    promotion_id: r.try_get("promotion_id")?,
                    subscriber: r.try_get("subscriber")?,
                    next_attempt_at: if state == "pending" {
                        r.try_get("next_attempt_at")?
                    } else {
                        None
                    },
                    state,
                    attempts: r.try_get("attempts")?,
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                    delivered_at: r.try_get("delivered_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Deletes finished deliveries and fanned-out events older than `before` (an event
    /// stays while any delivery of it is pending); returns how many events went.
    pub async fn prune_webhooks(&self, before: DateTime<Utc>) -> Result<u64> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "DELETE FROM webhook_outbox o WHERE fanned_out AND created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = o.id)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Gauges read at a metrics scrape.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// Promotions in `promoting`.
    pub queue_depth: i64,
    /// Seconds since the oldest of them last changed (0 when none).
    pub queue_oldest_age_seconds: f64,
    /// Webhook deliveries `pending`.
    pub webhooks_pending: i64,
    /// The audit chain's newest `seq`.
    pub audit_chain_length: i64,
}

impl Store {
    /// The scrape-time gauges, in one statement.
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot> {
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM promotions WHERE state = 'promoting') AS depth, \
               (SELECT coalesce(extract(epoch FROM now() - min(updated_at))::float8, 0) \
                  FROM promotions WHERE state = 'promoting') AS age, \
               (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending') AS hooks, \
               (SELECT coalesce(max(seq), 0) FROM audit_events) AS chain",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(MetricsSnapshot {
            queue_depth: row.try_get("depth")?,
            queue_oldest_age_seconds: row.try_get("age")?,
            webhooks_pending: row.try_get("hooks")?,
            audit_chain_length: row.try_get("chain")?,
        })
    }
}
