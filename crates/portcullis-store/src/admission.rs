//! What admission and the drift report read: promoted images by destination and digest with
//! their decision statements, withdrawals of promotions, and the runtime reports clusters
//! send (one row per image of a workload; a report replaces its workload's set).

use chrono::{DateTime, Utc};
use portcullis_core::{Digest, RegistryHost, RepoPath, repository_name};
use sqlx::{FromRow, Row as _};
use uuid::Uuid;

use crate::promotions::{COLUMNS, Row};
use crate::{Error, PromotionRecord, Result, Store, Tx};

/// A `promoted` promotion of an image, with its decision statement as stored.
#[derive(Debug, Clone)]
pub struct PromotedImage {
    /// The promotion (or rollback).
    pub promotion: PromotionRecord,
    /// Its signed decision statement, if any.
    pub statement: Option<serde_json::Value>,
}

/// The withdrawal of a promotion.
#[derive(Debug, Clone, PartialEq)]
pub struct Withdrawal {
    /// The promotion withdrawn.
    pub promotion_id: Uuid,
    /// Its destination, `host/repo`.
    pub destination: String,
    /// Its digest.
    pub digest: Digest,
    /// When.
    pub withdrawn_at: DateTime<Utc>,
    /// Who (an admin's subject).
    pub withdrawn_by: String,
    /// Why.
    pub reason: String,
    /// The gate-signed withdrawal record.
    pub envelope: serde_json::Value,
}

/// One image a workload runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedImage {
    /// As reported: a digest-pinned reference or a bare digest.
    pub image: String,
    /// Its digest.
    pub digest: Digest,
}

/// What a workload runs, as its cluster reported it.
#[derive(Debug, Clone)]
pub struct RuntimeReport {
    /// The cluster's name.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// Its images.
    pub images: Vec<ReportedImage>,
    /// When it was reported.
    pub reported_at: DateTime<Utc>,
    /// Who reported it.
    pub reported_by: String,
}

#[derive(FromRow)]
struct WithdrawalRow {
    promotion_id: Uuid,
    destination: String,
    digest: String,
    withdrawn_at: DateTime<Utc>,
    withdrawn_by: String,
    reason: String,
    envelope: serde_json::Value,
}

impl TryFrom<WithdrawalRow> for Withdrawal {
    type Error = Error;
    fn try_from(r: WithdrawalRow) -> Result<Self> {
        Ok(Self {
            digest: r.digest.parse().map_err(|e| {
                Error::Corrupt(format!("withdrawal of {}: digest: {e}", r.promotion_id))
            })?,
            promotion_id: r.promotion_id,
            destination: r.destination,
            withdrawn_at: r.withdrawn_at,
            withdrawn_by: r.withdrawn_by,
            reason: r.reason,
            envelope: r.envelope,
        })
    }
}

const WITHDRAWAL_COLUMNS: &str =
    "promotion_id, destination, digest, withdrawn_at, withdrawn_by, reason, envelope";

impl Store {
    /// The `promoted` promotions (and rollbacks) of `digest` to `destination` (any
    /// destination when `None`), newest first, at most 50.
    pub async fn promoted_images(
        &self,
        destination: Option<&(RegistryHost, RepoPath)>,
        digest: &Digest,
    ) -> Result<Vec<PromotedImage>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, statement_envelope FROM promotions \
             WHERE digest = $1 AND ($2::text IS NULL OR destination = $2) AND state = 'promoted' \
             ORDER BY created_at DESC, id LIMIT 50"
        )))
        .bind(digest.as_str())
        .bind(destination.map(|(h, r)| repository_name(h, r)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| -> Result<PromotedImage> {
                Ok(PromotedImage {
                    promotion: Row::from_row(row)?.try_into()?,
                    statement: row.try_get("statement_envelope")?,
                })
            })
            .collect()
    }

    /// The withdrawals of promotions of `digest` to `destination` (any when `None`).
    pub async fn withdrawals_of(
        &self,
        destination: Option<&(RegistryHost, RepoPath)>,
        digest: &Digest,
    ) -> Result<Vec<Withdrawal>> {
        let rows: Vec<WithdrawalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM promotion_withdrawals \
             WHERE digest = $1 AND ($2::text IS NULL OR destination = $2) \
             ORDER BY withdrawn_at DESC LIMIT 50"
        )))
        .bind(digest.as_str())
        .bind(destination.map(|(h, r)| repository_name(h, r)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The withdrawal of one promotion, if it was withdrawn.
    pub async fn withdrawal(&self, promotion_id: Uuid) -> Result<Option<Withdrawal>> {
        let row: Option<WithdrawalRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WITHDRAWAL_COLUMNS} FROM promotion_withdrawals WHERE promotion_id = $1"
        )))
        .bind(promotion_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Records a withdrawal; `Error::Conflict` if the promotion was withdrawn already.
    pub async fn insert_withdrawal(tx: &mut Tx, w: &Withdrawal) -> Result<()> {
        sqlx::query(
            "INSERT INTO promotion_withdrawals \
             (promotion_id, destination, digest, withdrawn_at, withdrawn_by, reason, envelope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(w.promotion_id)
        .bind(&w.destination)
        .bind(w.digest.as_str())
        .bind(w.withdrawn_at)
        .bind(&w.withdrawn_by)
        .bind(&w.reason)
        .bind(&w.envelope)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Replaces what `report`'s workload runs with its images, in one transaction.
    pub async fn replace_runtime_report(&self, report: &RuntimeReport) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM runtime_reports WHERE cluster = $1 AND namespace = $2 AND workload = $3",
        )
        .bind(&report.cluster)
        .bind(&report.namespace)
        .bind(&report.workload)
        .execute(&mut *tx)
        .await?;
        let images: Vec<&str> = report.images.iter().map(|i| i.image.as_str()).collect();
        let digests: Vec<&str> = report.images.iter().map(|i| i.digest.as_str()).collect();
        sqlx::query(
            "INSERT INTO runtime_reports \
             (cluster, namespace, workload, image, digest, reported_at, reported_by) \
             SELECT $1, $2, $3, i, d, $6, $7 FROM unnest($4::text[], $5::text[]) AS t(i, d) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&report.cluster)
        .bind(&report.namespace)
        .bind(&report.workload)
        .bind(&images)
        .bind(&digests)
        .bind(report.reported_at)
        .bind(&report.reported_by)
        .execute(&mut *tx)
        .await?;
        crate::commit(tx).await
    }

    /// Up to `limit` reported workloads after `after` (cluster, namespace, workload), in
    /// that order, each with its images.
    pub async fn runtime_reports(
        &self,
        after: Option<&(String, String, String)>,
        limit: i64,
    ) -> Result<Vec<RuntimeReport>> {
        let (c, n, w) = after.cloned().unwrap_or_default();
        let rows = sqlx::query(
            "WITH page AS ( \
                 SELECT DISTINCT cluster, namespace, workload FROM runtime_reports \
                 WHERE $1::boolean IS FALSE OR (cluster, namespace, workload) > ($2, $3, $4) \
                 ORDER BY cluster, namespace, workload LIMIT $5) \
             SELECT r.cluster, r.namespace, r.workload, r.image, r.digest, r.reported_at, r.reported_by \
             FROM runtime_reports r JOIN page USING (cluster, namespace, workload) \
             ORDER BY r.cluster, r.namespace, r.workload, r.image",
        )
        .bind(after.is_some())
        .bind(c)
        .bind(n)
        .bind(w)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<RuntimeReport> = Vec::new();
        for row in &rows {
            let (cluster, namespace, workload): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let digest: String = row.try_get(4)?;
            let image = ReportedImage {
                image: row.try_get(3)?,
                digest: digest.parse().map_err(|e| {
                    Error::Corrupt(format!(
                        "runtime report {cluster}/{namespace}/{workload}: {e}"
                    ))
                })?,
            };
            match out.last_mut() {
                Some(last)
                    if last.cluster == cluster
                        && last.namespace == namespace
                        && last.workload == workload =>
                {
                    last.images.push(image);
                }
                _ => out.push(RuntimeReport {
                    cluster,
                    namespace,
                    workload,
                    images: vec![image],
                    reported_at: row.try_get(5)?,
                    reported_by: row.try_get(6)?,
                }),
            }
        }
        Ok(out)
    }
}
