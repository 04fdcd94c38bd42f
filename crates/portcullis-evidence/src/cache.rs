//! A single-flight TTL cache for verification results. Concurrent lookups of one key share
//! one computation (a burst of requests for one digest verifies once); results are kept for
//! `ttl`, negative ones for `negative_ttl`, and the cache never grows past `capacity`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// One entry: filled once, by whichever caller got there first.
struct Slot<V> {
    cell: OnceCell<(V, Instant)>,
}

/// How a value counts for expiry.
pub trait CacheOutcome {
    /// Whether this is a negative result (unsigned, untrusted, fetch failed…), kept for the
    /// shorter negative TTL.
    fn is_negative(&self) -> bool;
}

impl<T: CacheOutcome> CacheOutcome for Arc<T> {
    fn is_negative(&self) -> bool {
        (**self).is_negative()
    }
}

/// Hit and miss counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache (including waiting on an in-flight computation).
    pub hits: u64,
    /// Lookups that ran the computation.
    pub misses: u64,
}

/// The cache. Cheap to share behind an `Arc`.
pub struct VerificationCache<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K, V> std::fmt::Debug for VerificationCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationCache")
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V> VerificationCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone + CacheOutcome,
{
    /// A cache keeping positive results for `ttl` and negative ones for `negative_ttl`, with
    /// at most `capacity` entries. A zero TTL disables caching of that kind (single flight
    /// still applies to concurrent callers).
    pub fn new(ttl: Duration, negative_ttl: Duration, capacity: usize) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            ttl,
            negative_ttl,
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn lifetime(&self, v: &V) -> Duration {
        if v.is_negative() {
            self.negative_ttl
        } else {
            self.ttl
        }
    }

    fn fresh(&self, slot: &Slot<V>, now: Instant) -> bool {
        match slot.cell.get() {
            None => true, // still being computed: join it
            Some((v, at)) => now.duration_since(*at) < self.lifetime(v),
        }
    }

    /// The slot for `key`, replacing an expired one.
    fn slot(&self, key: &K) -> Arc<Slot<V>> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key)
            && self.fresh(slot, now)
        {
            return slot.clone();
        }
        if slots.len() >= self.capacity {
            slots.retain(|_, s| self.fresh(s, now));
            if slots.len() >= self.capacity {
                // Still full of live entries: drop the oldest finished one.
                let oldest = slots
                    .iter()
                    .filter_map(|(k, s)| s.cell.get().map(|(_, at)| (k.clone(), *at)))
                    .min_by_key(|(_, at)| *at)
                    .map(|(k, _)| k);
                if let Some(k) = oldest {
                    slots.remove(&k);
                }
            }
        }
        let slot = Arc::new(Slot {
            cell: OnceCell::new(),
        });
        slots.insert(key.clone(), slot.clone());
        slot
    }

    /// The cached value for `key`, or the result of `compute`, run at most once for all
    /// concurrent callers of the same key.
    pub async fn get_or_compute<F, Fut>(&self, key: K, compute: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = self.slot(&key);
        let mut ran = false;
        let (value, _) = slot
            .cell
            .get_or_init(|| async {
                ran = true;
                (compute().await, Instant::now())
            })
            .await;
        if ran {
            self.misses.fetch_add(1, Ordering::Relaxed);
        } else {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Clone, Debug, PartialEq)]
    struct R(bool);
    impl CacheOutcome for R {
        fn is_negative(&self) -> bool {
            !self.0
        }
    }

    #[tokio::test]
    async fn a_burst_computes_once() {
        let cache = Arc::new(VerificationCache::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
            16,
        ));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute("d", || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        R(true)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), R(true));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 31,
                misses: 1
            }
        );
    }

    #[tokio::test]
    async fn negative_results_expire_sooner() {
        let cache = VerificationCache::new(Duration::from_secs(60), Duration::ZERO, 16);
        let runs = AtomicUsize::new(0);
        for _ in 0..3 {
            cache
                .get_or_compute("neg", || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    R(false)
                })
                .await;
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "zero negative TTL: never reused"
        );
        for _ in 0..3 {
            cache
                .get_or_compute("pos", || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    R(true)
                })
                .await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 4, "positive result reused");
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let cache = VerificationCache::new(Duration::from_secs(60), Duration::from_secs(60), 4);
        for i in 0..10 {
            cache.get_or_compute(i, || async { R(true) }).await;
        }
        assert!(cache.slots.lock().unwrap().len() <= 4);
        // The newest key is still cached.
        let runs = AtomicUsize::new(0);
        cache
            .get_or_compute(9, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                R(true)
            })
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
}
