//! Whether an image digest was promoted by this gate: a `promoted` promotion (or rollback)
//! of that digest to that repository whose signed decision statement verifies against its
//! row (`GateKeys::verify_statement`), not withdrawn. A withdrawal covers every promotion of
//! the digest to that repository created before it, so a rollback made earlier does not
//! bring a withdrawn image back; a promotion approved after the withdrawal does.
//!
//! Answers are cached by (repository, digest): allowed for `ALLOW_TTL`, refused for
//! `DENY_TTL`. Every promotion state change and every withdrawal, in this replica or heard
//! through Postgres (`services::watch`, channel `portcullis_promotion_states`), empties the
//! cache; a look-up that raced a change does not store its answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_core::{Digest, RegistryHost, RepoPath, repository_name};
use portcullis_store::{PromotedImage, Store, Withdrawal};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::services::trust::{GateKeys, timestamp};

/// How long an allowed image is remembered.
pub const ALLOW_TTL: Duration = Duration::from_secs(30);
/// How long a refused image is remembered.
pub const DENY_TTL: Duration = Duration::from_secs(5);
/// Most answers kept; past it expired ones go, then all.
const MAX_ENTRIES: usize = 10_000;

/// What the gate says of one digest at one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Promoted by this promotion, statement verified, not withdrawn.
    Promoted(Uuid),
    /// Refused, with the reason.
    Refused(String),
}

type Key = (Option<String>, String);

#[derive(Default)]
struct Entries {
    generation: u64,
    map: HashMap<Key, (Instant, Verdict)>,
}

/// The verdict cache, emptied on every promotion state change or withdrawal.
pub struct VerdictCache {
    entries: Mutex<Entries>,
    changes: Mutex<broadcast::Receiver<Option<Uuid>>>,
}

impl VerdictCache {
    /// A cache emptied whenever `changes` (the replica's state watch) says something changed.
    pub fn new(changes: broadcast::Receiver<Option<Uuid>>) -> Self {
        Self {
            entries: Mutex::default(),
            changes: Mutex::new(changes),
        }
    }

    /// Forgets every answer (a withdrawal or promotion in this process).
    pub fn invalidate(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.generation += 1;
            e.map.clear();
        }
    }

    /// Empties the cache if the state watch heard of any change since the last look.
    fn drain_changes(&self) {
        let changed = match self.changes.lock() {
            Ok(mut rx) => {
                let mut any = false;
                // A lagged receiver missed changes: that is a change too.
                while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {
                    any = true;
                }
                any
            }
            Err(_) => true,
        };
        if changed {
            self.invalidate();
        }
    }

    fn get(&self, key: &Key) -> (u64, Option<Verdict>) {
        self.drain_changes();
        let Ok(e) = self.entries.lock() else {
            return (u64::MAX, None);
        };
        let hit = e
            .map
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v.clone());
        (e.generation, hit)
    }

    fn put(&self, generation: u64, key: Key, verdict: Verdict) {
        let ttl = match verdict {
            Verdict::Promoted(_) => ALLOW_TTL,
            Verdict::Refused(_) => DENY_TTL,
        };
        let Ok(mut e) = self.entries.lock() else {
            return;
        };
        // A change arrived while this answer was being worked out: it may be stale.
        if e.generation != generation {
            return;
        }
        if e.map.len() >= MAX_ENTRIES {
            let now = Instant::now();
            e.map.retain(|_, (until, _)| *until > now);
            if e.map.len() >= MAX_ENTRIES {
                e.map.clear();
            }
        }
        e.map.insert(key, (Instant::now() + ttl, verdict));
    }

    /// The verdict on `digest` at `repository` (any repository when `None`), cached.
    pub async fn check(
        &self,
        store: &Store,
        keys: &GateKeys,
        repository: Option<&(RegistryHost, RepoPath)>,
        digest: &Digest,
    ) -> Result<Verdict, portcullis_store::Error> {
        let key = (
            repository.map(|(h, r)| repository_name(h, r)),
            digest.as_str().to_owned(),
        );
        let (generation, hit) = self.get(&key);
        if let Some(v) = hit {
            return Ok(v);
        }
        let (promoted, withdrawals) = tokio::try_join!(
            store.promoted_images(repository, digest),
            store.withdrawals_of(repository, digest)
        )?;
        let verdict = decide(keys, &key, &promoted, &withdrawals);
        self.put(generation, key, verdict.clone());
        Ok(verdict)
    }
}

/// The verdict over what the store holds (newest promotion first).
fn decide(
    keys: &GateKeys,
    (repository, digest): &Key,
    promoted: &[PromotedImage],
    withdrawals: &[Withdrawal],
) -> Verdict {
    let mut withdrawn: Option<String> = None;
    let mut unverified: Option<String> = None;
    for image in promoted {
        let p = &image.promotion;
        let destination = p.destination_name();
        let covering = withdrawals.iter().find(|w| {
            w.destination == destination
                && (w.promotion_id == p.id || w.withdrawn_at >= p.created_at)
        });
        if let Some(w) = covering {
            // A withdrawal refuses the image even when its signature does not hold (fail
            // closed), but says so: someone wrote that row without the gate.
            let forged = crate::services::withdrawal::verify(keys, w)
                .err()
                .map(|e| format!(" (the withdrawal record does not verify: {e})"))
                .unwrap_or_default();
            withdrawn.get_or_insert_with(|| {
                format!(
                    "promotion {} was withdrawn at {} by {}: {}{forged}",
                    w.promotion_id,
                    timestamp(w.withdrawn_at),
                    w.withdrawn_by,
                    w.reason
                )
            });
            continue;
        }
        match keys.verify_statement(p, image.statement.as_ref()) {
            Ok(_) => return Verdict::Promoted(p.id),
            Err(e) => {
                tracing::warn!(promotion.id = %p.id, error = %e, "admission: a promoted row's statement does not verify");
                unverified.get_or_insert_with(|| {
                    format!("the promotion's signed statement does not verify: {e}")
                });
            }
        }
    }
    Verdict::Refused(
        withdrawn
            .or(unverified)
            .unwrap_or_else(|| match repository {
                Some(r) => format!("digest {digest} was never promoted to {r} by this gate"),
                None => format!("digest {digest} was never promoted by this gate"),
            }),
    )
}
