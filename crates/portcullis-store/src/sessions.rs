//! Web page sessions (`/ui`) and OIDC sign-ins in flight (migration 0018). Both are keyed
//! by keyed hashes the caller computes (the gate key's token MAC): the secrets themselves
//! live only in the browser's cookie and in the `state` parameter of a sign-in.
//! Expiry is judged by the database's clock, the same for every replica.

use chrono::{DateTime, Utc};
use portcullis_core::{GroupName, Role};
use serde_json::json;

use crate::{Error, Result, Store};

/// A session to store (its `Debug` hides the hashes and the CSRF token).
#[derive(Clone)]
pub struct NewSession {
    /// The keyed hash of the cookie's secret.
    pub id_hash: Vec<u8>,
    /// Who signed in (normalised, as `Caller::subject`).
    pub subject: String,
    /// Who vouched for them: `portcullis` or the OIDC issuer.
    pub issuer: String,
    /// The roles they hold.
    pub roles: Vec<Role>,
    /// The roles held on some routes only, with those routes.
    pub scoped: Vec<(Role, Vec<String>)>,
    /// Approver groups.
    pub groups: Vec<GroupName>,
    /// The keyed hash of the static token used to sign in, if one was.
    pub token_hash: Option<Vec<u8>>,
    /// The session's CSRF token, which every form must send back.
    pub csrf_token: String,
    /// How long the session lasts, from now (the database's now).
    pub ttl_seconds: i64,
}

/// A stored session (its `Debug` hides the token hash and the CSRF token).
#[derive(Clone)]
pub struct SessionRecord {
    /// Who signed in.
    pub subject: String,
    /// Who vouched for them.
    pub issuer: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// Roles held on some routes only.
    pub scoped: Vec<(Role, Vec<String>)>,
    /// Approver groups.
    pub groups: Vec<GroupName>,
    /// The static token it was opened with, if any.
    pub token_hash: Option<Vec<u8>>,
    /// The CSRF token.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Whether it has ended (by the database's clock).
    pub expired: bool,
    /// Seconds since it was last used (by the database's clock).
    pub idle_seconds: i64,
}

/// An OIDC sign-in between the redirect to the provider and its return (its `Debug` shows
/// only the redirect URI).
#[derive(Clone)]
pub struct OidcLogin {
    /// The keyed hash of the `state` parameter.
    pub state_hash: Vec<u8>,
    /// The keyed hash of the browser-binding cookie set with the redirect.
    pub browser_hash: Vec<u8>,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The redirect URI sent to the provider (sent again with the code).
    pub redirect_uri: String,
}

const HIDDEN: &str = "<redacted>";

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("id_hash", &HIDDEN)
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("token_hash", &self.token_hash.as_ref().map(|_| HIDDEN))
            .field("csrf_token", &HIDDEN)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("token_hash", &self.token_hash.as_ref().map(|_| HIDDEN))
            .field("csrf_token", &HIDDEN)
            .field("expires_at", &self.expires_at)
            .field("expired", &self.expired)
            .field("idle_seconds", &self.idle_seconds)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("state_hash", &HIDDEN)
            .field("browser_hash", &HIDDEN)
            .field("verifier", &HIDDEN)
            .field("nonce", &HIDDEN)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

type SessionRow = (
    String,
    String,
    Vec<String>,
    serde_json::Value,
    Vec<String>,
    Option<Vec<u8>>,
    String,
    DateTime<Utc>,
    bool,
    f64,
);

type LoginRow = (Vec<u8>, Vec<u8>, String, String, String, bool);

impl Store {
    /// Stores a new session.
    pub async fn create_session(&self, s: &NewSession) -> Result<()> {
        let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
        let groups: Vec<&str> = s.groups.iter().map(GroupName::as_str).collect();
        let scoped: Vec<serde_json::Value> = s
            .scoped
            .iter()
            .map(|(role, routes)| json!({"role": role.as_str(), "routes": routes}))
            .collect();
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, subject, issuer, roles, scoped, groups, token_hash, \
             csrf_token, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
        )
        .bind(&s.id_hash)
        .bind(&s.subject)
        .bind(&s.issuer)
        .bind(&roles)
        .bind(serde_json::Value::Array(scoped))
        .bind(&groups)
        .bind(&s.token_hash)
        .bind(&s.csrf_token)
        .bind(s.ttl_seconds as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose cookie hashes to `id_hash`, expired or not (`expired` says).
    pub async fn find_session(&self, id_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT subject, issuer, roles, scoped, groups, token_hash, csrf_token, expires_at, \
             expires_at <= now(), extract(epoch FROM now() - last_seen_at)::float8 \
             FROM ui_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((
            subject,
            issuer,
            roles,
            scoped,
            groups,
            token_hash,
            csrf_token,
            expires_at,
            expired,
            idle,
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |e: String| Error::Corrupt(format!("session of {subject}: {e}"));
        let roles = roles
            .iter()
            .map(|r| r.parse::<Role>().map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let groups = groups
            .iter()
            .map(|g| g.parse::<GroupName>().map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let scoped = parse_scoped(&scoped).map_err(corrupt)?;
        Ok(Some(SessionRecord {
            subject,
            issuer,
            roles,
            scoped,
            groups,
            token_hash,
            csrf_token,
            expires_at,
            expired,
            idle_seconds: idle.max(0.0) as i64,
        }))
    }

    /// Ends the session (sign-out, or an expired one found); whether there was one.
    pub async fn end_session(&self, id_hash: &[u8]) -> Result<bool> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks the session used now, unless it was marked within the last minute (so a
    /// busy session costs at most one write a minute).
    pub async fn touch_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query(
            "UPDATE ui_sessions SET last_seen_at = now() \
             WHERE id_hash = $1 AND last_seen_at < now() - interval '1 minute'",
        )
        .bind(id_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes every ended session (past its expiry, or unused for `idle_seconds`) and
    /// every abandoned sign-in; how many rows went.
    pub async fn prune_sessions(&self, idle_seconds: i64) -> Result<u64> {
        let sessions = sqlx::query(
            "DELETE FROM ui_sessions WHERE expires_at <= now() \
             OR last_seen_at <= now() - make_interval(secs => $1)",
        )
        .bind(idle_seconds as f64)
        .execute(&self.pool)
        .await?;
        let logins = sqlx::query("DELETE FROM ui_oidc_logins WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?;
        Ok(sessions.rows_affected() + logins.rows_affected())
    }

    /// Stores a sign-in in flight for `ttl_seconds`.
    pub async fn create_oidc_login(&self, l: &OidcLogin, ttl_seconds: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO ui_oidc_logins (state_hash, browser_hash, verifier, nonce, redirect_uri, \
             expires_at) VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        )
        .bind(&l.state_hash)
        .bind(&l.browser_hash)
        .bind(&l.verifier)
        .bind(&l.nonce)
        .bind(&l.redirect_uri)
        .bind(ttl_seconds as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many sign-ins are in flight (unexpired).
    pub async fn count_oidc_logins(&self) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM ui_oidc_logins WHERE expires_at > now()")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Takes (deletes and returns) the unexpired sign-in whose `state` hashes to
    /// `state_hash` and which the browser whose binding cookie hashes to `browser_hash`
    /// started: a code can be redeemed once, and a `state` replayed from another browser
    /// neither succeeds nor spends the real browser's sign-in.
    pub async fn take_oidc_login(
        &self,
        state_hash: &[u8],
        browser_hash: &[u8],
    ) -> Result<Option<OidcLogin>> {
        let row: Option<LoginRow> = sqlx::query_as(
            "DELETE FROM ui_oidc_logins WHERE state_hash = $1 AND browser_hash = $2 \
             RETURNING state_hash, browser_hash, verifier, nonce, redirect_uri, expires_at > now()",
        )
        .bind(state_hash)
        .bind(browser_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(
            |(state_hash, browser_hash, verifier, nonce, redirect_uri, live)| {
                live.then_some(OidcLogin {
                    state_hash,
                    browser_hash,
                    verifier,
                    nonce,
                    redirect_uri,
                })
            },
        ))
    }
}

fn parse_scoped(
    value: &serde_json::Value,
) -> std::result::Result<Vec<(Role, Vec<String>)>, String> {
    let items = value.as_array().ok_or("scoped is not a list")?;
    items
        .iter()
        .map(|item| {
            let role = item
                .get("role")
                .and_then(serde_json::Value::as_str)
                .ok_or("scoped role missing")?
                .parse::<Role>()
                .map_err(|e| e.to_string())?;
            let routes = item
                .get("routes")
                .and_then(serde_json::Value::as_array)
                .ok_or("scoped routes missing")?
                .iter()
                .map(|r| r.as_str().map(str::to_owned).ok_or("route is not text"))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok((role, routes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_every_secret() {
        let login = OidcLogin {
            state_hash: b"STATEHASH".to_vec(),
            browser_hash: b"BROWSERHASH".to_vec(),
            verifier: "VERIFIER-SECRET".into(),
            nonce: "NONCE-SECRET".into(),
            redirect_uri: "https://gate.example/ui/oidc/callback".into(),
        };
        let new = NewSession {
            id_hash: b"IDHASH".to_vec(),
            subject: "alice".into(),
            issuer: "portcullis".into(),
            roles: vec![Role::Approver],
            scoped: Vec::new(),
            groups: Vec::new(),
            token_hash: Some(b"TOKENHASH".to_vec()),
            csrf_token: "CSRF-SECRET".into(),
            ttl_seconds: 60,
        };
        let record = SessionRecord {
            subject: "alice".into(),
            issuer: "portcullis".into(),
            roles: vec![Role::Approver],
            scoped: Vec::new(),
            groups: Vec::new(),
            token_hash: Some(b"TOKENHASH".to_vec()),
            csrf_token: "CSRF-SECRET".into(),
            expires_at: Utc::now(),
            expired: false,
            idle_seconds: 0,
        };
        let text = format!("{login:?} {new:?} {record:?}");
        for secret in ["VERIFIER", "NONCE-", "CSRF", "83, 84", "73, 68"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("alice") && text.contains("gate.example"),
            "{text}"
        );
    }
}
