//! Judging a pending promotion again. A promotion is judged under one policy and one set of
//! waivers (they are part of its input document, so of its evidence hash): when the serving
//! policy changes, or a waiver that covers it is confirmed, revoked or expires, it is
//! evaluated again over the same evidence with the waivers that apply now. Every earlier
//! vote is voided (`approvals_voided`, the votes kept in `voided_approvals`); still allowed,
//! it stays `pending_approval` under the new decision, freshly signed; now denied, it
//! becomes `denied`. Denied promotions are never judged again (a waiver that would allow
//! one does not resurrect it: the requester requests the promotion again).

use chrono::Utc;
use portcullis_core::{AuditAction, Digest, PromotionState};
use portcullis_store::{NewAuditEvent, PromotionRecord, Store, Tx};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::services::{decisions, waivers};
use crate::state::AppState;

/// Why a pending promotion is looked at again.
#[derive(Debug, Clone, Copy)]
pub enum Cause {
    /// Anything may have changed (a vote, a repeated request): judged again when the serving
    /// policy or the waivers that apply differ from those it was judged under.
    Check,
    /// Waiver `id` was `change`d (`confirmed`, `revoked`, `expired`).
    Waiver {
        /// The waiver.
        id: Uuid,
        /// What happened to it.
        change: &'static str,
    },
}

/// What judging again did.
#[derive(Debug, Clone)]
pub struct Rejudged {
    /// Why, as `approvals_voided.reason` (and, when denied, the promotion's `error`) say.
    pub reason: String,
    /// Whether the serving policy differed from the one it was judged under.
    pub policy_changed: bool,
    /// `pending_approval` or `denied`.
    pub state: PromotionState,
    /// The new evidence hash.
    pub evidence_hash: String,
}

fn store_error(what: &str, e: impl std::fmt::Display) -> portcullis_store::Error {
    portcullis_store::Error::Corrupt(format!("{what}: {e}"))
}

/// The reason recorded for a re-judgement.
fn reason(p: &PromotionRecord, serving: &Digest, cause: Cause, old: &Value, new: &Value) -> String {
    if p.policy_digest != *serving {
        return format!(
            "the policy changed from {} to {serving} while this promotion awaited approval; \
             it was judged again and the votes cast under the old judgement were voided: look again and vote",
            p.policy_digest
        );
    }
    if let Cause::Waiver { id, change } = cause {
        return format!("waiver {id} {change}");
    }
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let (before, after) = (ids(old), ids(new));
    let gone: Vec<&str> = before
        .iter()
        .filter(|i| !after.contains(i))
        .map(String::as_str)
        .collect();
    let came: Vec<&str> = after
        .iter()
        .filter(|i| !before.contains(i))
        .map(String::as_str)
        .collect();
    match (gone.first(), came.first()) {
        (Some(id), _) => format!("waiver {id} no longer applies"),
        (None, Some(id)) => format!("waiver {id} applies"),
        (None, None) => "the waivers that apply changed".to_owned(),
    }
}

/// Promotions judged again per round after a reload.
const REJUDGE_BATCH: i64 = 100;

/// After a policy change: judges again every pending promotion judged under another bundle
/// (each in its own transaction, audited as done by `by`), so votes under the old rules are
/// voided at once, not at the next vote. Returns how many were judged again. One that is
/// missed (a failure, or a request cut by its deadline) is judged at its next vote or request.
pub async fn rejudge_after_reload(
    state: &AppState,
    by: &Caller,
) -> Result<usize, portcullis_store::Error> {
    let serving = state.gate.policy.digest();
    let mut done = 0;
    loop {
        let ids = state
            .store
            .pending_judged_by_other(&serving, REJUDGE_BATCH)
            .await?;
        let mut progressed = false;
        for id in &ids {
            let mut tx = state.store.begin().await?;
            let Some(p) = Store::lock_promotion(&mut tx, *id).await? else {
                continue;
            };
            if rejudge_locked(state, &mut tx, &p, Cause::Check, by)
                .await?
                .is_some()
            {
                portcullis_store::commit(tx).await?;
                done += 1;
                progressed = true;
            }
        }
        // Another reload since (or nothing left): what remains is judged on its next vote.
        if !progressed
            || (ids.len() as i64) < REJUDGE_BATCH
            || state.gate.policy.digest() != serving
        {
            return Ok(done);
        }
    }
}

/// Judges the locked promotion `p` again inside `tx` if it is pending and the serving
/// policy or the waivers that apply to it differ from those it was judged under (always,
/// for a waiver `cause`, if they differ). The change is audited (`superseded`) as done by
/// `by`. `None` when nothing changed or it is not pending.
pub(crate) async fn rejudge_locked(
    state: &AppState,
    tx: &mut Tx,
    p: &PromotionRecord,
    cause: Cause,
    by: &Caller,
) -> Result<Option<Rejudged>, portcullis_store::Error> {
    if p.state != PromotionState::PendingApproval {
        return Ok(None);
    }
    let bundle = state.gate.policy.current();
    let serving = bundle.digest().clone();
    let live = Store::live_waivers_tx(tx, &p.digest).await?;
    let now_applying = waivers::entries(&live, &p.source, &p.digest);
    let new_waivers = serde_json::to_value(&now_applying).map_err(|e| store_error("waivers", e))?;
    let old_waivers = p
        .evidence
        .get("waivers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let policy_changed = p.policy_digest != serving;
    if !policy_changed && old_waivers == new_waivers {
        return Ok(None);
    }
    let reason = reason(p, &serving, cause, &old_waivers, &new_waivers);
    let mut evidence = p.evidence.clone();
    if let Value::Object(doc) = &mut evidence {
        doc.insert("waivers".to_owned(), new_waivers);
    }
    let (decision, judgement) =
        decisions::judge_json(&bundle, &evidence).map_err(|e| store_error("the input", e))?;
    let now = Utc::now();
    Store::rejudge_promotion(tx, p.id, &decision, &serving, &evidence).await?;
    let voided = Store::void_approvals(tx, p.id, &reason, now).await?;
    let mut next = if decision.allow {
        PromotionState::PendingApproval
    } else {
        let error = format!(
            "superseded: {reason}; judged again the promotion is denied: request it again once it complies"
        );
        Store::set_promotion_state(tx, p.id, PromotionState::Denied, Some(&error), None).await?;
        PromotionState::Denied
    };
    let stored = Store::lock_promotion(tx, p.id)
        .await?
        .ok_or_else(|| store_error("promotion", format!("{} vanished", p.id)))?;
    let decision_id = decisions::record(tx, &state.keys, &stored, &judgement, now).await?;
    let evidence_hash = crate::services::trust::evidence_hash(&stored.evidence);
    let event = NewAuditEvent {
        actor: by.subject.clone(),
        action: AuditAction::Superseded,
        promotion_id: Some(p.id),
        digest: Some(p.digest.clone()),
        details: json!({
            "reason": reason,
            "previous_policy_digest": p.policy_digest,
            "policy_digest": serving,
            "state": next,
            "votes_voided": voided,
            "violations": decision.violations,
            "waived": decision.waived,
            "waivers": now_applying.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            "evidence_hash": evidence_hash,
            "decision_id": decision_id,
            "input_hash": judgement.input_hash,
        }),
        request_id: by.request_id.clone(),
    };
    state.store.append_audit(tx, &event).await?;
    // Judged again, it may need no approvals at all: released now (audited after the
    // re-judgement), as a new request would be.
    if super::record::release_unreviewed(state, tx, &stored, by).await? {
        next = PromotionState::Promoting;
    }
    tracing::info!(promotion.id = %p.id, policy.digest = %serving, promotion.state = %next, votes.voided = voided, reason = %reason, "pending promotion judged again");
    Ok(Some(Rejudged {
        reason,
        policy_changed,
        state: next,
        evidence_hash,
    }))
}
