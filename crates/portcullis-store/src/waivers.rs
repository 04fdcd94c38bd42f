//! Waivers: governed exceptions, their life (`pending` → `active` → `revoked`/`expired`)
//! and the look-ups evaluation needs. A waiver whose `expires_at` has passed is expired
//! whatever its stored state says: every query that decides whether one applies compares
//! with the database clock.

use chrono::{DateTime, Utc};
use portcullis_core::{Digest, ImageRef, WaiverKind, WaiverMatch, WaiverScope, WaiverState};
use sqlx::Row;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

/// A waiver to insert (state `pending`).
#[derive(Debug, Clone)]
pub struct NewWaiver {
    /// Its id.
    pub id: Uuid,
    /// What it waives.
    pub kind: WaiverKind,
    /// The vulnerability or licence id.
    pub matched: WaiverMatch,
    /// Which images.
    pub scope: WaiverScope,
    /// When it stops applying.
    pub expires_at: DateTime<Utc>,
    /// Why, in the creator's words.
    pub justification: String,
    /// The approver who created it.
    pub created_by: String,
}

/// A stored waiver.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WaiverRecord {
    /// Its id.
    pub id: Uuid,
    /// What it waives.
    pub kind: WaiverKind,
    /// The vulnerability or licence id.
    #[serde(rename = "match")]
    pub matched: WaiverMatch,
    /// Which images.
    pub scope: WaiverScope,
    /// When it stops applying.
    pub expires_at: DateTime<Utc>,
    /// Why.
    pub justification: String,
    /// Its state now: `expired` as soon as `expires_at` has passed.
    pub state: WaiverState,
    /// Its stored state (differs from `state` only between expiry and the sweep).
    #[serde(skip)]
    pub stored_state: WaiverState,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The second approver who confirmed it.
    pub confirmed_by: Option<String>,
    /// When.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// When.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revoke_reason: Option<String>,
}

/// The columns every query returns; `expired_now` is computed with the database clock.
const COLUMNS: &str = "id, kind, match, scope_repository_prefix, scope_digest, expires_at, \
     justification, state, created_by, created_at, confirmed_by, confirmed_at, revoked_by, \
     revoked_at, revoke_reason, expires_at <= now() AS expired_now";

fn select(tail: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM waivers {tail}"))
}

fn record(row: &sqlx::postgres::PgRow) -> Result<WaiverRecord> {
    let id: Uuid = row.try_get("id")?;
    let corrupt = |what: &str, e: String| Error::Corrupt(format!("waiver {id}: {what}: {e}"));
    let kind: String = row.try_get("kind")?;
    let matched: String = row.try_get("match")?;
    let prefix: Option<String> = row.try_get("scope_repository_prefix")?;
    let digest: Option<String> = row.try_get("scope_digest")?;
    let scope = match (prefix, digest) {
        (Some(p), None) => WaiverScope::RepositoryPrefix(
            p.parse()
                .map_err(|e| corrupt("repository_prefix", format!("{e}")))?,
        ),
        (None, Some(d)) => {
            WaiverScope::Digest(d.parse().map_err(|e| corrupt("digest", format!("{e}")))?)
        }
        _ => return Err(corrupt("scope", "not exactly one scope".into())),
    };
    let stored: String = row.try_get("state")?;
    let stored_state: WaiverState = stored
        .parse()
        .map_err(|e| corrupt("state", format!("{e}")))?;
    let expired_now: bool = row.try_get("expired_now")?;
    Ok(WaiverRecord {
        id,
        kind: kind.parse().map_err(|e| corrupt("kind", format!("{e}")))?,
        matched: matched
            .parse()
            .map_err(|e| corrupt("match", format!("{e}")))?,
        scope,
        expires_at: row.try_get("expires_at")?,
        justification: row.try_get("justification")?,
        state: stored_state.at(expired_now),
        stored_state,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        confirmed_by: row.try_get("confirmed_by")?,
        confirmed_at: row.try_get("confirmed_at")?,
        revoked_by: row.try_get("revoked_by")?,
        revoked_at: row.try_get("revoked_at")?,
        revoke_reason: row.try_get("revoke_reason")?,
    })
}

fn scope_columns(scope: &WaiverScope) -> (Option<&str>, Option<&str>) {
    match scope {
        WaiverScope::RepositoryPrefix(p) => (Some(p.as_str()), None),
        WaiverScope::Digest(d) => (None, Some(d.as_str())),
    }
}

impl Store {
    /// Inserts a pending waiver and returns it as stored.
    pub async fn insert_waiver(tx: &mut Tx, w: &NewWaiver) -> Result<WaiverRecord> {
        let (prefix, digest) = scope_columns(&w.scope);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO waivers (id, kind, match, scope_repository_prefix, scope_digest, expires_at, \
             justification, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        )))
        .bind(w.id)
        .bind(w.kind.as_str())
        .bind(w.matched.as_str())
        .bind(prefix)
        .bind(digest)
        .bind(w.expires_at)
        .bind(&w.justification)
        .bind(&w.created_by)
        .fetch_one(&mut **tx)
        .await?;
        record(&row)
    }

    /// One waiver by id.
    pub async fn get_waiver(&self, id: Uuid) -> Result<Option<WaiverRecord>> {
        let row = sqlx::query(select("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// One waiver by id, row-locked until `tx` ends.
    pub async fn lock_waiver(tx: &mut Tx, id: Uuid) -> Result<Option<WaiverRecord>> {
        let row = sqlx::query(select("WHERE id = $1 FOR UPDATE"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// Waivers, newest first, at most `limit`: those in `state` (as seen now, so `expired`
    /// includes pending and active ones past their expiry), or all.
    pub async fn list_waivers(
        &self,
        state: Option<WaiverState>,
        limit: i64,
    ) -> Result<Vec<WaiverRecord>> {
        let rows = sqlx::query(select(
            "WHERE $1::text IS NULL OR \
               (CASE WHEN state IN ('pending', 'active') AND expires_at <= now() THEN 'expired' \
                     ELSE state END) = $1 \
             ORDER BY created_at DESC, id LIMIT $2",
        ))
        .bind(state.map(WaiverState::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Marks a pending, unexpired waiver active as confirmed by `by`; false (changing
    /// nothing) otherwise.
    pub async fn confirm_waiver(tx: &mut Tx, id: Uuid, by: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE waivers SET state = 'active', confirmed_by = $2, confirmed_at = now() \
             WHERE id = $1 AND state = 'pending' AND expires_at > now()",
        )
        .bind(id)
        .bind(by)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes a pending or active, unexpired waiver; false (changing nothing) otherwise.
    pub async fn revoke_waiver(tx: &mut Tx, id: Uuid, by: &str, reason: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE waivers SET state = 'revoked', revoked_by = $2, revoked_at = now(), \
             revoke_reason = $3 \
             WHERE id = $1 AND state IN ('pending', 'active') AND expires_at > now()",
        )
        .bind(id)
        .bind(by)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The ids of at most `batch` pending or active waivers whose expiry has passed, the
    /// longest expired first.
    pub async fn due_waiver_ids(&self, batch: i64) -> Result<Vec<Uuid>> {
        let ids = sqlx::query_scalar(
            "SELECT id FROM waivers WHERE state IN ('pending', 'active') AND expires_at <= now() \
             ORDER BY expires_at, id LIMIT $1",
        )
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Marks waiver `id` `expired` if it is pending or active and past its expiry; returns it
    /// as it was before (its `stored_state` says whether it was active), or `None` when it
    /// was not due (another replica's sweep took it, or it was revoked meanwhile).
    pub async fn expire_waiver(tx: &mut Tx, id: Uuid) -> Result<Option<WaiverRecord>> {
        let Some(before) = Self::lock_waiver(tx, id).await? else {
            return Ok(None);
        };
        let done = sqlx::query(
            "UPDATE waivers SET state = 'expired', expired_at = now() \
             WHERE id = $1 AND state IN ('pending', 'active') AND expires_at <= now()",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok((done.rows_affected() == 1).then_some(before))
    }

    /// The active, unexpired waivers that may cover an image with `digest`: every one
    /// scoped to that digest and every repository-prefix one (the caller matches the prefix
    /// with `WaiverScope::covers`). Oldest first.
    pub async fn live_waivers_for(&self, digest: &Digest) -> Result<Vec<WaiverRecord>> {
        live_waivers(&self.pool, digest).await
    }

    /// `live_waivers_for`, read inside `tx`.
    pub async fn live_waivers_tx(tx: &mut Tx, digest: &Digest) -> Result<Vec<WaiverRecord>> {
        live_waivers(&mut **tx, digest).await
    }

    /// The pending promotions, each as (id, source, digest), in id order (the order they
    /// are locked in), optionally only those of `digest`.
    pub async fn pending_promotion_keys(
        tx: &mut Tx,
        digest: Option<&Digest>,
    ) -> Result<Vec<(Uuid, ImageRef, Digest)>> {
        let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT id, source, digest FROM promotions WHERE state = 'pending_approval' \
             AND ($1::text IS NULL OR digest = $1) ORDER BY id",
        )
        .bind(digest.map(Digest::as_str))
        .fetch_all(&mut **tx)
        .await?;
        rows.into_iter()
            .map(|(id, source, digest)| {
                let corrupt =
                    |e: portcullis_core::Error| Error::Corrupt(format!("promotion {id}: {e}"));
                Ok((
                    id,
                    source.parse().map_err(corrupt)?,
                    digest.parse().map_err(corrupt)?,
                ))
            })
            .collect()
    }
}

async fn live_waivers<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    digest: &Digest,
) -> Result<Vec<WaiverRecord>> {
    let rows = sqlx::query(select(
        "WHERE state = 'active' AND expires_at > now() \
           AND (scope_digest = $1 OR scope_repository_prefix IS NOT NULL) \
         ORDER BY created_at, id",
    ))
    .bind(digest.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter().map(record).collect()
}
