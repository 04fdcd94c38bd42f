//! `Store`: the connection pool, database creation and migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use portcullis_gate::MacKey;

use crate::Result;
use crate::token_cache::{self, TOKEN_CACHE_MAX_ENTRIES, TOKEN_CACHE_TTL, TokenCache};

/// A transaction handed to repository functions that must be atomic together.
pub type Tx = sqlx::Transaction<'static, Postgres>;

/// The Postgres-backed store.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: PgPool,
    /// Keys the audit chain; appending without it is refused.
    pub(crate) audit_key: Option<MacKey>,
    /// Token look-ups, when this store serves requests (`with_token_cache`).
    pub(crate) token_cache: Option<Arc<TokenCache>>,
}

/// The state of a store's token cache (`Store::token_cache_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheStatus {
    /// Whether the revocation listener is subscribed, so the cache serves look-ups.
    pub live: bool,
    /// Look-ups held.
    pub entries: usize,
}

/// The most connections one store's pool opens.
pub const MAX_CONNECTIONS: u32 = 16;

/// How long a caller waits for a pooled connection by default before the store answers
/// `Error::Unavailable`.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE: Duration = Duration::from_secs(1);

impl Store {
    /// Connects to `url`, creating the database if it does not exist. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_timeout(url, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Like `connect`, waiting at most `acquire_timeout` for a pooled connection on every
    /// later call (an outage then fails fast with `Error::Unavailable` instead of hanging).
    pub async fn connect_with_timeout(url: &str, acquire_timeout: Duration) -> Result<Self> {
        Self::connect_with_pool(url, acquire_timeout, 0).await
    }

    /// Like `connect_with_timeout`, keeping at least `min_connections` (at most
    /// `MAX_CONNECTIONS`) connections open, re-opened when they drop: opening one (TLS
    /// handshake, authentication) costs tens of milliseconds on a busy host, which a copy job
    /// woken after a quiet spell would otherwise pay on its first queries.
    pub async fn connect_with_pool(
        url: &str,
        acquire_timeout: Duration,
        min_connections: u32,
    ) -> Result<Self> {
        if !Postgres::database_exists(url).await? {
            // Two processes may race to create it; the loser sees "already exists".
            if let Err(e) = Postgres::create_database(url).await
                && !Postgres::database_exists(url).await?
            {
                return Err(e.into());
            }
        }
        // No JIT: every query here is a short OLTP statement, and Postgres's JIT (on by
        // default since 12) compiled the spent-statement look-up of the copy path for ~100 ms
        // whenever the planner's estimate crossed `jit_above_cost` (seen as a 102 ms
        // `copy.release_ms` on a no-op re-promotion, 2 ms without JIT).
        let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
        // A connection is pinged before use only when it sat idle for `PING_IF_IDLE`: sqlx's
        // ping on every acquire was one more round trip before each transaction and query
        // (four on the way from an approval to `promoted`). A connection used a moment ago is
        // alive unless the server restarted in that moment; then the query fails as in any
        // outage (`Error::Unavailable`) and the connection is dropped.
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(min_connections.min(MAX_CONNECTIONS))
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            audit_key: None,
            token_cache: None,
        })
    }

    /// The same store, keying audit events with `key` (derived from the gate key).
    pub fn with_audit_key(mut self, key: MacKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// The same store, caching token look-ups (see `token_cache`) and listening for token
    /// changes on its own connection. Must be called inside a Tokio runtime; a process that
    /// only runs one command has no use for it.
    pub fn with_token_cache(mut self) -> Self {
        let cache = Arc::new(TokenCache::new(TOKEN_CACHE_TTL, TOKEN_CACHE_MAX_ENTRIES));
        token_cache::spawn_listener(&cache, self.pool.clone());
        self.token_cache = Some(cache);
        self
    }

    /// The token cache's state, if this store has one.
    pub fn token_cache_status(&self) -> Option<TokenCacheStatus> {
        self.token_cache.as_ref().map(|c| {
            let (live, entries) = c.status();
            TokenCacheStatus { live, entries }
        })
    }

    /// A receiver that changes whenever the token cache evicts or resets (a revocation
    /// landed, the listener (re)connected); `None` without a cache. Tests wait on it instead
    /// of sleeping.
    pub fn token_cache_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.token_cache.as_ref().map(|c| c.changes())
    }

    /// Applies the migrations in the top-level `migrations/` directory.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("../../migrations").run(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// A transaction whose commit returns before its WAL reaches the disk
    /// (`synchronous_commit = off` for it alone), in the same round trip as `BEGIN`. Only for
    /// writes a database crash may lose without harm (a copy job's lease); never for a
    /// decision, a vote, an outcome or an audit event.
    pub async fn begin_unflushed(&self) -> Result<Tx> {
        Ok(self
            .pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await?)
    }

    /// Checks that the database answers within `within` (a readiness probe must answer
    /// quickly even while the pool waits out its acquire timeout).
    pub async fn ping(&self, within: Duration) -> Result<()> {
        match tokio::time::timeout(within, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(done) => {
                done?;
                Ok(())
            }
            Err(_) => Err(crate::Error::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Commits `tx`, mapping the error into the store's.
pub async fn commit(tx: Tx) -> Result<()> {
    tx.commit().await?;
    Ok(())
}
