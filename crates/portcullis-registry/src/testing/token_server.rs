//! A tiny Docker token server (the `realm` of a `WWW-Authenticate: Bearer …` challenge) for
//! `TestRegistry::start_with_token_auth`: it checks HTTP basic credentials and issues ES256
//! JWTs that Distribution 2.8 accepts — signed by a P-256 key whose self-signed certificate
//! is the registry's `rootcertbundle` and travels in the `x5c` header. Anonymous requests
//! get a token with no access (as Docker Hub does); wrong credentials get a 401. Every
//! request is recorded (user and scopes, never the password) for tests to inspect.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use tokio::task::JoinHandle;

/// The `service` the registry announces and expects as the token audience.
pub const TOKEN_SERVICE: &str = "portcullis-test";
/// The `iss` the registry expects.
pub const TOKEN_ISSUER: &str = "portcullis-test-issuer";
/// Lifetime of an issued token.
const TOKEN_TTL_SECS: u64 = 300;

/// One request the token server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The basic-auth user name sent, if any.
    pub username: Option<String>,
    /// The `service` query parameter.
    pub service: Option<String>,
    /// Every `scope` requested (space-separated scopes split apart), in order.
    pub scopes: Vec<String>,
    /// Whether a token was issued (false: wrong credentials, answered 401).
    pub issued: bool,
    /// Whether the token grants the requested access (only with the right credentials).
    pub granted: bool,
}

struct Shared {
    username: String,
    password: String,
    key: EcdsaKeyPair,
    /// Standard base64 of the certificate's DER, for the `x5c` header.
    cert_b64: String,
    requests: Mutex<Vec<TokenRequest>>,
    jti: AtomicU64,
}

/// A running token server on `127.0.0.1:<port>`; stops on drop.
pub struct TokenServer {
    /// `http://127.0.0.1:<port>/token`.
    pub realm: String,
    /// PEM of the self-signed signing certificate (the registry's `rootcertbundle`).
    pub root_cert_pem: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm)
            .field("username", &self.shared.username)
            .finish_non_exhaustive()
    }
}

impl TokenServer {
    /// Starts a token server accepting `user`/`pass`, with a fresh signing key.
    pub async fn start(user: &str, pass: &str) -> io::Result<Self> {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(io::Error::other)?;
        let mut params = rcgen::CertificateParams::new(vec!["portcullis-test-token".to_owned()])
            .map_err(io::Error::other)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "portcullis test token signer");
        let cert = params.self_signed(&key_pair).map_err(io::Error::other)?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der())
                .map_err(|e| io::Error::other(format!("loading the signing key: {e}")))?;
        let shared = Arc::new(Shared {
            username: user.to_owned(),
            password: pass.to_owned(),
            key,
            cert_b64: STANDARD.encode(cert.der()),
            requests: Mutex::new(Vec::new()),
            jti: AtomicU64::new(0),
        });
        let listener = bind_loopback().await?;
        let port = listener.local_addr()?.port();
        let app = Router::new()
            .route("/token", get(token))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            realm: format!("http://127.0.0.1:{port}/token"),
            root_cert_pem: cert.pem(),
            shared,
            task,
        })
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The distinct scopes of requests that were granted, sorted.
    pub fn granted_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .requests()
            .into_iter()
            .filter(|r| r.granted)
            .flat_map(|r| r.scopes)
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener on a free loopback port, never one of 5000-5003.
async fn bind_loopback() -> io::Result<tokio::net::TcpListener> {
    loop {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        if !(5000..=5003).contains(&listener.local_addr()?.port()) {
            return Ok(listener);
        }
    }
}

/// `Authorization: Basic …` → (user, password).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let mut service = None;
    let mut scopes = Vec::new();
    if let Some(query) = query {
        for (k, v) in reqwest::Url::parse(&format!("http://token/?{query}"))
            .map(|u| u.query_pairs().into_owned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            match k.as_str() {
                "service" => service = Some(v),
                "scope" => scopes.extend(v.split_whitespace().map(str::to_owned)),
                _ => {}
            }
        }
    }
    let credentials = basic_credentials(&headers);
    let username = credentials.as_ref().map(|(u, _)| u.clone());
    let (issued, granted) = match &credentials {
        None => (true, false),
        Some((u, p)) if *u == shared.username && *p == shared.password => (true, true),
        Some(_) => (false, false),
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(TokenRequest {
            username: username.clone(),
            service,
            scopes: scopes.clone(),
            issued,
            granted,
        });
    if !issued {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"portcullis-test\"")],
            axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})),
        )
            .into_response();
    }
    let access: Vec<serde_json::Value> = if granted {
        scopes.iter().filter_map(|s| access_entry(s)).collect()
    } else {
        Vec::new()
    };
    match sign(&shared, username.as_deref().unwrap_or(""), access) {
        Ok(token) => axum::Json(json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_TTL_SECS,
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// `repository:team/app:pull,push` → `{"type":"repository","name":"team/app","actions":[…]}`.
fn access_entry(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(json!({"type": kind, "name": name, "actions": actions}))
}

/// An ES256 JWT for `sub` with `access`, its certificate in `x5c`.
fn sign(shared: &Shared, sub: &str, access: Vec<serde_json::Value>) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [shared.cert_b64]});
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": sub,
        "aud": TOKEN_SERVICE,
        "exp": now + TOKEN_TTL_SECS,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("portcullis-{now}-{}", shared.jti.fetch_add(1, Ordering::Relaxed)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = shared
        .key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .map_err(|e| format!("signing the token: {e}"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}
