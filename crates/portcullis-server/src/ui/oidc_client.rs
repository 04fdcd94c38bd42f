//! The OIDC client of the sign-in: the provider's discovery document (fetched once, at the
//! first sign-in, and checked: its issuer is the configured one, its endpoints https), the
//! authorization request, and the code's redemption at the token endpoint with the client
//! secret (`client_secret_basic`) and the PKCE verifier.

use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::config::UiOidcSettings;
use crate::error::ApiError;

/// What one authorization request carries besides the client's settings.
pub struct Authorization<'a> {
    /// Where the provider sends the browser back.
    pub redirect_uri: &'a str,
    /// The `state` bound to the browser.
    pub state: &'a str,
    /// The nonce the ID token must carry.
    pub nonce: &'a str,
    /// The PKCE S256 challenge of the verifier.
    pub challenge: &'a str,
}

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

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
}

impl OidcClient {
    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's authorization URL for one sign-in: code flow, PKCE S256, the nonce.
    pub async fn authorization_url(&self, a: &Authorization<'_>) -> Result<url::Url, ApiError> {
        let discovery = self.discovery().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| unavailable(format!("authorization_endpoint: {e}")))?;
        let scope = std::iter::once("openid")
            .chain(self.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", a.redirect_uri)
            .append_pair("scope", &scope)
            .append_pair("state", a.state)
            .append_pair("nonce", a.nonce)
            .append_pair("code_challenge", a.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges `code` at the token endpoint (client_secret_basic, the PKCE verifier) for
    /// the ID token; the provider's refusal is a 401.
    pub async fn redeem(
        &self,
        code: &str,
        login: &portcullis_store::OidcLogin,
    ) -> Result<String, ApiError> {
        let discovery = self.discovery().await?;
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("code_verifier", &login.verifier)
            .append_pair("client_id", &self.client_id)
            .finish();
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let resp = self
            .http
            .post(&discovery.token_endpoint)
            .basic_auth(encode(&self.client_id), Some(encode(&self.client_secret)))
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
}

/// A string claim of a JWT whose signature was already verified.
pub fn claim(jwt: &str, name: &str) -> Option<String> {
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
