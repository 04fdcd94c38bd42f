//! API tokens: stored as SHA-256 hashes, looked up by hash.

use portcullis_core::{GroupName, Role};
use uuid::Uuid;

use crate::{Error, Result, Store};

/// A token to store; the caller hashes the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Who the token belongs to.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// Approver groups it holds.
    pub groups: Vec<GroupName>,
    /// SHA-256 of the secret.
    pub token_hash: Vec<u8>,
}

/// A stored, unrevoked token.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Row id.
    pub id: Uuid,
    /// Who it belongs to.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// Groups it holds.
    pub groups: Vec<GroupName>,
}

impl Store {
    /// Stores a new token and returns its id.
    pub async fn create_token(&self, token: &NewToken) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let groups: Vec<String> = token.groups.iter().map(|g| g.as_str().to_owned()).collect();
        sqlx::query("INSERT INTO api_tokens (id, subject, role, groups, token_hash) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&token.subject)
            .bind(token.role.as_str())
            .bind(&groups)
            .bind(&token.token_hash)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// Finds the unrevoked token with this hash.
    pub async fn find_token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>> {
        let row: Option<(Uuid, String, String, Vec<String>)> = sqlx::query_as(
            "SELECT id, subject, role, groups FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, subject, role, groups)) = row else {
            return Ok(None);
        };
        let role = role
            .parse()
            .map_err(|e| Error::Corrupt(format!("token {id}: {e}")))?;
        let groups = groups
            .into_iter()
            .map(|g| {
                g.parse()
                    .map_err(|e| Error::Corrupt(format!("token {id}: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Some(TokenRecord {
            id,
            subject,
            role,
            groups,
        }))
    }
}
