//! The approver web page (`/ui`): server-rendered HTML over the same services the JSON API
//! uses (a vote here is `services::approvals::vote`, audited alike), for people who would
//! otherwise use curl.
//!
//! Layers as everywhere: `pages`, `actions` and `oidc` are handlers (extract, call one
//! service, render); `summary` shapes what a service returned for a template; `session`,
//! `csrf` and `oidc_client` sign people in and keep them so; `render` owns the templates,
//! the HTML error page and the response headers. Nothing here speaks SQL.
//!
//! Sessions are kept server-side in Postgres (migration 0018), not in signed cookies: a
//! sign-out or an expired session ends at once on every replica, a session opened with a
//! static token ends when that token is revoked, and the cookie carries only a random id
//! (stored as a keyed hash) that reveals nothing.

mod actions;
mod csrf;
mod extract;
mod oidc;
mod oidc_client;
mod pages;
mod render;
mod session;
mod summary;

use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::config::UiSettings;
use crate::state::AppState;

pub use oidc_client::OidcClient;
pub use render::{UiError, add_headers};
pub use session::UiCaller;

/// The web page's settings, loaded once at start-up.
#[derive(Debug)]
pub struct UiConfig {
    /// Whether `/ui` is served.
    pub enabled: bool,
    /// Session lifetime in seconds.
    pub session_ttl: u64,
    /// Seconds a session may go unused before it ends.
    pub idle_timeout: u64,
    /// Whether cookies carry `Secure` (and the `__Host-` prefix).
    pub secure_cookies: bool,
    /// Where people reach the gate, for the OIDC redirect URI.
    pub public_url: Option<String>,
    /// The OIDC client, when sign-in with OIDC is configured.
    pub oidc: Option<OidcClient>,
}

impl UiConfig {
    /// Builds the settings and the OIDC client (reading its secret, and trusting the
    /// `ca_file` of the `auth.oidc[]` issuer it signs in with); the provider's discovery
    /// document is fetched at the first sign-in.
    pub fn load(
        settings: &UiSettings,
        issuers: &[crate::oidc::OidcIssuer],
    ) -> Result<Self, String> {
        let oidc = settings
            .oidc
            .as_ref()
            .map(|cfg| {
                let ca_file = issuers
                    .iter()
                    .find(|i| i.issuer == cfg.issuer)
                    .and_then(|i| i.ca_file.as_deref());
                OidcClient::load(cfg, ca_file)
            })
            .transpose()
            .map_err(|e| format!("ui.oidc: {e}"))?;
        Ok(Self {
            enabled: settings.enabled,
            session_ttl: settings.session_ttl,
            idle_timeout: settings.idle_timeout,
            secure_cookies: !settings.insecure_cookies,
            public_url: settings
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            oidc,
        })
    }
}

/// The `/ui` routes (none when `ui.enabled` is false). Each request keeps the API's request
/// deadline (answered with the HTML error page) and the global body limit.
pub fn router(state: &AppState, request_timeout: Duration) -> Router<AppState> {
    if !state.ui.enabled {
        return Router::new();
    }
    let routes = Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/login", get(actions::login_form).post(actions::login))
        .route("/ui/logout", post(actions::logout))
        .route("/ui/oidc/start", get(oidc::start))
        .route("/ui/oidc/callback", get(oidc::callback))
        .route("/ui/promotions/{id}", get(pages::promotion))
        .route("/ui/promotions/{id}/progress", get(pages::progress))
        .route("/ui/promotions/{id}/vote", post(actions::vote))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/reviews", get(pages::reviews))
        .route("/ui/reviews/{id}/acknowledge", post(actions::acknowledge))
        .route("/ui/static/ui.css", get(render::stylesheet))
        .route("/ui/static/progress.js", get(render::progress_script))
        .route(
            "/ui/{*rest}",
            get(render::not_found).post(render::not_found),
        );
    with_page_layers(routes, request_timeout, state.ui.secure_cookies)
}

/// The deadline inside the security headers, so the deadline's 503 page carries them too
/// (the last layer added runs first).
fn with_page_layers<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    request_timeout: Duration,
    secure: bool,
) -> Router<S> {
    routes
        .layer(middleware::from_fn(
            move |req: axum::extract::Request, next: middleware::Next| {
                render::deadline(request_timeout, req, next)
            },
        ))
        .layer(middleware::from_fn(
            move |req: axum::extract::Request, next: middleware::Next| {
                render::headers(secure, req, next)
            },
        ))
}

#[cfg(test)]
mod tests;
