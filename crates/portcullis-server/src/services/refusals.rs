//! Refused governance actions leave a trace: a vote or retry that was refused (self
//! approval, missing group, a second vote, not the requester, …) is audited with its code,
//! outside the refused transaction (which was rolled back), so an insider trying to get round
//! the rules is visible. Unknown promotions and internal errors are not governance refusals.

use portcullis_core::AuditAction;
use portcullis_store::NewAuditEvent;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Audits `e` as `action` (`vote_refused`, `retry_refused`) by `caller` on promotion `id`,
/// with `extra` fields merged into the details; does nothing unless `e` is a 403 or 409.
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    id: Uuid,
    e: &ApiError,
    extra: Value,
) {
    if !matches!(e.status().as_u16(), 403 | 409) {
        return;
    }
    let digest = match state.store.get_promotion(id).await {
        Ok(Some(p)) => Some(p.digest),
        _ => None,
    };
    let mut details = json!({"code": e.code(), "reason": e.detail()});
    if let (Value::Object(d), Value::Object(x)) = (&mut details, extra) {
        d.extend(x);
    }
    let event = NewAuditEvent {
        actor: caller.subject.clone(),
        action,
        promotion_id: Some(id),
        digest,
        details,
    };
    if let Err(err) = state.store.append_audit_now(&event).await {
        tracing::error!(error = %err, promotion.id = %id, action = %action, "could not audit a refusal");
    }
}
