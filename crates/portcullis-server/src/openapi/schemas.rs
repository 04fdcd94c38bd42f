//! The shapes of answers the handlers build by hand (`json!` wrappers and views), so the
//! document gives them a real schema rather than an opaque object. They are never built:
//! the e2e test `openapi` checks real answers against them, which keeps them honest.

use chrono::{DateTime, Utc};
use portcullis_core::{Digest, GroupName, Role};
use portcullis_store::{DeliveryRecord, ReviewRecord, WaiverRecord};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::views::{DryRunView, PromotionView};

/// `GET /v1/promotions`.
#[derive(Serialize, ToSchema)]
pub struct PromotionList {
    /// Newest first.
    pub promotions: Vec<PromotionView>,
}

/// A dry run's answer: the verdict, and the policy input it was judged on.
#[derive(Serialize, ToSchema)]
pub struct DryRunAnswer {
    /// The verdict.
    #[serde(flatten)]
    pub view: DryRunView,
    /// The input document the policy saw (`input`), as the gate built it.
    #[schema(value_type = Object)]
    pub evidence: Value,
}

/// `POST /v1/promotions` with 200: the open promotion, or a dry run's verdict.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExistingOrDryRun {
    /// The open promotion for the same digest, route and tag.
    Existing(Box<PromotionView>),
    /// `dry_run: true`: nothing stored.
    DryRun(Box<DryRunAnswer>),
}

/// A promotion's `approvals_voided`: its votes were voided when a new policy judged it again.
#[derive(Serialize, ToSchema)]
pub struct VotesVoided {
    /// Why (the policy change).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// How many votes were voided.
    pub votes: i64,
}

/// `GET /v1/reviews`.
#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    /// Newest first.
    pub reviews: Vec<ReviewRecord>,
}

/// `GET /v1/waivers`.
#[derive(Serialize, ToSchema)]
pub struct WaiverList {
    /// Newest first.
    pub waivers: Vec<WaiverRecord>,
}

/// `GET /v1/webhooks/deliveries`.
#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryRecord>,
}

/// Whether a minted token works yet.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// It works.
    Active,
    /// An `approver` or `break-glass` token: it works once a second admin confirms it.
    AwaitingConfirmation,
}

/// `POST /v1/tokens`: the token, shown once.
#[derive(Serialize, ToSchema)]
pub struct MintedToken {
    /// Its id (to confirm or revoke it).
    pub id: Uuid,
    /// The secret to send as `Authorization: Bearer <token>`; not shown again.
    pub token: String,
    /// Who it speaks for.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// Its approver groups.
    pub groups: Vec<GroupName>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether it works yet.
    pub state: TokenState,
}

/// `POST /v1/tokens/{id}/confirm`.
#[derive(Serialize, ToSchema)]
pub struct ConfirmedToken {
    /// Its id.
    pub id: Uuid,
    /// Who it speaks for.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// Always `active`.
    pub state: TokenState,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The policy bundle serving now.
    pub policy_digest: Digest,
}

/// `POST /v1/runtime/reports`: what was recorded.
#[derive(Serialize, ToSchema)]
pub struct RuntimeRecorded {
    /// The cluster.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The workload.
    pub workload: String,
    /// How many images it runs, as recorded.
    pub images: usize,
}

/// A Kubernetes `admission.k8s.io/v1` AdmissionReview as the apiserver sends it (only the
/// fields the gate reads are described; the rest is ignored).
#[derive(Serialize, ToSchema)]
pub struct AdmissionReviewRequest {
    /// `admission.k8s.io/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `AdmissionReview`.
    pub kind: String,
    /// The request: `uid`, `operation`, `namespace`, and the pod or workload `object`
    /// whose images are checked.
    #[schema(value_type = Object)]
    pub request: Value,
}

/// The AdmissionReview answered (always HTTP 200; a refusal is `allowed: false`).
#[derive(Serialize, ToSchema)]
pub struct AdmissionReviewResponse {
    /// `admission.k8s.io/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `AdmissionReview`.
    pub kind: String,
    /// The verdict.
    pub response: AdmissionVerdict,
}

/// The `response` of an AdmissionReview.
#[derive(Serialize, ToSchema)]
pub struct AdmissionVerdict {
    /// The request's `uid`, echoed.
    pub uid: String,
    /// Whether the object may be admitted.
    pub allowed: bool,
    /// Why not: 403 refused, 400 or 413 a review that could not be read, 503 the gate
    /// could not decide (refused when the webhook fails closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionStatus>,
    /// Notes shown to the user (what would have been refused, in `warn` mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// The `status` of a refused AdmissionReview.
#[derive(Serialize, ToSchema)]
pub struct AdmissionStatus {
    /// An HTTP-like code.
    pub code: u16,
    /// Why, per image.
    pub message: String,
}
