//! Withdrawing a promoted image (`POST /v1/promotions/{id}/withdraw`): an admin revokes a
//! `promoted` promotion, for a reason. The withdrawal is a gate-signed record (payload type
//! `application/vnd.portcullis.withdrawal.v1+json`, built field by field like the records of
//! `trust`), stored with the row and audited (`withdrawn`) in one transaction. Admission and
//! the drift report refuse the digest at that destination from then on.

use chrono::{DateTime, Utc};
use portcullis_core::{AuditAction, PromotionState, TextKind, check_text};
use portcullis_gate::Envelope;
use portcullis_store::{NewAuditEvent, PromotionRecord, Store, Withdrawal};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::services::trust::{GateKeys, timestamp};
use crate::state::AppState;

/// Payload type of a signed withdrawal.
pub const WITHDRAWAL_TYPE: &str = "application/vnd.portcullis.withdrawal.v1+json";
/// Longest reason, in characters.
pub const MAX_REASON: usize = 2000;

/// Why a withdrawal was refused.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawalError {
    /// The reason is missing, too long or holds forbidden characters.
    #[error("{0}")]
    InvalidReason(String),
    /// No such promotion.
    #[error("no promotion {0}")]
    NotFound(Uuid),
    /// Only a `promoted` promotion can be withdrawn.
    #[error("promotion {id} is {state}; only a promoted promotion can be withdrawn")]
    NotPromoted {
        /// The promotion.
        id: Uuid,
        /// Its state.
        state: PromotionState,
    },
    /// It was withdrawn before.
    #[error("promotion {0} was already withdrawn")]
    AlreadyWithdrawn(Uuid),
    /// The withdrawal could not be signed.
    #[error("signing the withdrawal: {0}")]
    Signing(#[from] portcullis_gate::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
}

impl WithdrawalError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidReason(_) => "invalid_reason",
            Self::NotFound(_) => "not_found",
            Self::NotPromoted { .. } => "not_promoted",
            Self::AlreadyWithdrawn(_) => "already_withdrawn",
            Self::Signing(_) => "internal",
            Self::Store(e) => crate::services::store_code(e),
        }
    }
}

/// The signed record of a withdrawal.
fn record(p: &PromotionRecord, by: &str, reason: &str, at: DateTime<Utc>) -> Value {
    json!({
        "v": 1,
        "type": "withdrawal",
        "promotion_id": p.id.to_string(),
        "digest": p.digest.as_str(),
        "destination": p.destination_name(),
        "withdrawn_by": by,
        "reason": reason,
        "withdrawn_at": timestamp(at),
    })
}

/// Whether `w`'s envelope is the gate's signature over exactly its row.
pub fn verify(keys: &GateKeys, w: &Withdrawal) -> Result<(), String> {
    let signed = Envelope::from_value(&w.envelope)
        .and_then(|e| e.verify(keys.ring(), WITHDRAWAL_TYPE))
        .map_err(|e| e.to_string())?
        .record;
    let row = json!({
        "v": 1,
        "type": "withdrawal",
        "promotion_id": w.promotion_id.to_string(),
        "digest": w.digest.as_str(),
        "destination": w.destination,
        "withdrawn_by": w.withdrawn_by,
        "reason": w.reason,
        "withdrawn_at": timestamp(w.withdrawn_at),
    });
    if signed == row {
        Ok(())
    } else {
        Err("the signed withdrawal differs from the row".into())
    }
}

/// Withdraws promotion `id` for `reason`; returns the withdrawal.
#[tracing::instrument(skip_all, fields(promotion.id = %id))]
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    reason: &str,
) -> Result<Withdrawal, WithdrawalError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(WithdrawalError::InvalidReason(format!(
            "reason is required, at most {MAX_REASON} characters"
        )));
    }
    check_text(reason, TextKind::Prose)
        .map_err(|e| WithdrawalError::InvalidReason(format!("reason {e}")))?;
    let mut tx = state.store.begin().await?;
    let p = Store::lock_promotion(&mut tx, id)
        .await?
        .ok_or(WithdrawalError::NotFound(id))?;
    if state.store.withdrawal(id).await?.is_some() {
        return Err(WithdrawalError::AlreadyWithdrawn(id));
    }
    if p.state != PromotionState::Promoted {
        return Err(WithdrawalError::NotPromoted { id, state: p.state });
    }
    // Microseconds, as the column keeps them, so the signed time is the stored one.
    let at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .unwrap_or_else(Utc::now);
    let envelope = Envelope::sign(
        state.keys.ring().current(),
        WITHDRAWAL_TYPE,
        &record(&p, &caller.subject, reason, at),
    )?
    .to_value();
    let w = Withdrawal {
        promotion_id: id,
        destination: p.destination_name(),
        digest: p.digest.clone(),
        withdrawn_at: at,
        withdrawn_by: caller.subject.clone(),
        reason: reason.to_owned(),
        envelope,
    };
    match Store::insert_withdrawal(&mut tx, &w).await {
        Err(portcullis_store::Error::Conflict(_)) => {
            return Err(WithdrawalError::AlreadyWithdrawn(id));
        }
        other => other?,
    }
    state
        .store
        .append_audit(
            &mut tx,
            &NewAuditEvent {
                actor: caller.subject.clone(),
                action: AuditAction::Withdrawn,
                promotion_id: Some(id),
                digest: Some(p.digest.clone()),
                details: json!({
                    "destination": w.destination,
                    "reason": w.reason,
                    "withdrawn_at": timestamp(at),
                    "kind": p.kind.as_str(),
                }),
                request_id: caller.request_id.clone(),
            },
        )
        .await?;
    portcullis_store::commit(tx).await?;
    state.admission.invalidate();
    tracing::warn!(promotion.id = %id, image.digest = %p.digest, "promotion withdrawn");
    Ok(w)
}
