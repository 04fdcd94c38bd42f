//! Sign-in with OIDC: the authorization code flow with PKCE (S256), a nonce, and a `state`
//! bound to the browser that started it. The ID token the provider returns is verified and
//! mapped to roles by the same `auth.oidc[]` issuer that verifies JWT bearer tokens (its
//! audience is this client's id), so a person has the same identity in the page and the API.
//! The redirect URI is made from `ui.public_url` only (never the request's `Host`); at most
//! `MAX_LOGINS_IN_FLIGHT` sign-ins wait for the provider at once; a refused callback is
//! counted in `auth_failures` like a refused token, and shows only a fixed message.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::oidc_client::{Authorization, OidcClient, claim};
use super::render::{UiResult, page};
use super::{csrf, session};
use crate::auth::Caller;
use crate::auth_failures::Reason;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a sign-in may take between the redirect and the provider's answer.
const LOGIN_TTL_SECONDS: i64 = 600;
/// The most sign-ins waiting for the provider at once; past it `/ui/oidc/start` answers
/// 503, so anonymous redirects cannot grow the table without bound.
pub const MAX_LOGINS_IN_FLIGHT: i64 = 10_000;

fn client(state: &AppState) -> Result<&OidcClient, ApiError> {
    state
        .ui
        .oidc
        .as_ref()
        .ok_or_else(|| ApiError::not_found("sign-in with OIDC is not configured"))
}

/// Where the provider sends the browser back to: from `ui.public_url` (required with
/// `ui.oidc` by the config's validation), never from the request.
fn redirect_uri(state: &AppState) -> Result<String, ApiError> {
    let base = state.ui.public_url.as_ref().ok_or_else(|| {
        ApiError::not_found("sign-in with OIDC needs ui.public_url, which is not configured")
    })?;
    Ok(format!("{base}/ui/oidc/callback"))
}

/// `GET /ui/oidc/start`: stores the PKCE verifier and nonce, binds the sign-in to this
/// browser with a cookie, and sends the browser to the provider.
pub async fn start(State(state): State<AppState>) -> UiResult {
    let oidc = client(&state)?;
    if state.store.count_oidc_logins().await? >= MAX_LOGINS_IN_FLIGHT {
        tracing::warn!(
            ui.max_logins = MAX_LOGINS_IN_FLIGHT,
            "too many OIDC sign-ins in flight"
        );
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_sign_ins",
            "too many sign-ins are in progress; retry in a minute",
        )
        .with_retry_after(60)
        .into());
    }
    let (flow, nonce, verifier, browser) =
        (csrf::token(), csrf::token(), csrf::token(), csrf::token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = redirect_uri(&state)?;
    let url = oidc
        .authorization_url(&Authorization {
            redirect_uri: &redirect,
            state: &flow,
            nonce: &nonce,
            challenge: &challenge,
        })
        .await?;
    state
        .store
        .create_oidc_login(
            &portcullis_store::OidcLogin {
                state_hash: state.keys.token_hash(&flow),
                browser_hash: state.keys.token_hash(&browser),
                verifier,
                nonce,
                redirect_uri: redirect,
            },
            LOGIN_TTL_SECONDS,
        )
        .await?;
    let mut resp = Redirect::to(url.as_str()).into_response();
    // Lax: the provider's redirect back is a cross-site navigation.
    let cookie = session::set_cookie(
        &state.ui,
        session::oidc_cookie(&state.ui),
        &browser,
        LOGIN_TTL_SECONDS as u64,
        "Lax",
    );
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// The provider's answer (`?code=&state=`, or `?error=`); other parameters, and
/// `error_description` (text anyone can put in a link), are ignored. Its `Debug` hides the
/// code and the state.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Callback")
            .field("code", &hidden(&self.code))
            .field("state", &hidden(&self.state))
            .field("error", &self.error.as_deref().map(error_code))
            .finish()
    }
}

/// The error codes an authorization endpoint may answer (RFC 6749 §4.1.2.1, and OpenID
/// Connect Core §3.1.2.6); anything else is shown as `unknown_error`.
const ERROR_CODES: [&str; 16] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
];

/// The provider's `error`, if it is one a provider may answer; else `unknown_error`.
fn error_code(error: &str) -> &'static str {
    ERROR_CODES
        .iter()
        .find(|c| **c == error)
        .copied()
        .unwrap_or("unknown_error")
}

/// `GET /ui/oidc/callback`: redeems the code with the verifier and the client secret,
/// verifies the ID token (signature, issuer, audience, expiry, nonce) and opens a session.
/// A refusal (401) is counted like a refused token.
pub async fn callback(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<Callback>,
) -> UiResult {
    let result = sign_in(&state, &parts, &q).await;
    if let Err(e) = &result
        && e.0.status() == StatusCode::UNAUTHORIZED
    {
        crate::auth::record_refusal(&state, "anonymous", &parts, Reason::InvalidToken);
    }
    result
}

fn refused(why: &str) -> ApiError {
    ApiError::unauthorized(format!("sign-in refused: {why}"))
}

async fn sign_in(state: &AppState, parts: &Parts, q: &Callback) -> UiResult {
    let oidc = client(state)?;
    if let Some(error) = &q.error {
        let code = error_code(error);
        tracing::info!(oidc.error = code, "the OIDC provider refused a sign-in");
        return Err(refused(&format!(
            "the sign-in provider did not sign you in (error {code}); start again"
        ))
        .into());
    }
    let (Some(code), Some(flow)) = (&q.code, &q.state) else {
        return Err(ApiError::bad_request("bad_request", "code and state are required").into());
    };
    let browser = session::read_cookie(&parts.headers, session::oidc_cookie(&state.ui))
        .map(|b| state.keys.token_hash(b))
        .unwrap_or_default();
    // Only the browser that started the sign-in can take it: a `state` replayed elsewhere
    // neither succeeds nor spends the real sign-in.
    let login = state
        .store
        .take_oidc_login(&state.keys.token_hash(flow), &browser)
        .await?
        .ok_or_else(|| {
            refused(
                "this sign-in expired, was already used, or was started in another browser; \
                 start again",
            )
        })?;
    let id_token = oidc.redeem(code, &login).await?;
    let id = state.oidc.authenticate(&id_token).await.map_err(|e| {
        tracing::warn!(error = %e, "the OIDC provider's ID token was refused");
        refused("the sign-in provider's answer could not be verified")
    })?;
    if id.issuer != oidc.issuer() || claim(&id_token, "nonce").as_deref() != Some(&login.nonce) {
        return Err(refused("the ID token is not the answer to this sign-in").into());
    }
    let caller = Caller::from_oidc(id, parts.extensions.get().cloned())?;
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden(
            "forbidden",
            format!("{} holds no role at the gate", caller.subject),
        )
        .into());
    }
    session::close(state, &parts.headers).await?;
    let cookie = session::open(state, &caller, None, None).await?;
    // A page, not a redirect: the navigation to /ui then starts here (same-site), so the
    // SameSite=Strict session cookie is sent with it.
    let mut resp = page(
        "continue.html",
        minijinja::context! { title => "Signed in" },
    )?;
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    let name = session::oidc_cookie(&state.ui);
    h.append(
        header::SET_COOKIE,
        session::set_cookie(&state.ui, name, "", 0, "Lax"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_error_codes_are_shown() {
        assert_eq!(error_code("access_denied"), "access_denied");
        assert_eq!(error_code("login_required"), "login_required");
        assert_eq!(error_code("<script>"), "unknown_error");
        assert_eq!(
            error_code("access_denied please call +1 555"),
            "unknown_error"
        );
    }

    #[test]
    fn the_callbacks_debug_hides_code_and_state() {
        let q = Callback {
            code: Some("CODE-SECRET".into()),
            state: Some("STATE-SECRET".into()),
            error: Some("evil text".into()),
        };
        let text = format!("{q:?}");
        assert!(!text.contains("SECRET") && !text.contains("evil"), "{text}");
        assert!(text.contains("unknown_error"), "{text}");
    }
}
