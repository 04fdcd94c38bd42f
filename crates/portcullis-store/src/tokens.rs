//! API tokens: stored as keyed hashes (the caller MACs the secret with a key derived from
//! the gate key, so a row inserted by hand matches no token), looked up by hash, with an
//! optional expiry and revocation. Look-ups go through the token cache when the store has one
//! (`Store::with_token_cache`).

use std::time::Instant;

use chrono::{DateTime, Utc};
use portcullis_core::{GroupName, Role, Subject};
use uuid::Uuid;

use crate::token_cache::Cached;
use crate::{Error, Result, Store};

/// A token to store; the caller hashes the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Who the token belongs to.
    pub subject: Subject,
    /// Its role.
    pub role: Role,
    /// Approver groups it holds.
    pub groups: Vec<GroupName>,
    /// The keyed hash of the secret.
    pub token_hash: Vec<u8>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The admin who minted it through the API (none for the CLI).
    pub created_by: Option<String>,
    /// Whether it works only once a second admin confirms it.
    pub awaiting_confirmation: bool,
}

/// A token that a second admin must confirm, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGrant {
    /// Row id.
    pub id: Uuid,
    /// Whose token it is.
    pub subject: String,
    /// Its role.
    pub role: String,
    /// The admin who minted it.
    pub created_by: Option<String>,
    /// Whether it still awaits confirmation.
    pub awaiting_confirmation: bool,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A stored, unrevoked, unexpired token.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Row id.
    pub id: Uuid,
    /// Who it belongs to.
    pub subject: Subject,
    /// Its role.
    pub role: Role,
    /// Groups it holds.
    pub groups: Vec<GroupName>,
    /// When it stops working, if ever (checked again on every cached use).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as `portcullis token list` shows it (never its secret or hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    /// Row id (what `token revoke` takes).
    pub id: Uuid,
    /// Who it belongs to.
    pub subject: String,
    /// Its role.
    pub role: String,
    /// Groups it holds.
    pub groups: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

type InfoRow = (
    Uuid,
    String,
    String,
    Vec<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

impl Store {
    /// Stores a new token and returns its id.
    pub async fn create_token(&self, token: &NewToken) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let groups: Vec<String> = token.groups.iter().map(|g| g.as_str().to_owned()).collect();
        sqlx::query(
            "INSERT INTO api_tokens (id, subject, role, groups, token_hash, expires_at, created_by, \
             awaiting_confirmation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(token.subject.as_str())
        .bind(token.role.as_str())
        .bind(&groups)
        .bind(&token.token_hash)
        .bind(token.expires_at)
        .bind(&token.created_by)
        .bind(token.awaiting_confirmation)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The token `id` as a grant to confirm.
    pub async fn token_grant(&self, id: Uuid) -> Result<Option<PendingGrant>> {
        type Row = (
            Uuid,
            String,
            String,
            Option<String>,
            bool,
            Option<DateTime<Utc>>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, subject, role, created_by, awaiting_confirmation, revoked_at FROM api_tokens \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(id, subject, role, created_by, awaiting, revoked_at)| PendingGrant {
                id,
                subject,
                role,
                created_by,
                awaiting_confirmation: awaiting,
                revoked: revoked_at.is_some(),
            },
        ))
    }

    /// Activates a token awaiting confirmation, confirmed by `by`; false (changing nothing)
    /// unless it was still awaiting, unrevoked and made by someone else.
    pub async fn confirm_token(&self, id: Uuid, by: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET awaiting_confirmation = false, confirmed_by = $2 WHERE id = $1 \
             AND awaiting_confirmation AND revoked_at IS NULL AND created_by IS DISTINCT FROM $2",
        )
        .bind(id)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finds the unrevoked, unexpired token with this hash, from the token cache when it
    /// holds a fresh look-up.
    pub async fn find_token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>> {
        let Some(cache) = &self.token_cache else {
            return self.find_token_in_db(token_hash).await;
        };
        let ticket = match cache.get(token_hash, Instant::now(), Utc::now()) {
            Cached::Hit(token) => return Ok(Some(token)),
            Cached::Expired => return Ok(None),
            Cached::Miss(ticket) => ticket,
        };
        let found = self.find_token_in_db(token_hash).await?;
        if let Some(token) = &found {
            cache.put(token_hash, token.clone(), ticket);
        }
        Ok(found)
    }

    async fn find_token_in_db(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>> {
        type Row = (Uuid, String, String, Vec<String>, Option<DateTime<Utc>>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, subject, role, groups, expires_at FROM api_tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND NOT awaiting_confirmation \
             AND (expires_at IS NULL OR expires_at > now())",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, subject, role, groups, expires_at)) = row else {
            return Ok(None);
        };
        let corrupt = |e: portcullis_core::Error| Error::Corrupt(format!("token {id}: {e}"));
        Ok(Some(TokenRecord {
            id,
            subject: subject.parse().map_err(corrupt)?,
            role: role.parse().map_err(corrupt)?,
            groups: groups
                .into_iter()
                .map(|g| g.parse().map_err(corrupt))
                .collect::<Result<_>>()?,
            expires_at,
        }))
    }

    /// Every token, newest first; `subject` narrows to one identity.
    pub async fn list_tokens(&self, subject: Option<&Subject>) -> Result<Vec<TokenInfo>> {
        let rows: Vec<InfoRow> = sqlx::query_as(
            "SELECT id, subject, role, groups, created_at, expires_at, revoked_at FROM api_tokens \
             WHERE ($1::text IS NULL OR subject = $1) ORDER BY created_at DESC, id",
        )
        .bind(subject.map(Subject::as_str))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, subject, role, groups, created_at, expires_at, revoked_at)| TokenInfo {
                    id,
                    subject,
                    role,
                    groups,
                    created_at,
                    expires_at,
                    revoked_at,
                },
            )
            .collect())
    }

    /// Revokes token `id`; false if there is no such unrevoked token. This store's cache
    /// forgets it at once; other replicas' caches when the trigger's notification reaches them.
    pub async fn revoke_token(&self, id: Uuid) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if let Some(cache) = &self.token_cache {
            cache.evict(id);
        }
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every unrevoked token of `subject`; returns how many. Evicted from the caches
    /// as `revoke_token` says.
    pub async fn revoke_subject_tokens(&self, subject: &Subject) -> Result<u64> {
        let revoked: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE api_tokens SET revoked_at = now() WHERE subject = $1 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?;
        if let Some(cache) = &self.token_cache {
            revoked.iter().for_each(|id| cache.evict(*id));
        }
        Ok(revoked.len() as u64)
    }
}
