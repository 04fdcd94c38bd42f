//! Approval votes: one per person per promotion, enforced by the primary key.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use portcullis_core::Verdict;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// A stored vote.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApprovalRecord {
    /// Who voted.
    pub approver: String,
    /// How.
    pub verdict: Verdict,
    /// Why.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The evidence the approver was shown and voted on (absent on votes from before votes
    /// were bound to it).
    pub evidence_hash: Option<String>,
    /// The gate's signed record of this vote (absent only on votes from before the gate key).
    #[serde(skip)]
    pub envelope: Option<serde_json::Value>,
}

impl Store {
    /// Records a vote made `at`, with the gate's signed record of it; `Error::Conflict` if
    /// this approver already voted.
    pub async fn insert_approval(
        tx: &mut Tx,
        promotion_id: Uuid,
        vote: &ApprovalRecord,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO approvals (promotion_id, approver, verdict, comment, at, envelope, evidence_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(promotion_id)
        .bind(&vote.approver)
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(vote.at)
        .bind(&vote.envelope)
        .bind(&vote.evidence_hash)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The votes on a promotion, oldest first.
    pub async fn list_approvals(&self, promotion_id: Uuid) -> Result<Vec<ApprovalRecord>> {
        let mut conn = self.pool.acquire().await?;
        list(&mut conn, promotion_id).await
    }

    /// The votes on a promotion, read inside `tx`.
    pub async fn list_approvals_tx(tx: &mut Tx, promotion_id: Uuid) -> Result<Vec<ApprovalRecord>> {
        list(tx, promotion_id).await
    }
}

type Row = (
    String,
    String,
    String,
    DateTime<Utc>,
    Option<serde_json::Value>,
    Option<String>,
);

async fn list(conn: &mut sqlx::PgConnection, promotion_id: Uuid) -> Result<Vec<ApprovalRecord>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT approver, verdict, comment, at, envelope, evidence_hash FROM approvals WHERE promotion_id = $1 ORDER BY at, approver",
    )
    .bind(promotion_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(to_record).collect()
}

fn to_record(
    (approver, verdict, comment, at, envelope, evidence_hash): Row,
) -> Result<ApprovalRecord> {
    let verdict: Verdict = verdict
        .parse()
        .map_err(|e| Error::Corrupt(format!("approval by {approver}: {e}")))?;
    Ok(ApprovalRecord {
        approver,
        verdict,
        comment,
        at,
        evidence_hash,
        envelope,
    })
}

/// A vote row with its promotion's id.
type KeyedRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<serde_json::Value>,
    Option<String>,
);

impl Store {
    /// The votes on each of `promotion_ids`, oldest first, in one query (a page of
    /// promotions costs two queries, not one per promotion). Promotions without votes have
    /// no entry.
    pub async fn list_approvals_for(
        &self,
        promotion_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<ApprovalRecord>>> {
        let rows: Vec<KeyedRow> = sqlx::query_as(
            "SELECT promotion_id, approver, verdict, comment, at, envelope, evidence_hash FROM approvals \
                 WHERE promotion_id = ANY($1) ORDER BY promotion_id, at, approver",
        )
        .bind(promotion_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<Uuid, Vec<ApprovalRecord>> = HashMap::new();
        for (id, approver, verdict, comment, at, envelope, evidence_hash) in rows {
            let record = to_record((approver, verdict, comment, at, envelope, evidence_hash))?;
            out.entry(id).or_default().push(record);
        }
        Ok(out)
    }
}

impl Store {
    /// Voids every vote on a promotion: they move to `voided_approvals` with `reason`, and
    /// the promotion records `{reason, at}` in `approvals_voided`. Returns how many.
    pub async fn void_approvals(
        tx: &mut Tx,
        promotion_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        sqlx::query(
            "INSERT INTO voided_approvals (promotion_id, approver, verdict, comment, at, envelope, evidence_hash, voided_at, reason) \
             SELECT promotion_id, approver, verdict, comment, at, envelope, evidence_hash, $2, $3 FROM approvals WHERE promotion_id = $1",
        )
        .bind(promotion_id)
        .bind(at)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
        let voided = sqlx::query("DELETE FROM approvals WHERE promotion_id = $1")
            .bind(promotion_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE promotions SET approvals_voided = jsonb_build_object('reason', $2::text, 'at', $3::timestamptz, 'votes', $4::bigint) \
             WHERE id = $1",
        )
        .bind(promotion_id)
        .bind(reason)
        .bind(at)
        .bind(i64::try_from(voided).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
        Ok(voided)
    }

    /// The promotion's last voiding of votes, `{reason, at, votes}`, if any.
    pub async fn approvals_voided(&self, promotion_id: Uuid) -> Result<Option<serde_json::Value>> {
        let row: Option<(Option<serde_json::Value>,)> =
            sqlx::query_as("SELECT approvals_voided FROM promotions WHERE id = $1")
                .bind(promotion_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(v,)| v))
    }
}
