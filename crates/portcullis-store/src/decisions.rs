//! Decisions and the policy bundles that made them. Every judgement of a promotion is a
//! decision row: its exact input text, the time the policy's clock read, the verdict and the
//! gate's signed evaluation record; the bundle is stored once per content digest.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use portcullis_core::{Decision, Digest};
use sqlx::Row;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// A decision to insert, in the transaction that records the judgement.
#[derive(Debug, Clone)]
pub struct NewDecision<'a> {
    /// Its id.
    pub id: Uuid,
    /// The promotion judged.
    pub promotion_id: Uuid,
    /// The bundle that judged (stored in `policy_bundles`).
    pub policy_digest: &'a Digest,
    /// The verdict.
    pub decision: &'a Decision,
    /// The input document's JSON text, exactly as hashed.
    pub input: &'a str,
    /// SHA-256 of `input`.
    pub input_hash: &'a Digest,
    /// What `time.now_ns()` answered, ns since the epoch.
    pub now_ns: i64,
    /// The gate's signed evaluation record of this decision.
    pub envelope: &'a serde_json::Value,
}

/// A stored decision. The replay fields are `None` for decisions made before they were
/// recorded.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// Its id.
    pub id: Uuid,
    /// The promotion judged.
    pub promotion_id: Uuid,
    /// The image digest the promotion is about.
    pub digest: Digest,
    /// When.
    pub at: DateTime<Utc>,
    /// The bundle that judged.
    pub policy_digest: Digest,
    /// The verdict as recorded.
    pub decision: Decision,
    /// The input document's JSON text.
    pub input: Option<String>,
    /// The input hash the row holds (the signed record holds the one that counts).
    pub input_hash: Option<String>,
    /// What `time.now_ns()` answered.
    pub now_ns: Option<i64>,
    /// The signed evaluation record.
    pub envelope: Option<serde_json::Value>,
}

const COLUMNS: &str = "d.id, d.promotion_id, p.digest, d.at, d.policy_digest, d.decision, \
     d.input, d.input_hash, d.now_ns, d.envelope";

fn select(tail: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions d JOIN promotions p ON p.id = d.promotion_id {tail}"
    ))
}

fn record(row: &sqlx::postgres::PgRow) -> Result<DecisionRecord> {
    let id: Uuid = row.try_get("id")?;
    let corrupt = |what: &str, e: String| Error::Corrupt(format!("decision {id}: {what}: {e}"));
    let digest: String = row.try_get("policy_digest")?;
    let image: String = row.try_get("digest")?;
    let decision: serde_json::Value = row.try_get("decision")?;
    Ok(DecisionRecord {
        id,
        promotion_id: row.try_get("promotion_id")?,
        digest: image
            .parse()
            .map_err(|e| corrupt("digest", format!("{e}")))?,
        at: row.try_get("at")?,
        policy_digest: digest
            .parse()
            .map_err(|e| corrupt("policy_digest", format!("{e}")))?,
        decision: serde_json::from_value(decision)
            .map_err(|e| corrupt("decision", e.to_string()))?,
        input: row.try_get("input")?,
        input_hash: row.try_get("input_hash")?,
        now_ns: row.try_get("now_ns")?,
        envelope: row.try_get("envelope")?,
    })
}

impl Store {
    /// Records a decision inside the judgement's transaction.
    pub async fn insert_decision(tx: &mut Tx, d: &NewDecision<'_>) -> Result<()> {
        let decision =
            serde_json::to_value(d.decision).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO decisions (id, promotion_id, policy_digest, decision, input, input_hash, now_ns, envelope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(d.id)
        .bind(d.promotion_id)
        .bind(d.policy_digest.as_str())
        .bind(decision)
        .bind(d.input)
        .bind(d.input_hash.as_str())
        .bind(d.now_ns)
        .bind(d.envelope)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// One decision by id.
    pub async fn get_decision(&self, id: Uuid) -> Result<Option<DecisionRecord>> {
        let row = sqlx::query(select("WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// The ids of a promotion's decisions, oldest first.
    pub async fn decision_ids(&self, promotion_id: Uuid) -> Result<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM decisions WHERE promotion_id = $1 ORDER BY at, id")
                .bind(promotion_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Up to `limit` decisions, newest first, strictly older than `after` (`(at, id)` of the
    /// last one of the previous page) when given.
    pub async fn recent_decisions(
        &self,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<DecisionRecord>> {
        let (at, id) = after.unzip();
        let rows = sqlx::query(select(
            "WHERE ($1::timestamptz IS NULL OR (d.at, d.id) < ($1, $2)) \
             ORDER BY d.at DESC, d.id DESC LIMIT $3",
        ))
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Stores a policy bundle's served files under its digest, once: a digest already
    /// stored is left as it is.
    pub async fn store_policy_bundle(
        tx: &mut Tx,
        digest: &Digest,
        files: &BTreeMap<String, String>,
    ) -> Result<()> {
        let files = serde_json::to_value(files).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO policy_bundles (digest, files) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.as_str())
        .bind(files)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A stored bundle's files, `name → content`, as the row holds them (a value that is
    /// not a string is kept as its JSON text, so an edited row shows as a digest mismatch).
    pub async fn policy_bundle(&self, digest: &Digest) -> Result<Option<BTreeMap<String, String>>> {
        let files: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT files FROM policy_bundles WHERE digest = $1")
                .bind(digest.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(files.map(|v| match v {
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(name, content)| match content {
                    serde_json::Value::String(text) => (name, text),
                    other => (name, other.to_string()),
                })
                .collect(),
            _ => BTreeMap::new(),
        }))
    }
}
