//! Review items: what a break-glass promotion leaves for an auditor to acknowledge.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// A stored review item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewRecord {
    /// Its id.
    pub id: Uuid,
    /// What it reviews (`break_glass`).
    pub kind: String,
    /// The promotion it is about.
    pub promotion_id: Uuid,
    /// Who broke the glass.
    pub opened_by: String,
    /// Why, in their words.
    pub justification: String,
    /// When.
    pub opened_at: DateTime<Utc>,
    /// `open` or `acknowledged`.
    pub state: String,
    /// The auditor who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The auditor's note.
    pub note: Option<String>,
}

/// The columns every query returns, in `record`'s order.
macro_rules! columns {
    () => {
        "id, kind, promotion_id, opened_by, justification, opened_at, state, \
         acknowledged_by, acknowledged_at, note"
    };
}

fn record(row: &sqlx::postgres::PgRow) -> Result<ReviewRecord> {
    Ok(ReviewRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        promotion_id: row.try_get("promotion_id")?,
        opened_by: row.try_get("opened_by")?,
        justification: row.try_get("justification")?,
        opened_at: row.try_get("opened_at")?,
        state: row.try_get("state")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        note: row.try_get("note")?,
    })
}

impl Store {
    /// Opens a break-glass review of `promotion_id`; `Error::Conflict` if one exists.
    pub async fn open_break_glass_review(
        tx: &mut Tx,
        promotion_id: Uuid,
        opened_by: &str,
        justification: &str,
        at: DateTime<Utc>,
    ) -> Result<ReviewRecord> {
        let row = sqlx::query(concat!(
            "INSERT INTO reviews (id, kind, promotion_id, opened_by, justification, opened_at) \
             VALUES ($1, 'break_glass', $2, $3, $4, $5) RETURNING ",
            columns!()
        ))
        .bind(Uuid::new_v4())
        .bind(promotion_id)
        .bind(opened_by)
        .bind(justification)
        .bind(at)
        .fetch_one(&mut **tx)
        .await?;
        record(&row)
    }

    /// Review items, newest first, optionally only those in `state`; at most `limit`.
    pub async fn list_reviews(&self, state: Option<&str>, limit: i64) -> Result<Vec<ReviewRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM reviews WHERE ($1::text IS NULL OR state = $1) \
             ORDER BY opened_at DESC, id LIMIT $2"
        ))
        .bind(state)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// The break-glass review of a promotion, if it has one.
    pub async fn break_glass_review(&self, promotion_id: Uuid) -> Result<Option<ReviewRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM reviews WHERE promotion_id = $1 AND kind = 'break_glass'"
        ))
        .bind(promotion_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record).transpose()
    }

    /// Locks a review item for a state change.
    pub async fn lock_review(tx: &mut Tx, id: Uuid) -> Result<Option<ReviewRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM reviews WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(record).transpose()
    }

    /// Marks an open review acknowledged.
    pub async fn acknowledge_review(
        tx: &mut Tx,
        id: Uuid,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<ReviewRecord> {
        let row = sqlx::query(concat!(
            "UPDATE reviews SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3, \
             note = NULLIF($4, '') WHERE id = $1 AND state = 'open' RETURNING ", columns!()
        ))
        .bind(id)
        .bind(by)
        .bind(at)
        .bind(note)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref()
            .map(record)
            .transpose()?
            .ok_or_else(|| Error::Conflict(format!("review {id} is not open")))
    }
}
