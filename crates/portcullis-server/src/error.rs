//! `ApiError`: the one place where failures become RFC 9457 `application/problem+json`
//! responses with a stable machine `code`. 500s log their cause chain and show nothing of it.
//! Each service's error is mapped to its status in `domain`; `instance` is the request's
//! URN (`urn:portcullis:request:<x-request-id>`, see `request_id`).

mod admission;
mod domain;
mod replay;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<u64>,
}

/// An RFC 9457 problem: the body of every error answer (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:portcullis:problem:not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "no promotion \"0b5e3c4e-8f0a-4d55-9a4e-2f1f3c0c9a11\"",
    "code": "not_found",
    "instance": "urn:portcullis:request:01J9ZQ4X8K3M2N5P7R9T1V3W5Y"
}))]
pub struct Problem<'a> {
    /// `urn:portcullis:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    /// The HTTP status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for a person.
    detail: &'a str,
    /// What went wrong, for a program: stable, listed per response.
    code: &'a str,
    /// `urn:portcullis:request:<x-request-id>`: the request, as the server log names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
}

impl ApiError {
    /// An error with an explicit status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: <seconds>` to the response.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 503 `database_unavailable`: the database is out of reach; the client may retry.
    pub fn database_unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry later",
        )
        .with_retry_after(1)
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 409.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 500: logs `cause` with its chain, answers a generic message.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error.chain = %chain, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; see the server log",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `Retry-After` seconds, if set.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:portcullis:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            instance: crate::request_id::current()
                .map(|id| format!("{}{id}", crate::request_id::INSTANCE_PREFIX)),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        resp
    }
}

impl From<portcullis_store::Error> for ApiError {
    fn from(e: portcullis_store::Error) -> Self {
        match e {
            portcullis_store::Error::Conflict(what) => {
                Self::conflict("conflict", format!("conflict on {what}"))
            }
            e @ portcullis_store::Error::Unavailable(_) => Self::database_unavailable(&e),
            other => Self::internal(&other),
        }
    }
}
