//! Sessions: a random secret in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` with the
//! `__Host-` prefix unless `ui.insecure_cookies`), stored server-side as its keyed hash with
//! the identity that signed in and the session's CSRF token. It ends at `ui.session_ttl`
//! or after `ui.idle_timeout` unused (both judged by the database's clock; use is recorded
//! at most once a minute), at sign-out, or, for a session opened with a static token, when
//! that token is revoked or expires.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::RequestId;
use portcullis_store::NewSession;

use super::UiConfig;
use super::csrf;
use super::render::UiError;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub fn session_cookie(cfg: &UiConfig) -> &'static str {
    if cfg.secure_cookies {
        "__Host-portcullis_session"
    } else {
        "portcullis_session"
    }
}

/// The pre-sign-in CSRF cookie's name (the token form's double submit).
pub fn login_csrf_cookie(cfg: &UiConfig) -> &'static str {
    if cfg.secure_cookies {
        "__Host-portcullis_login_csrf"
    } else {
        "portcullis_login_csrf"
    }
}

/// The cookie binding an OIDC sign-in in flight to the browser that started it.
pub fn oidc_cookie(cfg: &UiConfig) -> &'static str {
    if cfg.secure_cookies {
        "__Host-portcullis_oidc"
    } else {
        "portcullis_oidc"
    }
}

/// A `Set-Cookie` value: `HttpOnly`, path `/`, `Secure` unless insecure cookies are allowed.
/// `same_site` is `Strict` except for the OIDC cookie, which must survive the provider's
/// redirect back (`Lax`). `max_age` 0 deletes it.
pub fn set_cookie(
    cfg: &UiConfig,
    name: &str,
    value: &str,
    max_age: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if cfg.secure_cookies { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The value of cookie `name`, if the request carries it.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A signed-in person: who they are (as the API's `Caller`), their session's CSRF token,
/// and where the request came from (to count a refusal as the API does).
#[derive(Clone)]
pub struct UiCaller {
    /// The identity, with the request's id.
    pub caller: Caller,
    /// The token every form must carry.
    pub csrf: String,
    /// The client (peer IP), method and path of the request.
    pub origin: Origin,
}

impl std::fmt::Debug for UiCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiCaller")
            .field("caller", &self.caller)
            .field("csrf", &"<redacted>")
            .field("origin", &self.origin)
            .finish()
    }
}

/// Where a request came from, as `auth_failures` counts refusals.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client key (peer IP).
    pub client: String,
    /// The request's method.
    pub method: String,
    /// The request's path.
    pub path: String,
}

/// What the request's session cookie says.
pub enum Current {
    /// No cookie, or one that matches no session.
    None,
    /// A session that has ended (it is deleted now).
    Expired,
    /// A live session.
    Live(Box<UiCaller>),
}

/// Looks the request's session up; an ended one is deleted.
pub async fn current(state: &AppState, parts: &Parts) -> Result<Current, ApiError> {
    let Some(secret) = read_cookie(&parts.headers, session_cookie(&state.ui)) else {
        return Ok(Current::None);
    };
    let id_hash = state.keys.token_hash(secret);
    let Some(s) = state.store.find_session(&id_hash).await? else {
        return Ok(Current::None);
    };
    // A session opened with a static token lives no longer than the token.
    let token_gone = match &s.token_hash {
        Some(hash) => state.store.find_token(hash).await?.is_none(),
        None => false,
    };
    let idle = u64::try_from(s.idle_seconds).unwrap_or(0) >= state.ui.idle_timeout;
    if s.expired || idle || token_gone {
        state.store.end_session(&id_hash).await?;
        return Ok(Current::Expired);
    }
    if s.idle_seconds >= 60 {
        state.store.touch_session(&id_hash).await?;
    }
    Ok(Current::Live(Box::new(UiCaller {
        caller: Caller {
            subject: s.subject,
            issuer: s.issuer,
            roles: s.roles,
            scoped: s.scoped,
            groups: s.groups,
            request_id: parts.extensions.get::<RequestId>().cloned(),
        },
        csrf: s.csrf_token,
        origin: Origin {
            client: crate::auth_failures::client_of(&parts.extensions),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
        },
    })))
}

impl FromRequestParts<AppState> for UiCaller {
    type Rejection = Response;

    /// Pages send a visitor without a live session to the sign-in page; forms and progress
    /// polls answer 401.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let found = current(state, parts)
            .await
            .map_err(|e| UiError(e).into_response())?;
        let expired = match found {
            Current::Live(caller) => return Ok(*caller),
            Current::Expired => true,
            Current::None => false,
        };
        if parts.method == Method::GET && !parts.uri.path().ends_with("/progress") {
            let to = if expired {
                "/ui/login?expired=1"
            } else {
                "/ui/login"
            };
            let mut resp = Redirect::to(to).into_response();
            if expired {
                let name = session_cookie(&state.ui);
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(&state.ui, name, "", 0, "Strict"),
                );
            }
            return Err(resp);
        }
        Err(UiError(ApiError::unauthorized(if expired {
            "your session has expired; sign in again"
        } else {
            "sign in first"
        }))
        .into_response())
    }
}

/// Opens a session for `caller` (signed in with the static token hashing to `token_hash`,
/// if one) for `ui.session_ttl`, or less when `not_after` (seconds from now: a pasted JWT's
/// remaining life) is sooner, and returns the `Set-Cookie` header that carries it. Ended
/// sessions and abandoned sign-ins are pruned on the way (and by `services::ui_sessions::sweep`).
pub async fn open(
    state: &AppState,
    caller: &Caller,
    token_hash: Option<Vec<u8>>,
    not_after: Option<u64>,
) -> Result<HeaderValue, ApiError> {
    if let Err(e) = state.store.prune_sessions(idle_seconds(&state.ui)).await {
        tracing::warn!(error = %e, "pruning ended /ui sessions failed");
    }
    let secret = csrf::token();
    let ttl = not_after.map_or(state.ui.session_ttl, |n| n.min(state.ui.session_ttl));
    state
        .store
        .create_session(&NewSession {
            id_hash: state.keys.token_hash(&secret),
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            roles: caller.roles.clone(),
            scoped: caller.scoped.clone(),
            groups: caller.groups.clone(),
            token_hash,
            csrf_token: csrf::token(),
            ttl_seconds: i64::try_from(ttl).unwrap_or(i64::MAX),
        })
        .await?;
    tracing::info!(ui.subject = %caller.subject, ui.issuer = %caller.issuer, "signed in to /ui");
    let name = session_cookie(&state.ui);
    Ok(set_cookie(&state.ui, name, &secret, ttl, "Strict"))
}

fn idle_seconds(cfg: &UiConfig) -> i64 {
    i64::try_from(cfg.idle_timeout).unwrap_or(i64::MAX)
}

/// Ends the request's session, if any.
pub async fn close(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(secret) = read_cookie(headers, session_cookie(&state.ui)) {
        state
            .store
            .end_session(&state.keys.token_hash(secret))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(secure: bool) -> UiConfig {
        UiConfig {
            enabled: true,
            session_ttl: 60,
            idle_timeout: 1800,
            secure_cookies: secure,
            public_url: None,
            oidc: None,
        }
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_unless_allowed_otherwise() {
        let secure = cfg(true);
        let c = set_cookie(&secure, session_cookie(&secure), "abc", 60, "Strict");
        assert_eq!(
            c.to_str().unwrap(),
            "__Host-portcullis_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        let plain = cfg(false);
        let c = set_cookie(&plain, session_cookie(&plain), "abc", 0, "Strict");
        assert_eq!(
            c.to_str().unwrap(),
            "portcullis_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; portcullis_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(read_cookie(&h, "portcullis_session"), Some("xyz"));
        assert_eq!(read_cookie(&h, "portcullis"), None);
        h.insert(header::COOKIE, "portcullis_session=".parse().unwrap());
        assert_eq!(read_cookie(&h, "portcullis_session"), None);
    }
}
