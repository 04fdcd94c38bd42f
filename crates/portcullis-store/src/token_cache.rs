//! A short-lived, bounded cache of token look-ups, so an authenticated request does not cost a
//! database round trip. A cached look-up is used for at most `TOKEN_CACHE_TTL` after it was
//! read, its `expires_at` is checked on every use, and any change to a token row (revocation
//! above all) evicts it on every replica at once: a trigger (migration 0006) sends a Postgres
//! `NOTIFY` on `TOKEN_CHANNEL`, which each replica's listener receives. While the listener is
//! not connected the cache is off and every look-up goes to the database; when its connection
//! is lost the cache is cleared, since notifications may have been missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::TokenRecord;

/// The channel the `api_tokens` trigger notifies with the changed token's id (`*` for all).
pub const TOKEN_CHANNEL: &str = "portcullis_tokens";
/// How long a cached look-up may be used after it was read from the database.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// The most look-ups held at once.
pub const TOKEN_CACHE_MAX_ENTRIES: usize = 10_000;

/// What the cache says about a token hash.
pub(crate) enum Cached {
    /// A fresh, unexpired look-up.
    Hit(TokenRecord),
    /// The cached token has expired: refuse it.
    Expired,
    /// Ask the database, then `put` the answer with this ticket.
    Miss(Ticket),
}

/// When a miss was seen and which cache generation it saw: an answer read across an
/// eviction is not stored.
pub(crate) struct Ticket {
    generation: Option<u64>,
    asked_at: Instant,
}

/// The cache. Dropping it stops its listener.
#[derive(Debug)]
pub(crate) struct TokenCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    max_entries: usize,
    /// Counts evictions and resets, for whoever waits for a revocation to land.
    changes: watch::Sender<u64>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Vec<u8>, (TokenRecord, Instant)>,
    /// Bumped by every eviction and reset.
    generation: u64,
    /// Whether the listener is subscribed; the cache serves and stores nothing otherwise.
    live: bool,
}

impl TokenCache {
    /// An empty cache, off until `set_live(true)`.
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ttl,
            max_entries,
            changes: watch::channel(0).0,
            listener: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks `hash` up at monotonic time `at` and wall time `now`.
    pub(crate) fn get(&self, hash: &[u8], at: Instant, now: DateTime<Utc>) -> Cached {
        let mut inner = self.lock();
        let miss = |inner: &Inner| {
            Cached::Miss(Ticket {
                generation: inner.live.then_some(inner.generation),
                asked_at: at,
            })
        };
        let Some((token, read_at)) = inner.entries.get(hash) else {
            return miss(&inner);
        };
        if at.saturating_duration_since(*read_at) >= self.ttl {
            inner.entries.remove(hash);
            return miss(&inner);
        }
        if token.expires_at.is_some_and(|e| e <= now) {
            inner.entries.remove(hash);
            return Cached::Expired;
        }
        Cached::Hit(token.clone())
    }

    /// Stores the database's answer to a miss, unless the cache was evicted or reset since.
    pub(crate) fn put(&self, hash: &[u8], token: TokenRecord, ticket: Ticket) {
        let mut inner = self.lock();
        if ticket.generation != Some(inner.generation) || !inner.live {
            return;
        }
        if inner.entries.len() >= self.max_entries {
            let ttl = self.ttl;
            inner
                .entries
                .retain(|_, (_, read_at)| read_at.elapsed() < ttl);
        }
        if inner.entries.len() >= self.max_entries
            && let Some(any) = inner.entries.keys().next().cloned()
        {
            inner.entries.remove(&any);
        }
        inner
            .entries
            .insert(hash.to_vec(), (token, ticket.asked_at));
    }

    /// Drops every look-up of token `id`.
    pub(crate) fn evict(&self, id: Uuid) {
        let mut inner = self.lock();
        inner.entries.retain(|_, (t, _)| t.id != id);
        inner.generation += 1;
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Drops everything and turns the cache on or off.
    pub(crate) fn reset(&self, live: bool) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.generation += 1;
        inner.live = live;
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Whether the cache is on, and how many look-ups it holds.
    pub(crate) fn status(&self) -> (bool, usize) {
        let inner = self.lock();
        (inner.live, inner.entries.len())
    }

    /// A receiver that changes on every eviction and reset.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn on_notification(&self, payload: &str) {
        match payload.parse::<Uuid>() {
            Ok(id) => self.evict(id),
            // `*` (a TRUNCATE) or anything unexpected: forget everything.
            Err(_) => self.reset(true),
        }
    }
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Starts the listener that keeps `cache` in step with the `api_tokens` table.
pub(crate) fn spawn_listener(cache: &Arc<TokenCache>, pool: PgPool) {
    let task = tokio::spawn(listen(Arc::downgrade(cache), pool));
    *cache.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(TOKEN_CHANNEL).await?;
    Ok(listener)
}

/// Runs until the cache is dropped or the pool closed. The listener holds only a weak
/// reference, so it never keeps the cache alive.
async fn listen(cache: Weak<TokenCache>, pool: PgPool) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                let Some(c) = cache.upgrade() else { return };
                c.reset(true);
                drop(c);
                loop {
                    let next = listener.try_recv().await;
                    let Some(c) = cache.upgrade() else { return };
                    match next {
                        Ok(Some(n)) => c.on_notification(n.payload()),
                        // The connection was lost and re-established: anything may have
                        // changed meanwhile.
                        Ok(None) => {
                            tracing::warn!("token cache listener reconnected; cache cleared");
                            c.reset(true);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "token cache listener lost; look-ups go to the database until it reconnects");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "token cache cannot listen for revocations; look-ups go to the database");
            }
        }
        let Some(c) = cache.upgrade() else { return };
        c.reset(false);
        drop(c);
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: Option<DateTime<Utc>>) -> TokenRecord {
        TokenRecord {
            id: Uuid::new_v4(),
            subject: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
            role: portcullis_core::Role::Auditor,
            groups: Vec::new(),
            expires_at,
        }
    }

    fn miss(c: &TokenCache, hash: &[u8], at: Instant) -> Ticket {
        match c.get(hash, at, Utc::now()) {
            Cached::Miss(t) => t,
            _ => panic!("expected a miss"),
        }
    }

    fn live_cache() -> TokenCache {
        let c = TokenCache::new(TOKEN_CACHE_TTL, 2);
        c.reset(true);
        c
    }

    #[test]
    fn an_expired_cached_token_is_refused() {
        let c = live_cache();
        let now = Utc::now();
        let t0 = Instant::now();
        let ticket = miss(&c, b"h", t0);
        c.put(
            b"h",
            token(Some(now + chrono::Duration::seconds(1))),
            ticket,
        );
        assert!(matches!(c.get(b"h", t0, now), Cached::Hit(_)));
        let later = now + chrono::Duration::seconds(2);
        assert!(matches!(c.get(b"h", t0, later), Cached::Expired));
        assert!(matches!(c.get(b"h", t0, now), Cached::Miss(_)), "evicted");
    }

    #[test]
    fn a_look_up_is_used_for_at_most_the_ttl() {
        let c = live_cache();
        let t0 = Instant::now();
        let ticket = miss(&c, b"h", t0);
        c.put(b"h", token(None), ticket);
        let almost = t0 + TOKEN_CACHE_TTL - Duration::from_millis(1);
        assert!(matches!(c.get(b"h", almost, Utc::now()), Cached::Hit(_)));
        let stale = t0 + TOKEN_CACHE_TTL;
        assert!(matches!(c.get(b"h", stale, Utc::now()), Cached::Miss(_)));
    }

    #[test]
    fn eviction_drops_the_token_and_refuses_answers_read_across_it() {
        let c = live_cache();
        let t = token(None);
        let ticket = miss(&c, b"h", Instant::now());
        c.put(b"h", t.clone(), ticket);
        let racing = miss(&c, b"other", Instant::now());
        c.evict(t.id);
        assert!(matches!(
            c.get(b"h", Instant::now(), Utc::now()),
            Cached::Miss(_)
        ));
        c.put(b"other", t, racing);
        assert_eq!(c.status(), (true, 0), "an answer read before the eviction");
    }

    #[test]
    fn an_offline_cache_stores_nothing_and_stays_bounded() {
        let c = TokenCache::new(TOKEN_CACHE_TTL, 2);
        let ticket = miss(&c, b"h", Instant::now());
        c.put(b"h", token(None), ticket);
        assert_eq!(c.status(), (false, 0));
        c.reset(true);
        for h in [b"a", b"b", b"c"] {
            let ticket = miss(&c, h, Instant::now());
            c.put(h, token(None), ticket);
        }
        assert_eq!(c.status(), (true, 2));
    }
}
