//! The JSON shapes the API returns, built from store records.

use chrono::{DateTime, Utc};
use portcullis_core::{Decision, PromotionKind, PromotionState};
use portcullis_store::{ApprovalRecord, PromotionRecord};
use serde::Serialize;
use uuid::Uuid;

/// A promotion as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PromotionView {
    /// Id.
    pub id: Uuid,
    /// `promotion`, or `rollback` (a channel tag moved back to a digest promoted before).
    pub kind: PromotionKind,
    /// State.
    pub state: PromotionState,
    /// Source as requested.
    pub source: String,
    /// Digest promoted.
    #[schema(value_type = portcullis_core::Digest)]
    pub digest: String,
    /// Destination repository.
    pub destination: String,
    /// Destination tag.
    pub tag: Option<String>,
    /// Route.
    pub route: String,
    /// Requester.
    pub requested_by: String,
    /// Policy verdict.
    pub decision: Decision,
    /// Votes so far.
    pub approvals: Vec<ApprovalRecord>,
    /// Policy bundle digest.
    #[schema(value_type = portcullis_core::Digest)]
    pub policy_digest: String,
    /// Why the copy failed.
    pub error: Option<String>,
    /// What the copy did (blobs, bytes, timings), once it ran.
    #[schema(value_type = Option<Object>)]
    pub copy: Option<serde_json::Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The SHA-256 of the evidence the policy judged, which an approver must send back with
    /// their vote (shown on a single promotion's GET and in `?awaiting=me`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// When and why earlier votes were voided (a policy change judged it again), if ever
    /// (shown on a single promotion's GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::openapi::schemas::VotesVoided>)]
    pub approvals_voided: Option<serde_json::Value>,
    /// The break-glass that promoted it despite the policy or missing approvals, with its
    /// review (shown on a single promotion's GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<portcullis_store::ReviewRecord>,
    /// Its decisions, oldest first: the request's, then each re-judgement's; each can be
    /// replayed (`POST /v1/decisions/{id}/replay`). Shown on a single promotion's GET.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_ids: Option<Vec<Uuid>>,
    /// Its withdrawal, if an admin withdrew it (shown on a single promotion's GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<WithdrawnView>,
}

/// A withdrawal as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithdrawnView {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: String,
    /// Why.
    pub reason: String,
}

impl PromotionView {
    /// Combines a promotion with its votes.
    pub fn new(p: PromotionRecord, approvals: Vec<ApprovalRecord>) -> Self {
        Self {
            id: p.id,
            kind: p.kind,
            state: p.state,
            source: p.source.to_string(),
            digest: p.digest.to_string(),
            destination: p.destination_name(),
            tag: p.tag.map(String::from),
            route: p.route,
            requested_by: p.requested_by,
            decision: p.decision,
            approvals,
            policy_digest: p.policy_digest.to_string(),
            error: p.error,
            copy: p.copy_report,
            created_at: p.created_at,
            updated_at: p.updated_at,
            evidence_hash: None,
            approvals_voided: None,
            break_glass: None,
            withdrawn: None,
            decision_ids: None,
        }
    }
}

/// The answer to a dry run: the verdict, nothing stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRunView {
    /// Always true.
    pub dry_run: bool,
    /// Digest that would be promoted.
    pub digest: String,
    /// Destination repository.
    pub destination: String,
    /// Verdict.
    pub decision: Decision,
    /// Policy bundle digest.
    pub policy_digest: String,
}

impl DryRunView {
    /// The answer's JSON: these fields, then `evidence`, the input document the policy saw,
    /// spliced in as the JSON text it was written as (`evidence` must be one JSON value).
    pub fn to_json(&self, evidence: &[u8]) -> serde_json::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(evidence.len() + 1024);
        serde_json::to_writer(&mut body, self)?;
        // `{…}` becomes `{…,"evidence":<evidence>}`: the object has fields, so a comma fits.
        body.pop();
        body.extend_from_slice(b",\"evidence\":");
        body.extend_from_slice(evidence);
        body.push(b'}');
        Ok(body)
    }
}
