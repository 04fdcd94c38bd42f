//! The decision log: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and
//! chained, each event's hash covering its content and the previous event's hash. The hash
//! is an HMAC under a key derived from the gate key (which lives outside the database), so
//! a database superuser who rewrites rows cannot recompute it; the signed checkpoints of
//! `portcullis_gate::Checkpoint` catch a cut tail.

use chrono::{DateTime, SubsecRound, Utc};
use portcullis_core::{AuditAction, Digest, RequestId};
use portcullis_gate::MacKey;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::{Error, Result, Store, Tx};

mod chain;
#[cfg(test)]
mod tests;

pub use chain::ChainReport;

/// Serialises appends so sequence numbers and the hash chain have no gaps or forks.
const AUDIT_LOCK_KEY: i64 = 0x706f_7274_6375_6c6c;

/// A transaction holding the audit chain's lock since it began (`Store::begin_audited`).
pub struct AuditedTx(Tx);

impl std::ops::Deref for AuditedTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.0
    }
}

impl std::ops::DerefMut for AuditedTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.0
    }
}

impl AuditedTx {
    /// Commits it.
    pub async fn commit(self) -> Result<()> {
        self.0.commit().await?;
        Ok(())
    }
}

/// The hash the first event chains from.
const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// Who did it (token subject, `system`, or `anonymous`).
    pub actor: String,
    /// What happened.
    pub action: AuditAction,
    /// The promotion concerned.
    pub promotion_id: Option<Uuid>,
    /// The digest concerned.
    pub digest: Option<Digest>,
    /// Anything else worth keeping.
    pub details: serde_json::Value,
    /// The HTTP request that caused it (`x-request-id`); none outside a request.
    pub request_id: Option<RequestId>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Position in the log.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// Which promotion.
    pub promotion_id: Option<Uuid>,
    /// Which digest.
    pub digest: Option<Digest>,
    /// Details.
    pub details: serde_json::Value,
    /// The HTTP request that wrote it, if one did.
    pub request_id: Option<String>,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// The gate key whose derived MAC key made `hash` (none for pre-keyed events).
    pub key_id: Option<String>,
}

/// Filters for reading the log; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this digest.
    pub digest: Option<Digest>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this sequence number (the page cursor).
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// One page of events, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What `hash` starts with for keyed events.
const KEYED_PREFIX: &str = "hmac-sha256:";

impl AuditEvent {
    /// The canonical record the MAC covers: every field but `hash` and `key_id`, versioned.
    /// An event with a request id is a version-2 record that covers it too; one without is
    /// the version-1 record it always was, so chains written before request ids verify.
    fn record(&self) -> Vec<u8> {
        let mut record = json!({
            "v": 1,
            "type": "portcullis.audit.event",
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": self.actor,
            "action": self.action.as_str(),
            "promotion_id": self.promotion_id.map(|u| u.to_string()),
            "digest": self.digest.as_ref().map(Digest::as_str),
            "details": self.details,
        });
        if let (Some(id), Some(fields)) = (&self.request_id, record.as_object_mut()) {
            fields.insert("v".to_owned(), json!(2));
            fields.insert("request_id".to_owned(), json!(id));
        }
        portcullis_gate::canonical::to_vec(&record)
    }

    /// The keyed hash: `hmac-sha256:<hex>` under `key`.
    fn keyed_hash(&self, key: &MacKey) -> String {
        format!("{KEYED_PREFIX}{}", hex::encode(key.sign(&self.record())))
    }

    /// Whether `hash` is this event's MAC under `key` (constant time).
    pub fn mac_matches(&self, key: &MacKey) -> bool {
        let Some(tag) = self.hash.strip_prefix(KEYED_PREFIX) else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        self.key_id.as_deref() == Some(key.key_id()) && key.verify(&self.record(), &tag)
    }

    /// The unkeyed SHA-256 of events written before the gate key existed: fields separated
    /// by U+001F, `details` as compact JSON with sorted keys.
    fn legacy_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.prev_hash.as_str(),
            &self.seq.to_string(),
            &self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            &self.actor,
            self.action.as_str(),
            &self.promotion_id.map(|u| u.to_string()).unwrap_or_default(),
            self.digest.as_ref().map_or("", Digest::as_str),
            &portcullis_gate::canonical::to_string(&self.details),
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// An event as the row holds it, before its values are checked.
#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    promotion_id: Option<Uuid>,
    digest: Option<String>,
    details: serde_json::Value,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
    key_id: Option<String>,
}

impl TryFrom<Row> for AuditEvent {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |what: &str, e: portcullis_core::Error| {
            Error::Corrupt(format!("audit event {}: {what}: {e}", r.seq))
        };
        Ok(Self {
            action: r.action.parse().map_err(|e| corrupt("action", e))?,
            digest: r
                .digest
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt("digest", e))?,
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            promotion_id: r.promotion_id,
            details: r.details,
            request_id: r.request_id,
            prev_hash: r.prev_hash,
            hash: r.hash,
            key_id: r.key_id,
        })
    }
}

fn decode(rows: Vec<Row>) -> Result<Vec<AuditEvent>> {
    rows.into_iter().map(TryInto::try_into).collect()
}

const EVENT_COLUMNS: &str =
    "seq, at, actor, action, promotion_id, digest, details, prev_hash, hash, key_id, request_id";

fn select_events(tail: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM audit_events {tail}"))
}

impl Store {
    fn audit_key(&self) -> Result<&MacKey> {
        self.audit_key.as_ref().ok_or(Error::NoAuditKey)
    }

    /// Appends an event inside `tx`, chaining it to the last one and keying its hash.
    pub async fn append_audit(&self, tx: &mut Tx, e: &NewAuditEvent) -> Result<i64> {
        self.append_audits(tx, std::slice::from_ref(e)).await
    }

    /// Appends `events` in order inside `tx`, each chained to the one before, under one
    /// lock of the chain and one read of its head; returns the last one's sequence number.
    pub async fn append_audits(&self, tx: &mut Tx, events: &[NewAuditEvent]) -> Result<i64> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK_KEY)
            .execute(&mut **tx)
            .await?;
        self.chain(tx, events).await
    }

    /// Begins a transaction that holds the audit chain's lock from its first round trip
    /// (`BEGIN` and the lock sent together), for a short transaction that ends by appending
    /// events (`append_audits_locked`): a copy job's outcome. Others wait for the chain from
    /// then until it ends, so it must not wait on anything else.
    pub async fn begin_audited(&self) -> Result<AuditedTx> {
        let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})");
        Ok(AuditedTx(
            self.pool.begin_with(sqlx::AssertSqlSafe(begin)).await?,
        ))
    }

    /// `append_audits` inside a transaction that already holds the chain's lock.
    pub async fn append_audits_locked(
        &self,
        tx: &mut AuditedTx,
        events: &[NewAuditEvent],
    ) -> Result<i64> {
        self.chain(&mut tx.0, events).await
    }

    /// Inserts `events` after the chain's head; the caller holds the chain's lock.
    async fn chain(&self, tx: &mut Tx, events: &[NewAuditEvent]) -> Result<i64> {
        let key = self.audit_key()?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_owned()));
        for e in events {
            seq += 1;
            let mut event = AuditEvent {
                seq,
                at: Utc::now().trunc_subsecs(6),
                actor: e.actor.clone(),
                action: e.action,
                promotion_id: e.promotion_id,
                digest: e.digest.clone(),
                details: e.details.clone(),
                request_id: e.request_id.as_ref().map(|r| r.as_str().to_owned()),
                prev_hash: prev,
                hash: String::new(),
                key_id: Some(key.key_id().to_owned()),
            };
            event.hash = event.keyed_hash(key);
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor, action, promotion_id, digest, details, prev_hash, hash, key_id, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(event.seq)
            .bind(event.at)
            .bind(&event.actor)
            .bind(event.action.as_str())
            .bind(event.promotion_id)
            .bind(event.digest.as_ref().map(Digest::as_str))
            .bind(&event.details)
            .bind(&event.prev_hash)
            .bind(&event.hash)
            .bind(&event.key_id)
            .bind(event.request_id.as_deref())
            .execute(&mut **tx)
            .await?;
            prev = event.hash;
        }
        Ok(seq)
    }

    /// Appends a single event in its own transaction.
    pub async fn append_audit_now(&self, e: &NewAuditEvent) -> Result<i64> {
        let mut tx = self.begin().await?;
        let seq = self.append_audit(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Reads events newest first.
    pub async fn query_audit(&self, f: &AuditFilter) -> Result<AuditPage> {
        let limit = f.limit.clamp(1, 500);
        let rows: Vec<Row> = sqlx::query_as(select_events(
            "WHERE ($1::text IS NULL OR digest = $1) AND ($2::text IS NULL OR actor = $2) \
               AND ($3::text IS NULL OR action = $3) AND ($4::timestamptz IS NULL OR at >= $4) \
               AND ($5::timestamptz IS NULL OR at < $5) AND ($6::bigint IS NULL OR seq < $6) \
             ORDER BY seq DESC LIMIT $7",
        ))
        .bind(f.digest.as_ref().map(Digest::as_str))
        .bind(f.actor.as_deref())
        .bind(f.action.map(AuditAction::as_str))
        .bind(f.since)
        .bind(f.until)
        .bind(f.before_seq)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut events = decode(rows)?;
        let next_cursor = if events.len() as i64 > limit {
            events.truncate(limit as usize);
            events.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_cursor,
        })
    }

    /// Events matching `f` (its `before_seq` and `limit` aside) after `after_seq`, oldest
    /// first, at most `limit`: one page of an export in chain order.
    pub async fn export_audit_page(
        &self,
        f: &AuditFilter,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let rows: Vec<Row> = sqlx::query_as(select_events(
            "WHERE ($1::text IS NULL OR digest = $1) AND ($2::text IS NULL OR actor = $2) \
               AND ($3::text IS NULL OR action = $3) AND ($4::timestamptz IS NULL OR at >= $4) \
               AND ($5::timestamptz IS NULL OR at < $5) AND seq > $6 \
             ORDER BY seq LIMIT $7",
        ))
        .bind(f.digest.as_ref().map(Digest::as_str))
        .bind(f.actor.as_deref())
        .bind(f.action.map(AuditAction::as_str))
        .bind(f.since)
        .bind(f.until)
        .bind(after_seq)
        .bind(limit.clamp(1, 5000))
        .fetch_all(&self.pool)
        .await?;
        decode(rows)
    }

    /// All events for one promotion, oldest first.
    pub async fn audit_for_promotion(&self, promotion_id: Uuid) -> Result<Vec<AuditEvent>> {
        decode(
            sqlx::query_as(select_events("WHERE promotion_id = $1 ORDER BY seq"))
                .bind(promotion_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The newest event's sequence number and hash.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The stored hash of event `seq`, if it exists.
    pub async fn audit_hash_at(&self, seq: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Whether a finished copy already spent the decision statement `statement_digest`:
    /// a `promoted` event naming it whose MAC verifies (a row inserted by hand does not).
    pub async fn statement_spent(&self, statement_digest: &str) -> Result<bool> {
        let key = self.audit_key()?;
        let rows: Vec<Row> = sqlx::query_as(select_events(
            "WHERE action = $2 AND details ->> 'statement_digest' = $1",
        ))
        .bind(statement_digest)
        .bind(AuditAction::Promoted.as_str())
        .fetch_all(&self.pool)
        .await?;
        // A row that does not decode was not written by the gate: it spends nothing.
        Ok(rows
            .into_iter()
            .filter_map(|r| AuditEvent::try_from(r).ok())
            .any(|e| e.mac_matches(key)))
    }
}
