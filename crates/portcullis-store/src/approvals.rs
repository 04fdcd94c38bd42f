//! Approval votes: one per person per promotion, enforced by the primary key.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// An approver's vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Counts toward the required approvals.
    Approve,
    /// Vetoes the promotion.
    Reject,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A stored vote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApprovalRecord {
    /// Who voted.
    pub approver: String,
    /// How.
    pub verdict: Verdict,
    /// Why.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
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
            "INSERT INTO approvals (promotion_id, approver, verdict, comment, at, envelope) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(promotion_id)
        .bind(&vote.approver)
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(vote.at)
        .bind(&vote.envelope)
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
);

async fn list(conn: &mut sqlx::PgConnection, promotion_id: Uuid) -> Result<Vec<ApprovalRecord>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT approver, verdict, comment, at, envelope FROM approvals WHERE promotion_id = $1 ORDER BY at, approver",
    )
    .bind(promotion_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(to_record).collect()
}

fn to_record((approver, verdict, comment, at, envelope): Row) -> Result<ApprovalRecord> {
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        other => return Err(Error::Corrupt(format!("approval verdict {other:?}"))),
    };
    Ok(ApprovalRecord {
        approver,
        verdict,
        comment,
        at,
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
            "SELECT promotion_id, approver, verdict, comment, at, envelope FROM approvals \
                 WHERE promotion_id = ANY($1) ORDER BY promotion_id, at, approver",
        )
        .bind(promotion_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<Uuid, Vec<ApprovalRecord>> = HashMap::new();
        for (id, approver, verdict, comment, at, envelope) in rows {
            let record = to_record((approver, verdict, comment, at, envelope))?;
            out.entry(id).or_default().push(record);
        }
        Ok(out)
    }
}
