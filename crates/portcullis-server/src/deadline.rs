//! The overall request deadline (`http.request_timeout_seconds`): an API request still
//! running when it passes is dropped and answered 503 `deadline_exceeded`, so a registry that
//! never answers or a slow evaluation cannot hold a client (and a connection) indefinitely.
//!
//! Dropping the handler rolls back any open transaction; a request that already committed
//! is found again by repeating it (requests are idempotent per digest and route). CPU work
//! already on the blocking pool runs to its end, bounded by `limits.*`.

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Runs `next`, or answers 503 `deadline_exceeded` once `timeout` has passed.
pub async fn enforce(timeout: Duration, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(http.method = %method, http.path = %path, deadline.seconds = timeout.as_secs(), "request deadline exceeded");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "deadline_exceeded",
                format!(
                    "the request did not complete within http.request_timeout_seconds = {}; retry later",
                    timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}
