//! `ApiError`: the one place where failures become RFC 9457 `application/problem+json`
//! responses with a stable machine `code`. 500s log their cause chain and show nothing of it.

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

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
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

    /// 422 `evidence_too_large`: evidence past a configured bound, which the detail names
    /// after `context` (the document, or what the attestations added).
    pub fn evidence_too_large(
        context: impl std::fmt::Display,
        exceeded: &portcullis_evidence::LimitExceeded,
    ) -> Self {
        Self::unprocessable("evidence_too_large", format!("{context}: {exceeded}"))
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

impl ApiError {
    /// A failure of the `end` (`source` or `destination`) registry while serving a request:
    /// a hung registry is 504 `registry_timeout`, naming the registry and the operation;
    /// any other registry failure 502 `registry_unavailable`.
    pub fn registry(end: &str, e: portcullis_registry::Error) -> Self {
        match e {
            portcullis_registry::Error::Timeout { .. } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "registry_timeout",
                format!("the {end} {e}"),
            ),
            other => Self::new(
                StatusCode::BAD_GATEWAY,
                "registry_unavailable",
                format!("the {end} registry could not be read: {other}"),
            ),
        }
    }
}

impl From<portcullis_registry::Error> for ApiError {
    fn from(e: portcullis_registry::Error) -> Self {
        match e {
            portcullis_registry::Error::NotFound { .. } => Self::unprocessable(
                "source_not_found",
                format!("the source image does not exist: {e}"),
            ),
            portcullis_registry::Error::TagExists { .. } => {
                Self::conflict("tag_exists", e.to_string())
            }
            other => Self::registry("source", other),
        }
    }
}
