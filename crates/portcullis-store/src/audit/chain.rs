//! Checking the whole chain: every sequence number present, each event linked to the one
//! before it, each hash a valid MAC (or, before the first keyed event, a legacy hash).

use portcullis_gate::MacKey;
use serde::Serialize;

use super::{AuditEvent, GENESIS, Row, select_events};
use crate::{Result, Store};

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub events: i64,
    /// Events written before the gate key existed (unkeyed SHA-256, accepted only as the
    /// chain's prefix).
    pub legacy_events: i64,
    /// The last event's hash (the chain head), if any.
    pub head: Option<String>,
    /// The first event that breaks the chain and why.
    pub broken_at: Option<(i64, String)>,
}

impl Store {
    /// Recomputes the chain from the first event: every sequence number present, each
    /// `prev_hash` equal to the previous `hash`, each keyed `hash` a valid MAC under the key
    /// it names (one of `keys`). Unkeyed events are accepted only before the first keyed one.
    pub async fn verify_audit_chain(&self, keys: &[MacKey]) -> Result<ChainReport> {
        self.verify_audit_chain_from(keys, None).await
    }

    /// `verify_audit_chain`, starting after `anchor` (`seq`, `hash`): an event verified
    /// before (at a witnessed checkpoint), which must still hold exactly that hash; the
    /// events after it are verified as the whole chain's are. `events` counts from the first
    /// event either way; `legacy_events` only those looked at. Without an anchor, the whole
    /// chain.
    pub async fn verify_audit_chain_from(
        &self,
        keys: &[MacKey],
        anchor: Option<(i64, &str)>,
    ) -> Result<ChainReport> {
        const PAGE: i64 = 1000;
        let mut expected_seq = 1;
        let mut prev = GENESIS.to_owned();
        let mut legacy = 0;
        let mut keyed_seen = false;
        if let Some((seq, hash)) = anchor {
            if self.audit_hash_at(seq).await?.as_deref() != Some(hash) {
                return Ok(ChainReport {
                    events: seq - 1,
                    legacy_events: 0,
                    head: None,
                    broken_at: Some((
                        seq,
                        "differs from the event verified at its checkpoint".to_owned(),
                    )),
                });
            }
            expected_seq = seq + 1;
            prev = hash.to_owned();
            // An anchor is a witnessed, keyed event: no unkeyed event may follow it.
            keyed_seen = true;
        }
        loop {
            let page: Vec<Row> =
                sqlx::query_as(select_events("WHERE seq >= $1 ORDER BY seq LIMIT $2"))
                    .bind(expected_seq)
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
            let done = (page.len() as i64) < PAGE;
            for row in page {
                let seq = row.seq;
                let broken = |why: String, legacy_events: i64| ChainReport {
                    events: expected_seq - 1,
                    legacy_events,
                    head: Some(prev.clone()),
                    broken_at: Some((seq, why)),
                };
                if row.seq != expected_seq {
                    return Ok(broken(format!("event {expected_seq} is missing"), legacy));
                }
                if row.prev_hash != prev {
                    return Ok(broken(
                        "prev_hash does not match the previous event".to_owned(),
                        legacy,
                    ));
                }
                // A value the gate never writes is a tampered row, not a store failure.
                let e = match AuditEvent::try_from(row) {
                    Ok(e) => e,
                    Err(why) => return Ok(broken(why.to_string(), legacy)),
                };
                match check_event(&e, keys, keyed_seen) {
                    Ok(is_legacy) => {
                        keyed_seen |= !is_legacy;
                        legacy += i64::from(is_legacy);
                    }
                    Err(why) => return Ok(broken(why, legacy)),
                }
                prev = e.hash;
                expected_seq += 1;
            }
            if done {
                let events = expected_seq - 1;
                let head = (events > 0).then_some(prev);
                return Ok(ChainReport {
                    events,
                    legacy_events: legacy,
                    head,
                    broken_at: None,
                });
            }
        }
    }
}

/// One event's own hash: a MAC under the key it names, or a legacy hash before any keyed
/// event. `Ok(true)` for a legacy event.
fn check_event(
    e: &AuditEvent,
    keys: &[MacKey],
    keyed_seen: bool,
) -> std::result::Result<bool, String> {
    match &e.key_id {
        Some(id) => {
            let key = keys
                .iter()
                .find(|k| k.key_id() == id)
                .ok_or_else(|| format!("keyed with gate key {id}, which is not configured"))?;
            if !e.mac_matches(key) {
                return Err("content does not match its keyed hash".to_owned());
            }
            Ok(false)
        }
        None if keyed_seen => {
            Err("an unkeyed event after keyed ones (inserted by hand)".to_owned())
        }
        None if e.legacy_hash() != e.hash => Err("content does not match its hash".to_owned()),
        None => Ok(true),
    }
}
