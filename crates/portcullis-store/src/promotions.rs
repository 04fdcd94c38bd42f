//! Promotions and their copy-job lease. A promotion in state `promoting` is a copy job;
//! workers claim it with `FOR UPDATE SKIP LOCKED` and a lease, so replicas never copy twice
//! at once and a crashed worker's job is picked up again when its lease runs out.

use chrono::{DateTime, Utc};
use portcullis_core::{
    Decision, Digest, ImageRef, PromotionKind, PromotionState, RegistryHost, RepoPath, Tag,
    repository_name,
};
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// A promotion to insert.
#[derive(Debug, Clone)]
pub struct NewPromotion {
    /// Its id.
    pub id: Uuid,
    /// `denied` or `pending_approval`.
    pub state: PromotionState,
    /// The source as requested (`host/repo:tag` or `host/repo@digest`).
    pub source: ImageRef,
    /// The digest being promoted.
    pub digest: Digest,
    /// The route name.
    pub route: String,
    /// Destination registry and repository.
    pub destination: (RegistryHost, RepoPath),
    /// Destination tag.
    pub tag: Option<Tag>,
    /// The requester's subject.
    pub requested_by: String,
    /// The policy decision.
    pub decision: Decision,
    /// The evidence document the policy saw.
    pub evidence: serde_json::Value,
    /// The policy bundle digest.
    pub policy_digest: Digest,
    /// A promotion (a copy) or a rollback (a channel tag write).
    pub kind: PromotionKind,
}

/// A stored promotion.
#[derive(Debug, Clone)]
pub struct PromotionRecord {
    /// Its id.
    pub id: Uuid,
    /// Current state.
    pub state: PromotionState,
    /// The source as requested.
    pub source: ImageRef,
    /// The digest being promoted.
    pub digest: Digest,
    /// The route name.
    pub route: String,
    /// Destination registry and repository.
    pub destination: (RegistryHost, RepoPath),
    /// Destination tag.
    pub tag: Option<Tag>,
    /// The requester.
    pub requested_by: String,
    /// The policy decision.
    pub decision: Decision,
    /// The evidence document the policy saw.
    pub evidence: serde_json::Value,
    /// The policy bundle digest.
    pub policy_digest: Digest,
    /// A promotion (a copy) or a rollback (a channel tag write).
    pub kind: PromotionKind,
    /// Why the copy failed, when it did.
    pub error: Option<String>,
    /// What the copy did, once done.
    pub copy_report: Option<serde_json::Value>,
    /// Copy attempts so far.
    pub attempts: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
pub(crate) struct Row {
    id: Uuid,
    state: String,
    source: String,
    digest: String,
    route: String,
    destination: String,
    tag: Option<String>,
    requested_by: String,
    decision: serde_json::Value,
    evidence: serde_json::Value,
    policy_digest: String,
    kind: String,
    error: Option<String>,
    copy_report: Option<serde_json::Value>,
    attempts: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, state, source, digest, route, destination, tag, requested_by, decision, evidence, \
     policy_digest, kind, error, copy_report, attempts, created_at, updated_at";

impl TryFrom<Row> for PromotionRecord {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt =
            |what: &str, e: String| Error::Corrupt(format!("promotion {}: {what}: {e}", r.id));
        Ok(Self {
            state: r
                .state
                .parse()
                .map_err(|e| corrupt("state", format!("{e}")))?,
            digest: r
                .digest
                .parse()
                .map_err(|e| corrupt("digest", format!("{e}")))?,
            tag: r
                .tag
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt("tag", format!("{e}")))?,
            decision: serde_json::from_value(r.decision.clone())
                .map_err(|e| corrupt("decision", e.to_string()))?,
            source: r
                .source
                .parse()
                .map_err(|e| corrupt("source", format!("{e}")))?,
            destination: parse_destination(&r.destination)
                .map_err(|e| corrupt("destination", format!("{e}")))?,
            policy_digest: r
                .policy_digest
                .parse()
                .map_err(|e| corrupt("policy_digest", format!("{e}")))?,
            kind: r
                .kind
                .parse()
                .map_err(|e| corrupt("kind", format!("{e}")))?,
            id: r.id,
            route: r.route,
            requested_by: r.requested_by,
            evidence: r.evidence,
            error: r.error,
            copy_report: r.copy_report,
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// `host/repo` as the `destination` column holds it. A host cannot contain `/`, so the
/// first `/` separates the two.
fn parse_destination(text: &str) -> portcullis_core::Result<(RegistryHost, RepoPath)> {
    let (host, repo) = text
        .split_once('/')
        .ok_or_else(|| portcullis_core::Error::InvalidRepository(text.to_owned()))?;
    Ok((host.parse()?, repo.parse()?))
}

fn select(tail: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM promotions {tail}"))
}

impl Store {
    /// Inserts a promotion; `Error::Conflict` if an open one exists for the digest and route.
    pub async fn insert_promotion(tx: &mut Tx, p: &NewPromotion) -> Result<()> {
        let decision =
            serde_json::to_value(&p.decision).map_err(|e| Error::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO promotions (id, state, source, digest, route, destination, tag, requested_by, decision, evidence, policy_digest, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(p.id)
        .bind(p.state.as_str())
        .bind(p.source.to_string())
        .bind(p.digest.as_str())
        .bind(&p.route)
        .bind(repository_name(&p.destination.0, &p.destination.1))
        .bind(p.tag.as_ref().map(Tag::as_str))
        .bind(&p.requested_by)
        .bind(decision)
        .bind(&p.evidence)
        .bind(p.policy_digest.as_str())
        .bind(p.kind.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The latest finished (`promoted`) promotion — not a rollback — of `digest` along
    /// `route` to `destination`: what a rollback to `digest` rolls back to. A digest with a
    /// withdrawn promotion at `destination` has none: it is never rolled back to.
    pub async fn find_promoted(
        &self,
        route: &str,
        destination: &(RegistryHost, RepoPath),
        digest: &Digest,
    ) -> Result<Option<PromotionRecord>> {
        let row: Option<Row> = sqlx::query_as(select(
            "WHERE route = $1 AND destination = $2 AND digest = $3 AND state = 'promoted' \
             AND kind = 'promotion' AND NOT EXISTS (SELECT 1 FROM promotion_withdrawals w \
             WHERE w.destination = promotions.destination AND w.digest = promotions.digest) \
             ORDER BY updated_at DESC, id LIMIT 1",
        ))
        .bind(route)
        .bind(repository_name(&destination.0, &destination.1))
        .bind(digest.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// The open (pending or promoting) promotion of `digest` along `route`, if any.
    pub async fn find_open_promotion(
        &self,
        digest: &Digest,
        route: &str,
    ) -> Result<Option<PromotionRecord>> {
        let row: Option<Row> = sqlx::query_as(select(
            "WHERE digest = $1 AND route = $2 AND state IN ('pending_approval', 'promoting')",
        ))
        .bind(digest.as_str())
        .bind(route)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// One promotion by id.
    pub async fn get_promotion(&self, id: Uuid) -> Result<Option<PromotionRecord>> {
        let row: Option<Row> = sqlx::query_as(select("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// One promotion by id, row-locked until `tx` ends.
    pub async fn lock_promotion(tx: &mut Tx, id: Uuid) -> Result<Option<PromotionRecord>> {
        let row: Option<Row> = sqlx::query_as(select("WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Promotions, newest first, optionally in one state.
    pub async fn list_promotions(
        &self,
        state: Option<PromotionState>,
        limit: i64,
    ) -> Result<Vec<PromotionRecord>> {
        let rows: Vec<Row> = sqlx::query_as(select(
            "WHERE ($1::text IS NULL OR state = $1) ORDER BY created_at DESC, id LIMIT $2",
        ))
        .bind(state.map(PromotionState::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Pending promotions judged under another policy than `serving`, oldest first, at most
    /// `limit` (to judge them again after a policy change).
    pub async fn pending_judged_by_other(&self, serving: &Digest, limit: i64) -> Result<Vec<Uuid>> {
        let ids = sqlx::query_scalar(
            "SELECT id FROM promotions WHERE state = 'pending_approval' AND policy_digest <> $1 \
             ORDER BY created_at, id LIMIT $2",
        )
        .bind(serving.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Moves a promotion to `state`, recording an error or copy report when given.
    pub async fn set_promotion_state(
        tx: &mut Tx,
        id: Uuid,
        state: PromotionState,
        error: Option<&str>,
        copy_report: Option<&serde_json::Value>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE promotions SET state = $2, error = COALESCE($3, error), copy_report = COALESCE($4, copy_report), \
             lease_until = NULL, claim_id = NULL, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(error)
        .bind(copy_report)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records a new judgement of a pending promotion: its decision under `policy_digest`
    /// over `evidence` (the input document, with the waivers that apply now).
    pub async fn rejudge_promotion(
        tx: &mut Tx,
        id: Uuid,
        decision: &Decision,
        policy_digest: &Digest,
        evidence: &serde_json::Value,
    ) -> Result<()> {
        let decision =
            serde_json::to_value(decision).map_err(|e| Error::Corrupt(format!("decision: {e}")))?;
        sqlx::query(
            "UPDATE promotions SET decision = $2, policy_digest = $3, evidence = $4, updated_at = now() \
             WHERE id = $1",
        )
        .bind(id)
        .bind(decision)
        .bind(policy_digest.as_str())
        .bind(evidence)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks at most `batch` pending promotions created more than `max_age_secs` ago as
    /// `expired`; returns their ids and digests (oldest first).
    pub async fn expire_pending(
        tx: &mut Tx,
        max_age_secs: i64,
        batch: i64,
    ) -> Result<Vec<(Uuid, Digest)>> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "UPDATE promotions SET state = 'expired', updated_at = now() WHERE id IN ( \
                 SELECT id FROM promotions WHERE state = 'pending_approval' \
                 AND created_at < now() - make_interval(secs => $1::double precision) \
                 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, digest",
        )
        .bind(max_age_secs)
        .bind(batch)
        .fetch_all(&mut **tx)
        .await?;
        rows.into_iter()
            .map(|(id, digest)| {
                digest
                    .parse()
                    .map(|d| (id, d))
                    .map_err(|e| Error::Corrupt(format!("promotion {id}: digest {digest:?}: {e}")))
            })
            .collect()
    }

    /// Puts a `failed` promotion back in the copy queue: `promoting`, no error, no lease,
    /// attempts reset. Returns false (changing nothing) unless it was `failed`.
    pub async fn requeue_failed(tx: &mut Tx, id: Uuid) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE promotions SET state = 'promoting', error = NULL, attempts = 0, lease_until = NULL, \
             claim_id = NULL, updated_at = now() WHERE id = $1 AND state = 'failed'",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a copy job held under `claim`: moves it from `promoting` to `state`.
    /// Returns false (and changes nothing) if the claim is no longer current, i.e. the
    /// lease lapsed and another worker took the job over.
    pub async fn finish_copy_job(
        tx: &mut Tx,
        id: Uuid,
        claim: Uuid,
        state: PromotionState,
        error: Option<&str>,
        copy_report: Option<&serde_json::Value>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE promotions SET state = $3, error = $4, copy_report = COALESCE($5, copy_report), \
             lease_until = NULL, claim_id = NULL, \
             updated_at = now() WHERE id = $1 AND claim_id = $2 AND state = 'promoting'",
        )
        .bind(id)
        .bind(claim)
        .bind(state.as_str())
        .bind(error)
        .bind(copy_report)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends the lease of a job held under `claim` and records its progress so far;
    /// false if the claim was lost. Like the claim, not flushed to disk before it returns: a
    /// heartbeat lost in a crash only shortens the lease.
    pub async fn heartbeat_copy_job(
        &self,
        id: Uuid,
        claim: Uuid,
        lease_secs: i64,
        progress: Option<&serde_json::Value>,
    ) -> Result<bool> {
        let mut tx = self.begin_unflushed().await?;
        let done = sqlx::query(
            "UPDATE promotions SET lease_until = now() + make_interval(secs => $3), \
             copy_report = COALESCE($4, copy_report) \
             WHERE id = $1 AND claim_id = $2 AND state = 'promoting'",
        )
        .bind(id)
        .bind(claim)
        .bind(lease_secs as f64)
        .bind(progress)
        .execute(&mut *tx)
        .await?;
        crate::commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims one `promoting` promotion whose lease is free or expired, leasing it for
    /// `lease_secs` under a new claim id, and reads its signed envelopes in the same
    /// statement. Replicas sharing the database never claim the same job at once; the claim
    /// id is what `finish_copy_job` and `renew_copy_lease` check.
    ///
    /// The claim's commit does not wait for the disk (`begin_unflushed`): a claim lost in a
    /// database crash only makes the job claimable again, and a stale claim can never record
    /// an outcome. It saves a WAL flush (~3.5 ms here) between an approval and its copy.
    pub async fn claim_copy_job(&self, lease_secs: i64) -> Result<Option<ClaimedJob>> {
        let claim = Uuid::new_v4();
        let mut tx = self.begin_unflushed().await?;
        let row: Option<ClaimedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE promotions SET lease_until = now() + make_interval(secs => $1), attempts = attempts + 1, \
             claim_id = $2 \
             WHERE id = (SELECT id FROM promotions WHERE state = 'promoting' \
                         AND (lease_until IS NULL OR lease_until < now()) \
                         ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}, evaluation_envelope, statement_envelope"
        )))
        .bind(lease_secs as f64)
        .bind(claim)
        .fetch_optional(&mut *tx)
        .await?;
        crate::commit(tx).await?;
        row.map(|r| {
            Ok(ClaimedJob {
                job: r.row.try_into()?,
                claim,
                envelopes: SignedEnvelopes {
                    evaluation: r.evaluation_envelope,
                    statement: r.statement_envelope,
                },
            })
        })
        .transpose()
    }

    /// Stores the gate's signed evaluation of a promotion (inside the transaction that
    /// inserts it).
    pub async fn set_evaluation_envelope(
        tx: &mut Tx,
        id: Uuid,
        envelope: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("UPDATE promotions SET evaluation_envelope = $2 WHERE id = $1")
            .bind(id)
            .bind(envelope)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Stores the decision statement that moves a promotion to `promoting`.
    pub async fn set_statement_envelope(
        tx: &mut Tx,
        id: Uuid,
        envelope: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("UPDATE promotions SET statement_envelope = $2 WHERE id = $1")
            .bind(id)
            .bind(envelope)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Locks a promotion for a vote (as `lock_promotion`) and reads its signed evaluation in
    /// the same statement.
    pub async fn lock_promotion_for_vote(
        tx: &mut Tx,
        id: Uuid,
    ) -> Result<Option<(PromotionRecord, Option<serde_json::Value>)>> {
        let row: Option<LockedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, evaluation_envelope FROM promotions WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| Ok((r.row.try_into()?, r.evaluation_envelope)))
            .transpose()
    }

    /// Moves a locked promotion to `promoting` with the decision statement that releases
    /// its copy, in one statement (`set_statement_envelope` and `set_promotion_state`), and
    /// returns it as stored. With `claim` (a claim id and lease, for a worker of this process
    /// with a free slot), the copy job is claimed in the same statement, as
    /// `claim_copy_job` would claim it: no other worker takes it while the lease holds, and
    /// if it lapses unused the job is claimable again.
    pub async fn release_promotion(
        tx: &mut Tx,
        id: Uuid,
        statement: &serde_json::Value,
        claim: Option<(Uuid, i64)>,
    ) -> Result<PromotionRecord> {
        let (claim_id, lease_secs) = claim.unzip();
        let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE promotions SET statement_envelope = $2, state = 'promoting', \
             claim_id = $3, lease_until = now() + make_interval(secs => $4), \
             attempts = attempts + (CASE WHEN $3::uuid IS NULL THEN 0 ELSE 1 END), \
             updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(statement)
        .bind(claim_id)
        .bind(lease_secs.map(|s| s as f64))
        .fetch_one(&mut **tx)
        .await?;
        row.try_into()
    }
}

impl PromotionRecord {
    /// The destination as text, `host/repo`.
    pub fn destination_name(&self) -> String {
        repository_name(&self.destination.0, &self.destination.1)
    }
}

/// A copy job this worker now holds: the promotion, the claim id that lets it record the
/// outcome, and the signed envelopes as stored when it was claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The promotion to copy.
    pub job: PromotionRecord,
    /// The claim id `heartbeat_copy_job` and `finish_copy_job` check.
    pub claim: Uuid,
    /// Its signed evaluation and decision statement.
    pub envelopes: SignedEnvelopes,
}

#[derive(FromRow)]
struct LockedRow {
    #[sqlx(flatten)]
    row: Row,
    evaluation_envelope: Option<serde_json::Value>,
}

#[derive(FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    row: Row,
    evaluation_envelope: Option<serde_json::Value>,
    statement_envelope: Option<serde_json::Value>,
}

/// The gate-signed records stored with a promotion.
#[derive(Debug, Clone, Default)]
pub struct SignedEnvelopes {
    /// The signed evaluation (verdict, requirement, evidence hash).
    pub evaluation: Option<serde_json::Value>,
    /// The decision statement, once the promotion became `promoting`.
    pub statement: Option<serde_json::Value>,
}
