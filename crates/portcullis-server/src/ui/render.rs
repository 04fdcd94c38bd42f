//! Templates (embedded with `include_str!`, autoescaped as HTML), the HTML error page, the
//! static assets and the headers every `/ui` response carries (a strict CSP: no inline
//! script or style, no framing; never cached).

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};
use serde::Serialize;

use crate::error::ApiError;

const TEMPLATES: [(&str, &str); 9] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("promotion.html", include_str!("templates/promotion.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("reviews.html", include_str!("templates/reviews.html")),
    ("error.html", include_str!("templates/error.html")),
    ("continue.html", include_str!("templates/continue.html")),
    ("macros.html", include_str!("templates/macros.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // Caught by `every_template_renders` before it ships; rendering it then fails 500.
            tracing::error!(template = name, error = %e, "a /ui template does not parse");
        }
    }
    env
});

/// A rendered page, or the HTML error page for why not.
pub type UiResult = Result<Response, UiError>;

/// Renders template `name` with `ctx` as a 200 page.
pub fn page<S: Serialize>(name: &str, ctx: S) -> UiResult {
    Ok(Html(render(name, ctx)?).into_response())
}

fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, ApiError> {
    ENV.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ApiError::internal(&e))
}

/// An error shown as the HTML error page, with the status (and machine code) the JSON API
/// would answer for it.
#[derive(Debug)]
pub struct UiError(pub ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        let ctx = context! {
            title => status.canonical_reason().unwrap_or("Error"),
            status => status.as_u16(),
            code => e.code(),
            detail => e.detail(),
            sign_in => status == StatusCode::UNAUTHORIZED,
            request_id => crate::request_id::current().map(|id| id.to_string()),
        };
        match render("error.html", ctx) {
            Ok(body) => {
                let mut resp = (status, Html(body)).into_response();
                if let Some(seconds) = e.retry_after() {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                resp
            }
            // The page itself failed: the API's answer still carries the status.
            Err(_) => e.into_response(),
        }
    }
}

/// Any other `/ui/...` path: the HTML 404 page.
pub async fn not_found() -> UiError {
    UiError(ApiError::not_found("no such page"))
}

/// `GET /ui/static/ui.css`.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("templates/ui.css"))
}

/// `GET /ui/static/progress.js`: polls a promoting copy's progress (progressive: without
/// script the page refreshes itself).
pub async fn progress_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("templates/progress.js"),
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HSTS for a year when cookies are `Secure` (the page is then served over TLS only).
const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every `/ui` response; `secure` (cookies are `Secure`, so
/// the page is reached over TLS) adds `Strict-Transport-Security`.
pub async fn headers(secure: bool, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    add_headers(secure, resp.headers_mut());
    resp
}

/// The security headers of a `/ui` response (also for pages answered before routing, such
/// as the sign-in's rate limit).
pub fn add_headers(secure: bool, h: &mut axum::http::HeaderMap) {
    if secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// The API's request deadline (`http.request_timeout_seconds`) for pages: past it, the
/// request is dropped (rolling back what it had open) and the error page answers 503.
pub async fn deadline(timeout: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => UiError(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded",
            format!(
                "the page did not complete within http.request_timeout_seconds = {}; retry later",
                timeout.as_secs()
            ),
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            ENV.get_template(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_error_page_escapes_what_it_shows() {
        let html = render(
            "error.html",
            context! { title => "Not Found", status => 404, code => "not_found",
            detail => "<script>alert(1)</script>", sign_in => false },
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
