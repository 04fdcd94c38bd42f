//! Sign-in with OIDC: the authorization code flow with PKCE (S256), a nonce, and a `state`
//! bound to the browser that started it. The ID token the provider returns is verified and
//! mapped to roles by the same `auth.oidc[]` issuer that verifies JWT bearer tokens (its
//! audience is this client's id), so a person has the same identity in the page and the API.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use super::render::{UiResult, page};
use super::{csrf, session};
use crate::auth::Caller;
use crate::config::UiOidcSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a sign-in may take between the redirect and the provider's answer.
const LOGIN_TTL_SECONDS: i64 = 600;
/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The configured OIDC client.
pub struct OidcClient {
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    http: reqwest::Client,
    discovery: OnceCell<Discovery>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"****")
            .finish()
    }
}

impl OidcClient {
    /// Reads the client secret and builds the HTTP client (no redirects followed).
    pub fn load(cfg: &UiOidcSettings) -> Result<Self, String> {
        let path = &cfg.client_secret_file;
        let secret = std::fs::read_to_string(path)
            .map_err(|e| format!("client_secret_file {}: {e}", path.display()))?
            .trim()
            .to_owned();
        if secret.is_empty() {
            return Err(format!("client_secret_file {} is empty", path.display()));
        }
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            issuer: cfg.issuer.trim_end_matches('/').to_owned(),
            client_id: cfg.client_id.clone(),
            client_secret: secret,
            scopes: cfg.scopes.clone(),
            http,
            discovery: OnceCell::new(),
        })
    }

    async fn discovery(&self) -> Result<&Discovery, ApiError> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let doc: Discovery = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| unavailable(format!("fetching {url}: {e}")))?
                    .json()
                    .await
                    .map_err(|e| unavailable(format!("reading {url}: {e}")))?;
                if doc.issuer.trim_end_matches('/') != self.issuer {
                    return Err(unavailable(format!(
                        "the discovery document names issuer {:?}, not {:?}",
                        doc.issuer, self.issuer
                    )));
                }
                for endpoint in [&doc.authorization_endpoint, &doc.token_endpoint] {
                    if !crate::config::https_or_loopback(endpoint) {
                        return Err(unavailable(format!("endpoint {endpoint:?} is not https")));
                    }
                }
                Ok(doc)
            })
            .await
    }
}

fn unavailable(detail: String) -> ApiError {
    tracing::warn!(error = %detail, "OIDC provider unavailable");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "oidc_unavailable",
        format!("the sign-in provider could not be used: {detail}"),
    )
}

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
    let discovery = oidc.discovery().await?;
    let (flow, nonce, verifier, browser) =
        (csrf::token(), csrf::token(), csrf::token(), csrf::token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = redirect_uri(&state, &headers)?;
    state
        .store
        .create_oidc_login(
            &portcullis_store::OidcLogin {
                state_hash: state.keys.token_hash(&flow),
                browser_hash: state.keys.token_hash(&browser),
                verifier,
                nonce: nonce.clone(),
                redirect_uri: redirect.clone(),
            },
            LOGIN_TTL_SECONDS,
        )
        .await?;
    let mut url = url::Url::parse(&discovery.authorization_endpoint)
        .map_err(|e| unavailable(format!("authorization_endpoint: {e}")))?;
    let scope = std::iter::once("openid")
        .chain(oidc.scopes.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", &scope)
        .append_pair("state", &flow)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
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

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
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
    let id_token = redeem(oidc, code, &login).await?;
    let id = state
        .oidc
        .authenticate(&id_token)
        .await
        .map_err(|e| refused(format!("the ID token is not valid: {e}")))?;
    if id.issuer != oidc.issuer || claim(&id_token, "nonce").as_deref() != Some(&login.nonce) {
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

/// Exchanges `code` at the token endpoint (client_secret_basic) for the ID token.
async fn redeem(
    oidc: &OidcClient,
    code: &str,
    login: &portcullis_store::OidcLogin,
) -> Result<String, ApiError> {
    let discovery = oidc.discovery().await?;
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &login.redirect_uri)
        .append_pair("code_verifier", &login.verifier)
        .append_pair("client_id", &oidc.client_id)
        .finish();
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let resp = oidc
        .http
        .post(&discovery.token_endpoint)
        .basic_auth(encode(&oidc.client_id), Some(encode(&oidc.client_secret)))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| unavailable(format!("token endpoint: {e}")))?;
    let status = resp.status();
    let answer: TokenAnswer = resp
        .json()
        .await
        .map_err(|e| unavailable(format!("token endpoint answer: {e}")))?;
    match (status.is_success(), answer.id_token) {
        (true, Some(token)) => Ok(token),
        _ => Err(ApiError::unauthorized(format!(
            "sign-in refused: the token endpoint answered {status} {}",
            answer.error.unwrap_or_default()
        ))),
    }
}

/// A string claim of a JWT whose signature was already verified.
fn claim(jwt: &str, name: &str) -> Option<String> {
    claims(jwt)?.get(name)?.as_str().map(str::to_owned)
}

/// The claims of a JWT whose signature was already verified.
fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Seconds until a verified JWT's `exp` (0 when past).
pub fn remaining_life(jwt: &str) -> Option<u64> {
    let exp = claims(jwt)?.get("exp")?.as_i64()?;
    Some(u64::try_from(exp.saturating_sub(chrono::Utc::now().timestamp())).unwrap_or(0))
}
