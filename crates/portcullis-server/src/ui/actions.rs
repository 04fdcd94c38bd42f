//! The page's forms: sign in with a token, sign out, vote, acknowledge a break-glass review.
//! Each checks the CSRF token first (nothing is read or written for a forged form), then
//! calls the same service the JSON API calls, and answers with a redirect (post/redirect/get)
//! or the HTML error page with the API's status.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use portcullis_core::{TextKind, Verdict};
use serde::Deserialize;

use super::csrf;
use super::extract::{UiForm, UiQuery};
use super::render::{UiError, UiResult, page};
use super::session::{self, Current, UiCaller};
use crate::auth::{Caller, roles};
use crate::auth_failures::Reason;
use crate::error::ApiError;
use crate::extract::check_field;
use crate::handlers::promotions::parse_id;
use crate::services::{approvals, break_glass};
use crate::state::AppState;

/// How long the sign-in form's CSRF cookie lives.
const LOGIN_FORM_SECONDS: u64 = 900;
/// Longest token the sign-in form takes (a JWT with many claims fits easily).
pub const MAX_TOKEN: usize = 8 * 1024;
/// Longest vote comment and review note a form may send (as the API).
const MAX_COMMENT: usize = 4096;
const MAX_NOTE: usize = 2000;

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Set when a session just ended.
    expired: Option<String>,
}

/// `GET /ui/login`: the sign-in page (token form, and the OIDC button when configured).
pub async fn login_form(
    State(state): State<AppState>,
    parts: Parts,
    UiQuery(q): UiQuery<LoginQuery>,
) -> UiResult {
    if let Current::Live(_) = session::current(&state, &parts).await? {
        return Ok(Redirect::to("/ui").into_response());
    }
    let message = q
        .expired
        .is_some()
        .then_some("Your session has expired. Sign in again.");
    login_page(&state, StatusCode::OK, message, None)
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    message: Option<&str>,
    error: Option<&str>,
) -> UiResult {
    let token = csrf::token();
    let mut resp = page(
        "login.html",
        context! {
            title => "Sign in",
            csrf => token,
            oidc => state.ui.oidc.is_some(),
            message => message,
            error => error,
        },
    )?;
    *resp.status_mut() = status;
    let name = session::login_csrf_cookie(&state.ui);
    let cookie = session::set_cookie(&state.ui, name, &token, LOGIN_FORM_SECONDS, "Strict");
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// The token sign-in form (its `Debug` hides the token and the CSRF token).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("csrf", &"<redacted>")
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .finish()
    }
}

/// `POST /ui/login`: signs in with an API token (static, or a JWT from a trusted issuer).
pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    UiForm(form): UiForm<LoginForm>,
) -> UiResult {
    let expected = session::read_cookie(&parts.headers, session::login_csrf_cookie(&state.ui))
        .unwrap_or_default();
    csrf::check(&parts.headers, &form.csrf, expected)?;
    let token = form.token.trim();
    if token.len() > MAX_TOKEN {
        return login_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("That token is too long (at most 8 KiB): paste the token alone."),
        );
    }
    if token.is_empty() {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            None,
            Some("Enter a token."),
        );
    }
    let caller = match Caller::from_token(&state, token, &parts).await {
        Ok(c) => c,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            return login_page(&state, StatusCode::UNAUTHORIZED, None, Some(e.detail()));
        }
        Err(e) => return Err(e.into()),
    };
    // A static token's session ends with the token; a JWT's no later than the JWT.
    let static_token = !crate::oidc::looks_like_jwt(token) || state.oidc.is_empty();
    let token_hash = static_token.then(|| state.keys.token_hash(token));
    let not_after = if static_token {
        None
    } else {
        Some(
            super::oidc_client::remaining_life(token)
                .unwrap_or(0)
                .max(1),
        )
    };
    // A fresh session id at every sign-in; one this browser held before ends now.
    session::close(&state, &parts.headers).await?;
    let cookie = session::open(&state, &caller, token_hash, not_after).await?;
    let mut resp = Redirect::to("/ui").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    let name = session::login_csrf_cookie(&state.ui);
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state.ui, name, "", 0, "Strict"),
    );
    Ok(resp)
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/logout`: ends the session.
pub async fn logout(
    State(state): State<AppState>,
    me: UiCaller,
    headers: HeaderMap,
    UiForm(form): UiForm<CsrfOnly>,
) -> UiResult {
    csrf::check(&headers, &form.csrf, &me.csrf)?;
    session::close(&state, &headers).await?;
    tracing::info!(ui.subject = %me.caller.subject, "signed out of /ui");
    let mut resp = Redirect::to("/ui/login").into_response();
    let name = session::session_cookie(&state.ui);
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state.ui, name, "", 0, "Strict"),
    );
    Ok(resp)
}

/// The vote form: the verdict, a comment, and the evidence hash the page showed.
#[derive(Debug, Deserialize)]
pub struct VoteForm {
    #[serde(default)]
    csrf: String,
    verdict: Verdict,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    evidence_hash: String,
}

/// Refuses a caller none of whose roles is in `mask`, and counts the refusal in
/// `auth_failures` (`role_not_allowed`), as `Authorized` does for the API.
pub fn require(state: &AppState, me: &UiCaller, mask: u8, what: &str) -> Result<(), ApiError> {
    if me.caller.holds(mask) {
        return Ok(());
    }
    state.auth_failures.record(
        &me.origin.client,
        &me.caller.subject,
        &me.origin.method,
        &me.origin.path,
        Reason::RoleNotAllowed,
    );
    let held: Vec<&str> = me.caller.roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::forbidden(
        "forbidden",
        format!("role {} may not {what}", held.join(", ")),
    ))
}

/// `POST /ui/promotions/{id}/vote`: `services::approvals::vote`, bound to the evidence hash
/// shown.
pub async fn vote(
    State(state): State<AppState>,
    me: UiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    UiForm(form): UiForm<VoteForm>,
) -> Result<Response, UiError> {
    csrf::check(&headers, &form.csrf, &me.csrf)?;
    require(&state, &me, roles::VOTERS, "vote")?;
    let id = parse_id(&id)?;
    check_text("comment", &form.comment, MAX_COMMENT)?;
    let hash = form.evidence_hash.to_ascii_lowercase();
    let well_formed = hash
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(ApiError::unprocessable(
            "invalid_evidence_hash",
            "the form's evidence_hash must be the sha256:<64 hex digits> the page showed",
        )
        .into());
    }
    approvals::vote(&state, &me.caller, id, form.verdict, &form.comment, &hash).await?;
    let to = format!("/ui/promotions/{id}?voted={}", form.verdict.as_str());
    Ok(Redirect::to(&to).into_response())
}

/// The API's checks of free text: no control or bidi characters, at most `max` bytes.
fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), ApiError> {
    let code = if field == "note" {
        "invalid_note"
    } else {
        "invalid_comment"
    };
    check_field(code, field, text, TextKind::Prose)?;
    if text.len() > max {
        return Err(ApiError::unprocessable(
            code,
            format!("the {field} is longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// The acknowledgement form.
#[derive(Debug, Deserialize)]
pub struct AcknowledgeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /ui/reviews/{id}/acknowledge` (auditor): `services::break_glass::acknowledge`.
pub async fn acknowledge(
    State(state): State<AppState>,
    me: UiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    UiForm(form): UiForm<AcknowledgeForm>,
) -> UiResult {
    csrf::check(&headers, &form.csrf, &me.csrf)?;
    require(&state, &me, roles::AUDITOR, "acknowledge reviews")?;
    let id =
        uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found(format!("no review {id:?}")))?;
    check_text("note", &form.note, MAX_NOTE)?;
    break_glass::acknowledge(&state, &me.caller, id, &form.note).await?;
    Ok(Redirect::to("/ui/reviews").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_forms_debug_hides_the_token() {
        let form = LoginForm {
            csrf: "CSRF-SECRET".into(),
            token: "pct_SECRET".into(),
        };
        let text = format!("{form:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("10 bytes"), "{text}");
    }
}
