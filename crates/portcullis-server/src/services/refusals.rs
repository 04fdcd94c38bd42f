//! Refused governance actions leave a trace: a vote or retry that was refused (self
//! approval, missing group, a second vote, not the requester, …) is audited with its code,
//! outside the refused transaction (which was rolled back), so an insider trying to get round
//! the rules is visible. Unknown promotions and internal errors are not governance refusals;
//! each service's error says which of its failures are (`is_refusal`).

use portcullis_store::{NewAuditEvent, Store};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;

/// One refusal to record.
#[derive(Debug)]
pub struct Refusal {
    /// The audit action: `vote_refused`, `retry_refused`.
    pub action: &'static str,
    /// The machine code the client was answered.
    pub code: &'static str,
    /// Why, as the client was told.
    pub reason: String,
}

/// Audits `refusal` of `caller`'s action on promotion `id`, with `extra` fields merged into
/// the details. A failure to write is logged, not answered: the refusal itself stands.
pub async fn audit(store: &Store, caller: &Caller, id: Uuid, refusal: Refusal, extra: Value) {
    let digest = match store.get_promotion(id).await {
        Ok(Some(p)) => Some(p.digest.to_string()),
        _ => None,
    };
    let mut details = json!({"code": refusal.code, "reason": refusal.reason});
    if let (Value::Object(d), Value::Object(x)) = (&mut details, extra) {
        d.extend(x);
    }
    let event = NewAuditEvent {
        actor: caller.subject.clone(),
        action: refusal.action.to_owned(),
        promotion_id: Some(id),
        digest,
        details,
        request_id: caller.request_id.clone(),
    };
    if let Err(err) = store.append_audit_now(&event).await {
        tracing::error!(error = %err, promotion.id = %id, action = refusal.action, "could not audit a refusal");
    }
}
