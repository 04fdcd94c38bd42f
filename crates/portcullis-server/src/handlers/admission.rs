//! `POST /v1/admission`: the Kubernetes validating admission webhook. Always answers 200
//! with an AdmissionReview (a body that cannot be read too: status 400 or 413 inside it);
//! only authentication failures are problem+json (the apiserver treats them as a webhook
//! failure, which `failurePolicy: Fail` turns into a refusal).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde_json::Value;

use crate::auth::{Authorized, roles};
use crate::services::admission;
use crate::state::AppState;

/// Largest AdmissionReview accepted: the apiserver caps an object at 3 MiB, and the review
/// around it (old object, user info) needs room too.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Kubernetes validating admission webhook.
///
/// `POST /v1/admission`.
#[utoipa::path(
    post, path = "/v1/admission", tag = "admission", operation_id = "admissionReview",
    security(("bearer" = ["admission", "admin"])),
    request_body(content = crate::openapi::schemas::AdmissionReviewRequest,
        description = "An `admission.k8s.io/v1` AdmissionReview (at most 4 MiB)",
        example = crate::openapi::examples::admission_review),
    responses(
        (status = 200, description = "Always 200 with an AdmissionReview, a refusal or an \
            unreadable review included (`allowed: false` with its `status`)",
            body = crate::openapi::schemas::AdmissionReviewResponse,
            example = crate::openapi::examples::admission_refused),
    )
)]
pub async fn review(
    State(state): State<AppState>,
    Authorized(_caller): Authorized<{ roles::ADMISSION | roles::ADMIN }>,
    body: Result<Bytes, BytesRejection>,
) -> Json<Value> {
    Json(match body {
        Ok(body) => admission::review(&state.admission, &state.store, &state.keys, &body).await,
        Err(e) => admission::review::response(
            "",
            false,
            Some((
                e.status().as_u16(),
                format!("the review could not be read: {}", e.body_text()),
            )),
            &[],
        ),
    })
}
