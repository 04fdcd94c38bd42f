//! Sign-in with OIDC: the authorization code flow with PKCE (S256), a nonce, and a `state`
//! bound to the browser that started it. The ID token the provider returns is verified and
//! mapped to roles by the same `auth.oidc[]` issuer that verifies JWT bearer tokens (its
//! audience is this client's id), so a person has the same identity in the page and the API.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::oidc_client::{Authorization, OidcClient, claim};
use super::render::{UiResult, page};
use super::{csrf, session};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a sign-in may take between the redirect and the provider's answer.
const LOGIN_TTL_SECONDS: i64 = 600;

fn client(state: &AppState) -> Result<&OidcClient, ApiError> {
    state
        .ui
        .oidc
        .as_ref()
        .ok_or_else(|| ApiError::not_found("sign-in with OIDC is not configured"))
}

/// Where the provider sends the browser back to.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(base) = &state.ui.public_url {
        return Ok(format!("{base}/ui/oidc/callback"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request("bad_request", "the request has no Host"))?;
    let scheme = if state.ui.secure_cookies {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}/ui/oidc/callback"))
}

/// `GET /ui/oidc/start`: stores the PKCE verifier and nonce, binds the sign-in to this
/// browser with a cookie, and sends the browser to the provider.
pub async fn start(State(state): State<AppState>, headers: HeaderMap) -> UiResult {
    let oidc = client(&state)?;
    let (flow, nonce, verifier, browser) =
        (csrf::token(), csrf::token(), csrf::token(), csrf::token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = redirect_uri(&state, &headers)?;
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

/// The provider's answer (`?code=&state=`, or `?error=`); other parameters are ignored.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /ui/oidc/callback`: redeems the code with the verifier and the client secret,
/// verifies the ID token (signature, issuer, audience, expiry, nonce) and opens a session.
pub async fn callback(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<Callback>,
) -> UiResult {
    let oidc = client(&state)?;
    let refused = |detail: String| ApiError::unauthorized(format!("sign-in refused: {detail}"));
    if let Some(error) = &q.error {
        let why = q.error_description.as_deref().unwrap_or_default();
        return Err(refused(format!("the provider answered {error} {why}")).into());
    }
    let (Some(code), Some(flow)) = (&q.code, &q.state) else {
        return Err(ApiError::bad_request("bad_request", "code and state are required").into());
    };
    let login = state
        .store
        .take_oidc_login(&state.keys.token_hash(flow))
        .await?
        .ok_or_else(|| refused("this sign-in expired or was already used; start again".into()))?;
    let browser = session::read_cookie(&parts.headers, session::oidc_cookie(&state.ui))
        .map(|b| hex::encode(state.keys.token_hash(b)))
        .unwrap_or_default();
    if !csrf::same(&browser, &hex::encode(&login.browser_hash)) {
        return Err(refused("the sign-in was started in another browser".into()).into());
    }
    let id_token = oidc.redeem(code, &login).await?;
    let id = state
        .oidc
        .authenticate(&id_token)
        .await
        .map_err(|e| refused(format!("the ID token is not valid: {e}")))?;
    if id.issuer != oidc.issuer() || claim(&id_token, "nonce").as_deref() != Some(&login.nonce) {
        return Err(refused("the ID token is not the answer to this sign-in".into()).into());
    }
    let caller = Caller::from_oidc(id, parts.extensions.get().cloned())?;
    if caller.roles.is_empty() {
        return Err(ApiError::forbidden(
            "forbidden",
            format!("{} holds no role at the gate", caller.subject),
        )
        .into());
    }
    session::close(&state, &parts.headers).await?;
    let cookie = session::open(&state, &caller, None, None).await?;
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
