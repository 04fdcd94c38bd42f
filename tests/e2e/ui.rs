//! The approver web page (`/ui`) in a real headless Chromium driven over WebDriver: sign-in
//! with a token and with OIDC (authorization code + PKCE against a provider the test
//! serves), approve and reject through the same service as the API, CSRF refusal with
//! nothing written, session expiry, the auditor's pages, and an axe-core scan of each key
//! page. Screenshots of the key pages land in `target/ui-screenshots/`.

mod approving;
mod guards;
mod hardening;
mod pages;
mod provider;
mod webdriver;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, trivy};
use webdriver::Browser;

/// `application/x-www-form-urlencoded` bodies (reqwest is built without its `form` feature).
pub(crate) trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(url.query().unwrap_or_default().to_owned())
    }
}

/// How long `find` waits for an element (page loads, the progress script's reload).
pub(crate) const WAIT_MS: u64 = 15_000;

pub(crate) async fn ui_app(tweak: impl FnOnce(&mut portcullis_server::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.ui.insecure_cookies = true;
        tweak(c);
    })
    .await
}

/// An app that signs in with OIDC at `idp` (its ID tokens verified by an `auth.oidc[]`
/// issuer mapping `release-approvers` to approver), listening on a port chosen up front so
/// that `ui.public_url` can name it; the app and the directory holding the client secret.
pub(crate) async fn oidc_app(idp: &provider::Provider) -> (TestApp, std::path::PathBuf) {
    use provider::{CLIENT_ID, CLIENT_SECRET};
    let dir = std::env::temp_dir().join(format!("portcullis-ui-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let issuer = idp.issuer.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = ui_app(move |c| {
        c.listen = ([127, 0, 0, 1], port).into();
        c.ui.public_url = Some(format!("http://127.0.0.1:{port}"));
        c.auth.oidc = vec![portcullis_server::oidc::OidcIssuer {
            issuer: issuer.clone(),
            audience: CLIENT_ID.into(),
            jwks_file: None,
            jwks_url: Some(format!("{issuer}/jwks")),
            ca_file: None,
            algorithms: vec![portcullis_server::oidc::Algorithm::ES256],
            subject_claim: "sub".into(),
            groups_claim: Some("groups".into()),
            roles: vec![portcullis_server::oidc::RoleMapping {
                claim: "groups".into(),
                equals: "release-approvers".into(),
                role: portcullis_core::Role::Approver,
                routes: None,
            }],
            jwks_refresh_seconds: 60,
            leeway_seconds: 0,
        }];
        c.ui.oidc = Some(portcullis_server::config::UiOidcSettings {
            issuer,
            client_id: CLIENT_ID.into(),
            client_secret_file: secret,
            scopes: vec!["groups".into()],
        });
    })
    .await;
    (app, dir)
}

/// A pending promotion with two findings; its id and digest.
pub(crate) async fn pending(app: &TestApp, tag: &str) -> (String, String) {
    let digest = app.push_signed("team/app", tag).await;
    let report = trivy(&[("CVE-2024-1111", "HIGH"), ("CVE-2024-2222", "LOW")]);
    let (status, p) = app.request(&app.source("team/app", &digest), report).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    (p["id"].as_str().unwrap().to_owned(), digest)
}

pub(crate) async fn sign_in(b: &Browser, app: &TestApp, token: &str) {
    b.goto(&format!("{}/ui/login", app.base)).await;
    let field = b.find("#token").await;
    b.type_into(&field, token).await;
    b.click(&b.find("#token-signin").await).await;
    b.find("#me").await;
}

/// No serious or critical axe-core violation on the page now.
pub(crate) async fn assert_accessible(b: &Browser, page: &str) {
    let found = b.axe_serious().await;
    assert!(
        found.is_empty(),
        "{page}: axe-core found serious violations: {}",
        serde_json::to_string_pretty(&found).unwrap()
    );
}

pub(crate) async fn session_cookie(b: &Browser) -> Value {
    b.cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "portcullis_session")
        .expect("a session cookie")
}

/// Signs in with `token` over plain HTTP as the sign-in form would (no redirects followed);
/// the client and the session's `Cookie` header.
pub(crate) async fn plain_sign_in(app: &TestApp, token: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .unwrap();
    let set = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let csrf_cookie = set.split(';').next().unwrap().to_owned();
    let csrf = csrf_cookie.split_once('=').unwrap().1.to_owned();
    let resp = http
        .post(format!("{}/ui/login", app.base))
        .header("cookie", &csrf_cookie)
        .form_body(&[("csrf", csrf.as_str()), ("token", "pct_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = http
        .post(format!("{}/ui/login", app.base))
        .header("cookie", &csrf_cookie)
        .form_body(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("portcullis_session="))
        .unwrap();
    let cookie = session.split(';').next().unwrap().to_owned();
    (http, cookie)
}
