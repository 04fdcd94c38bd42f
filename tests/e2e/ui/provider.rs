//! A test OIDC provider on a loopback port: discovery, a JWKS, an authorize endpoint that
//! signs the configured person in at once and redirects back with a code, and a token
//! endpoint that redeems a code only with the client secret (HTTP Basic), the same
//! redirect URI and the PKCE verifier whose S256 hash is the challenge. ID tokens are ES256
//! JWTs from the testkit's `JwtIssuer`, carrying the nonce the authorize request sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_testkit::jwt::JwtIssuer;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const CLIENT_ID: &str = "portcullis-ui";
pub const CLIENT_SECRET: &str = "s3cret-for-the-ui-client";

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

#[derive(Default)]
pub struct Counters {
    /// Codes redeemed.
    pub redeemed: usize,
    /// Token requests refused, by reason.
    pub refused: Vec<String>,
}

struct Inner {
    issuer: String,
    jwt: JwtIssuer,
    /// Who the authorize endpoint signs in: (sub, groups).
    person: (String, Vec<String>),
    grants: HashMap<String, Grant>,
    counters: Counters,
}

#[derive(Clone)]
pub struct Provider {
    inner: Arc<Mutex<Inner>>,
    pub issuer: String,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Provider {
    /// Starts the provider; it signs in `sub` holding `groups`.
    pub async fn start(sub: &str, groups: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let inner = Arc::new(Mutex::new(Inner {
            issuer: issuer.clone(),
            jwt: JwtIssuer::new("ui-idp-1").unwrap(),
            person: (
                sub.to_owned(),
                groups.iter().map(|g| (*g).to_owned()).collect(),
            ),
            grants: HashMap::new(),
            counters: Counters::default(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            inner,
            issuer,
            task: Arc::new(task),
        }
    }

    pub fn redeemed(&self) -> usize {
        self.inner.lock().unwrap().counters.redeemed
    }

    pub fn refused(&self) -> Vec<String> {
        self.inner.lock().unwrap().counters.refused.clone()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

async fn discovery(State(s): Shared) -> Response {
    let issuer = s.lock().unwrap().issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(s): Shared) -> Response {
    axum::Json(s.lock().unwrap().jwt.jwks().unwrap()).into_response()
}

async fn authorize(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let param = |k: &str| q.get(k).cloned().unwrap_or_default();
    if param("response_type") != "code"
        || param("client_id") != CLIENT_ID
        || param("code_challenge_method") != "S256"
        || param("code_challenge").len() != 43
        || !param("scope").split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    let redirect_uri = param("redirect_uri");
    s.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            challenge: param("code_challenge"),
            nonce: param("nonce"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let mut back = reqwest::Url::parse(&redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    Redirect::to(back.as_str()).into_response()
}

fn refuse(s: &mut Inner, why: &str) -> Response {
    s.counters.refused.push(why.to_owned());
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_grant", "error_description": why})),
    )
        .into_response()
}

async fn token(
    State(s): Shared,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return refuse(&mut s, "client authentication failed");
    }
    let param = |k: &str| f.get(k).cloned().unwrap_or_default();
    if param("grant_type") != "authorization_code" {
        return refuse(&mut s, "grant_type");
    }
    let Some(grant) = s.grants.remove(&param("code")) else {
        return refuse(&mut s, "unknown or used code");
    };
    if grant.redirect_uri != param("redirect_uri") {
        return refuse(&mut s, "redirect_uri differs");
    }
    let hashed = URL_SAFE_NO_PAD.encode(Sha256::digest(param("code_verifier").as_bytes()));
    if hashed != grant.challenge {
        return refuse(&mut s, "PKCE verifier does not match the challenge");
    }
    let now = chrono::Utc::now().timestamp();
    let (sub, groups) = s.person.clone();
    let id_token = s
        .jwt
        .token(
            &json!({"iss": s.issuer, "aud": CLIENT_ID, "sub": sub, "groups": groups,
                        "nonce": grant.nonce, "iat": now, "exp": now + 300}),
        )
        .unwrap();
    s.counters.redeemed += 1;
    axum::Json(json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}
