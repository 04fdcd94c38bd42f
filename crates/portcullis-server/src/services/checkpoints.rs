//! Audit checkpoints: every `checkpoint_every_events` events or `checkpoint_interval_seconds`
//! the gate signs `{seq, head_hash, time}` of the chain head and appends it to the witness
//! file outside the database. Each round also checks the database against the newest
//! witnessed checkpoint: a head behind it, or another hash at its sequence number, means the
//! tail was cut or rewritten, so the gate records `integrity_violation` and stops promoting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use portcullis_gate::Checkpoint;
use portcullis_store::{NewAuditEvent, Store};
use serde_json::json;

use crate::services::trust::GateKeys;

/// The witness file's name inside `audit.checkpoint_dir`.
pub const WITNESS_FILE: &str = "checkpoints.jsonl";

/// The path of the witness file in `dir`.
pub fn witness_path(dir: &Path) -> PathBuf {
    dir.join(WITNESS_FILE)
}

/// Whether the gate has stopped promoting because the audit log failed a check.
#[derive(Debug, Default)]
pub struct Integrity {
    halted: AtomicBool,
}

impl Integrity {
    /// True once a violation of the audit log was found.
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Stops promoting; true the first time.
    fn halt(&self) -> bool {
        !self.halted.swap(true, Ordering::SeqCst)
    }
}

/// How often and where to checkpoint.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The witness file.
    pub file: PathBuf,
    /// The longest time between checkpoints while events arrive.
    pub interval: Duration,
    /// The most events between checkpoints.
    pub every_events: i64,
}

/// Compares the database with a witnessed checkpoint; the reason when they disagree.
pub async fn check_against(
    store: &Store,
    cp: &Checkpoint,
) -> Result<Option<String>, portcullis_store::Error> {
    Ok(match store.audit_hash_at(cp.seq).await? {
        None => Some(format!(
            "event {} was witnessed at {} but is not in the database (the log was cut)",
            cp.seq, cp.time
        )),
        Some(h) if h != cp.head_hash => Some(format!(
            "event {} has hash {h}, but {} was witnessed at {} (the log was rewritten)",
            cp.seq, cp.head_hash, cp.time
        )),
        Some(_) => None,
    })
}

async fn violation(store: &Store, integrity: &Integrity, reason: &str) {
    if !integrity.halt() {
        return;
    }
    tracing::error!(
        reason,
        "integrity violation: the audit log disagrees with the witness file; promotions stop"
    );
    let event = NewAuditEvent {
        actor: "system".to_owned(),
        action: portcullis_core::AuditAction::IntegrityViolation,
        promotion_id: None,
        digest: None,
        details: json!({"during": "checkpoint", "reason": reason}),
        request_id: None,
    };
    if let Err(e) = store.append_audit_now(&event).await {
        tracing::error!(error = %e, "could not audit an integrity violation");
    }
}

/// One round: check the newest witnessed checkpoint, then witness the head if it is due.
/// Returns the newest checkpoint.
async fn round(
    store: &Store,
    gate: &GateKeys,
    integrity: &Integrity,
    schedule: &Schedule,
    last: Option<Checkpoint>,
    last_at: &mut Instant,
) -> Option<Checkpoint> {
    if let Some(cp) = &last {
        match check_against(store, cp).await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                violation(store, integrity, &reason).await;
                return last;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the audit log against the witness file");
                return last;
            }
        }
    }
    let head = match store.audit_head().await {
        Ok(h) => h?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the audit head");
            return last;
        }
    };
    let (seq, hash) = head;
    let since = last.as_ref().map_or(0, |c| c.seq);
    let due = seq - since >= schedule.every_events
        || (seq > since && last_at.elapsed() >= schedule.interval);
    if !due {
        return last;
    }
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let signed = Checkpoint::sign(gate.ring().current(), seq, &hash, &time)
        .and_then(|cp| cp.append_to(&schedule.file).map(|()| cp));
    match signed {
        Ok(cp) => {
            *last_at = Instant::now();
            tracing::debug!(audit.seq = seq, "audit checkpoint witnessed");
            Some(cp)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot write an audit checkpoint");
            last
        }
    }
}

/// Runs forever: a round every second (cheap: two indexed reads).
pub async fn run(store: Store, gate: Arc<GateKeys>, integrity: Arc<Integrity>, schedule: Schedule) {
    let mut last = match portcullis_gate::read_checkpoints(&schedule.file) {
        Ok(all) => all.into_iter().max_by_key(|c| c.seq),
        Err(e) => {
            // An unreadable witness file is itself a violation: fail closed.
            violation(
                &store,
                &integrity,
                &format!("the witness file cannot be read: {e}"),
            )
            .await;
            None
        }
    };
    let mut last_at = Instant::now();
    loop {
        last = round(&store, &gate, &integrity, &schedule, last, &mut last_at).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The outcome of `portcullis audit verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogReport {
    /// The chain recomputed from the first event.
    pub chain: portcullis_store::ChainReport,
    /// Checkpoints read from the witness file.
    pub checkpoints: usize,
    /// The newest witnessed sequence number, if any.
    pub witnessed_seq: Option<i64>,
    /// The first problem found, if any.
    pub problem: Option<String>,
    /// The event the first problem is at (a broken event, or a checkpoint's), if any.
    pub first_bad_seq: Option<i64>,
}

/// Verifies the whole log: the keyed chain, then every witnessed checkpoint (its signature,
/// and that event `seq` exists with exactly `head_hash`). That catches a forged insert, a
/// rewritten middle, a cut tail, an emptied log, and a tail cut and grown back.
pub async fn verify_log(
    store: &Store,
    gate: &GateKeys,
    checkpoints: &[Checkpoint],
) -> Result<LogReport, portcullis_store::Error> {
    verify_log_from(store, gate, checkpoints, None).await
}

/// `verify_log` after `anchor` (`seq`, hash): an event verified before at a witnessed
/// checkpoint, which must still hold that hash; only the events and checkpoints after it
/// are checked (`GET /v1/audit/verify`). Without an anchor, the whole log.
pub async fn verify_log_from(
    store: &Store,
    gate: &GateKeys,
    checkpoints: &[Checkpoint],
    anchor: Option<(i64, &str)>,
) -> Result<LogReport, portcullis_store::Error> {
    let chain = store
        .verify_audit_chain_from(&[gate.audit_mac().clone()], anchor)
        .await?;
    let mut first_bad_seq = chain.broken_at.as_ref().map(|(seq, _)| *seq);
    let mut problem = chain
        .broken_at
        .as_ref()
        .map(|(seq, why)| format!("event {seq}: {why}"));
    let checkpoints: Vec<&Checkpoint> = checkpoints
        .iter()
        .filter(|cp| anchor.is_none_or(|(seq, _)| cp.seq > seq))
        .collect();
    // A witness line the gate did not sign is reported first: the file itself was forged.
    if let Some((cp, e)) = checkpoints
        .iter()
        .find_map(|cp| cp.verify(gate.ring()).err().map(|e| (cp, e)))
        && problem.is_none()
    {
        problem = Some(format!(
            "checkpoint of event {} at {}: {e}",
            cp.seq, cp.time
        ));
        first_bad_seq = Some(cp.seq);
    }
    if problem.is_none() && chain.events == 0 && !checkpoints.is_empty() {
        problem = Some(format!(
            "the log is empty but {} checkpoints were witnessed",
            checkpoints.len()
        ));
    }
    for cp in &checkpoints {
        if problem.is_some() {
            break;
        }
        problem = check_against(store, cp).await?;
        if problem.is_some() {
            first_bad_seq = Some(cp.seq);
        }
    }
    Ok(LogReport {
        chain,
        checkpoints: checkpoints.len(),
        witnessed_seq: checkpoints.iter().map(|c| c.seq).max(),
        problem,
        first_bad_seq,
    })
}
