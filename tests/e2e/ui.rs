//! The approver web page (`/ui`) in a real headless Chromium driven over WebDriver: sign-in
//! with a token and with OIDC (authorization code + PKCE against a provider the test
//! serves), approve and reject through the same service as the API, CSRF refusal with
//! nothing written, session expiry, the auditor's pages, and an axe-core scan of each key
//! page. Screenshots of the key pages land in `target/ui-screenshots/`.

mod provider;
mod webdriver;

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, trivy};
use provider::{CLIENT_ID, CLIENT_SECRET, Provider};
use webdriver::Browser;

/// `application/x-www-form-urlencoded` bodies (reqwest is built without its `form` feature).
trait FormBody {
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
const WAIT_MS: u64 = 15_000;

async fn ui_app(tweak: impl FnOnce(&mut portcullis_server::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.ui.insecure_cookies = true;
        tweak(c);
    })
    .await
}

/// A pending promotion with two findings; its id and digest.
async fn pending(app: &TestApp, tag: &str) -> (String, String) {
    let digest = app.push_signed("team/app", tag).await;
    let report = trivy(&[("CVE-2024-1111", "HIGH"), ("CVE-2024-2222", "LOW")]);
    let (status, p) = app.request(&app.source("team/app", &digest), report).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    (p["id"].as_str().unwrap().to_owned(), digest)
}

async fn sign_in(b: &Browser, app: &TestApp, token: &str) {
    b.goto(&format!("{}/ui/login", app.base)).await;
    let field = b.find("#token").await;
    b.type_into(&field, token).await;
    b.click(&b.find("#token-signin").await).await;
    b.find("#me").await;
}

/// No serious or critical axe-core violation on the page now.
async fn assert_accessible(b: &Browser, page: &str) {
    let found = b.axe_serious().await;
    assert!(
        found.is_empty(),
        "{page}: axe-core found serious violations: {}",
        serde_json::to_string_pretty(&found).unwrap()
    );
}

async fn session_cookie(b: &Browser) -> Value {
    b.cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "portcullis_session")
        .expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_signs_in_with_a_token_reads_the_evidence_and_approves() {
    let app = ui_app(|_| {}).await;
    let (id, digest) = pending(&app, "ui-approve").await;
    let b = Browser::start(1280, 1000, WAIT_MS).await;

    // Not signed in: the page sends the browser to sign in.
    b.goto(&format!("{}/ui", app.base)).await;
    assert!(b.url().await.ends_with("/ui/login"), "{}", b.url().await);
    b.find("#token").await;
    assert_accessible(&b, "sign-in").await;
    b.screenshot("login").await;

    sign_in(&b, &app, &app.tokens.approver1).await;
    assert_eq!(b.text_of("#me").await, "alice");
    let cookie = session_cookie(&b).await;
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    // What alice may approve: this promotion.
    let link = b.find("#awaiting-table a").await;
    assert_eq!(b.text(&link).await, app.source("team/app", &digest));
    assert_accessible(&b, "home").await;
    b.screenshot("home").await;

    b.click(&link).await;
    assert_eq!(b.text_of("#digest").await, digest);
    assert_eq!(b.text_of("#verdict").await, "allowed");
    assert_eq!(b.text_of("#requested-by").await, "ci-pipeline");
    assert!(b.text_of("#signers").await.contains("release-key"));
    let vulns = b.text_of("#vulnerabilities").await;
    assert!(
        vulns.contains("high 1 0") && vulns.contains("low 1 0"),
        "{vulns}"
    );
    assert!(
        b.text_of("#required")
            .await
            .contains("2 of release-approvers")
    );
    let shown = b.text_of("#evidence-hash").await;
    assert_eq!(shown, app.evidence_hash(&id).await);
    assert_accessible(&b, "promotion").await;
    b.screenshot("promotion-pending").await;

    b.type_into(&b.find("#comment").await, "evidence looks right")
        .await;
    b.click(&b.find("#approve").await).await;
    assert!(b.text_of("#voted").await.contains("approve"));
    // The same vote the API records: signed, bound to the evidence shown, audited.
    let (_, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["approvals"][0]["approver"], "alice", "{p}");
    assert_eq!(p["approvals"][0]["comment"], "evidence looks right");
    assert_eq!(p["approvals"][0]["evidence_hash"], shown.as_str());
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_events WHERE action = 'approved' AND actor = 'alice'"
        )
        .await,
        1
    );
    assert!(b.text_of("#votes").await.contains("evidence looks right"));
    assert_eq!(b.count("#vote-form").await, 0, "one vote each");

    // Bob's vote (through the API) completes it: the page shows the copy, then its end.
    let (status, _) = app.vote(&id, &app.tokens.approver2, "approve").await;
    assert_eq!(status, StatusCode::OK);
    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.find("#copy[data-state=promoting]").await;
    // While it copies, the page follows the heartbeat's progress (bytes streamed) live:
    // written here as the copier's heartbeat writes it.
    sqlx::query(
        "UPDATE promotions SET copy_report = $2 WHERE id = $1::uuid AND state = 'promoting'",
    )
    .bind(&id)
    .bind(
        json!({"in_progress": true, "blobs_total": 4, "blobs_copied": 1,
                 "bytes_total": 4_194_304u64, "bytes_copied": 1_048_576u64,
                 "bytes_streamed": 2_097_152u64}),
    )
    .execute(&app.db)
    .await
    .unwrap();
    b.find_xpath("//p[@id='copy-text'][starts-with(., 'copying: 1 of 4 blobs, 2.0 MiB')]")
        .await;
    let bar = b.find("#copy-progress").await;
    assert_eq!(b.property(&bar, "value").await, 50);
    b.screenshot("promotion-promoting").await;
    assert_eq!(app.run_copies().await, 1);
    // progress.js polls, sees the state change and reloads the page.
    b.find("h1 .state-promoted").await;
    assert!(b.text_of("#copy-text").await.starts_with("copied:"));
    b.screenshot("promotion-promoted").await;

    // On a phone: nothing runs off the side.
    let narrow = Browser::start(390, 844, WAIT_MS).await;
    sign_in(&narrow, &app, &app.tokens.approver1).await;
    narrow
        .goto(&format!("{}/ui/promotions/{id}", app.base))
        .await;
    let overflow = narrow
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, 0, "the page scrolls sideways on a phone");
    narrow.screenshot("promotion-phone").await;
    narrow.quit().await;

    // Sign-out ends the session on the server too.
    b.click(&b.find("#logout").await).await;
    b.find("#token").await;
    assert_eq!(
        app.count("SELECT count(*) FROM ui_sessions WHERE subject = 'alice'")
            .await,
        1,
        "the phone's session only"
    );
    b.goto(&format!("{}/ui", app.base)).await;
    assert!(b.url().await.ends_with("/ui/login"));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_signs_in_with_oidc_and_pkce_and_rejects() {
    let idp = Provider::start("Carol", &["release-approvers"]).await;
    let dir = std::env::temp_dir().join(format!("portcullis-ui-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let issuer = idp.issuer.clone();
    let app = ui_app(move |c| {
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
                role: Role::Approver,
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
    let (id, _) = pending(&app, "ui-reject").await;
    let b = Browser::start(1280, 1000, WAIT_MS).await;

    b.goto(&format!("{}/ui/login", app.base)).await;
    b.click(&b.find("#oidc-signin").await).await;
    // Provider → callback → the continue page → /ui.
    let me = b.text_of("#me").await;
    assert_eq!(me, format!("{}#carol", idp.issuer));
    assert_eq!(idp.redeemed(), 1);
    assert!(idp.refused().is_empty(), "{:?}", idp.refused());
    assert_eq!(session_cookie(&b).await["sameSite"], "Strict");

    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.type_into(&b.find("#comment").await, "not this one").await;
    b.click(&b.find("#reject").await).await;
    assert!(b.text_of("#voted").await.contains("reject"));
    assert!(b.text_of("h1").await.contains("rejected"));
    let (_, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["state"], "rejected", "{p}");
    assert_eq!(p["approvals"][0]["approver"], me.as_str());
    b.screenshot("promotion-rejected").await;

    // The provider redeems a code only with the verifier: a wrong one is refused.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/token", idp.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form_body(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code_verifier", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A callback replayed (its sign-in was taken) or forged opens nothing.
    let before = app.count("SELECT count(*) FROM ui_sessions").await;
    for query in ["code=abc&state=forged", "error=access_denied&state=x"] {
        let resp = http
            .get(format!("{}/ui/oidc/callback?{query}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{query}");
        assert!(resp.text().await.unwrap().contains("sign-in refused"));
    }
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, before);
    b.quit().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_missing_csrf_tokens_are_refused_and_nothing_is_written() {
    let app = ui_app(|_| {}).await;
    let (id, _) = pending(&app, "ui-csrf").await;
    let b = Browser::start(1280, 1000, WAIT_MS).await;
    sign_in(&b, &app, &app.tokens.approver1).await;
    let votes = "SELECT count(*) FROM audit_events WHERE action IN ('approved', 'rejected', 'vote_refused')";

    // A forged token in the real form: refused, nothing written.
    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.execute(
        "document.querySelector('#vote-form input[name=csrf]').value = 'forged';",
        json!([]),
    )
    .await;
    b.click(&b.find("#approve").await).await;
    assert_eq!(b.text_of("#error-code").await, "csrf_failed");
    assert_accessible(&b, "error").await;
    b.screenshot("error-csrf").await;
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(app.count(votes).await, 0);

    // No token at all.
    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.execute(
        "document.querySelector('#vote-form input[name=csrf]').remove();",
        json!([]),
    )
    .await;
    b.click(&b.find("#approve").await).await;
    assert_eq!(b.text_of("#error-code").await, "csrf_failed");

    // Another site's form, riding the session cookie: 403 without the token.
    let cookie = session_cookie(&b).await;
    let cookie = format!("portcullis_session={}", cookie["value"].as_str().unwrap());
    let hash = app.evidence_hash(&id).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http
        .post(format!("{}/ui/promotions/{id}/vote", app.base))
        .header("cookie", &cookie)
        .form_body(&[
            ("verdict", "approve"),
            ("comment", "x"),
            ("evidence_hash", hash.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // …or with the token but a cross-site fetch.
    let resp = http
        .post(format!("{}/ui/logout", app.base))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .form_body(&[("csrf", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The token form needs its own cookie's token.
    let resp = http
        .post(format!("{}/ui/login", app.base))
        .form_body(&[("csrf", "x"), ("token", app.tokens.admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(app.count(votes).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 1);
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_sends_the_browser_back_to_sign_in() {
    let app = ui_app(|c| c.ui.session_ttl = 3600).await;
    let (id, _) = pending(&app, "ui-expiry").await;
    let b = Browser::start(1280, 1000, WAIT_MS).await;
    sign_in(&b, &app, &app.tokens.approver1).await;
    let expiry: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM ui_sessions",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((3599.0..=3601.0).contains(&expiry), "{expiry}");
    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;

    // The session's time is up (by the database's clock).
    sqlx::query("UPDATE ui_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    // A form sent now is refused…
    b.type_into(&b.find("#comment").await, "late").await;
    b.click(&b.find("#approve").await).await;
    assert_eq!(b.text_of("#error-code").await, "unauthorized");
    assert!(b.text_of("#error-detail").await.contains("expired"));
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 0);
    // …and a page sends the browser to sign in again.
    sign_in(&b, &app, &app.tokens.approver1).await;
    sqlx::query("UPDATE ui_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    b.goto(&format!("{}/ui", app.base)).await;
    assert!(b.text_of("#login-message").await.contains("expired"));
    assert!(b.url().await.ends_with("/ui/login?expired=1"));
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 0);
    b.screenshot("login-expired").await;

    // A session opened with a token ends when the token is revoked.
    let dora = app
        .token("dora", Role::Approver, &["release-approvers"], None)
        .await;
    sign_in(&b, &app, &dora).await;
    assert_eq!(b.text_of("#me").await, "dora");
    app.state
        .store
        .revoke_subject_tokens(&"dora".parse().unwrap())
        .await
        .unwrap();
    b.goto(&format!("{}/ui", app.base)).await;
    assert!(b.text_of("#login-message").await.contains("expired"));
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 0);
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_a_digests_trail_and_acknowledge_break_glass_reviews() {
    let app = ui_app(|_| {}).await;
    let (id, digest) = pending(&app, "ui-audit").await;
    let glass = app.token("oncall", Role::BreakGlass, &[], None).await;
    let (status, e) = app
        .post(
            &format!("/v1/promotions/{id}/break-glass"),
            &glass,
            &json!({"justification": "INC-1: outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let b = Browser::start(1280, 1000, WAIT_MS).await;
    sign_in(&b, &app, &app.tokens.auditor).await;

    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.click(&b.find("#audit-link").await).await;
    let trail = b.text_of("#audit-events").await;
    for action in ["requested", "break_glass"] {
        assert!(trail.contains(action), "{action} missing: {trail}");
    }
    assert!(b.text_of("#audit-caption").await.contains(&digest));
    assert_accessible(&b, "audit").await;
    b.screenshot("audit").await;

    b.goto(&format!("{}/ui/reviews", app.base)).await;
    assert!(b.text_of("#reviews").await.contains("INC-1: outage"));
    assert_accessible(&b, "reviews").await;
    b.screenshot("reviews").await;
    b.type_into(&b.find("#reviews textarea").await, "checked the incident")
        .await;
    b.click(&b.find("#reviews button").await).await;
    b.find("#no-reviews").await;
    assert_eq!(
        app.count("SELECT count(*) FROM reviews WHERE state = 'acknowledged' AND acknowledged_by = 'audrey'")
            .await,
        1
    );
    b.quit().await;
}

/// Signs in with `token` over plain HTTP as the sign-in form would (no redirects followed);
/// the client and the session's `Cookie` header.
async fn plain_sign_in(app: &TestApp, token: &str) -> (reqwest::Client, String) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promotion_page_shows_suppressions_flagged_licences_and_remediations() {
    let app = ui_app(|_| {}).await;
    let digest = app.push_signed("team/app", "ui-summary").await;
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [
            {"type": "library", "name": "readline", "version": "8.2",
             "licenses": [{"license": {"id": "GPL-3.0-only"}}]},
            {"type": "library", "name": "blob", "version": "1",
             "licenses": [{"license": {"name": "Acme Proprietary Licence"}}]}
        ]
    });
    let report = trivy(&[("CVE-2024-3333", "CRITICAL"), ("CVE-2024-1111", "HIGH")]);
    let vex = crate::evidence_docs::openvex_not_affected(&digest, "CVE-2024-3333");
    let request = crate::evidence_docs::body(
        &app.source("team/app", &digest),
        vec![
            ("trivy-json", report),
            ("openvex", vex),
            ("cyclonedx-json", sbom),
        ],
        false,
    );
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied", "{p}");
    let id = p["id"].as_str().unwrap();
    let (http, cookie) = plain_sign_in(&app, &app.tokens.approver1).await;
    let page = http
        .get(format!("{}/ui/promotions/{id}", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for expected in [
        "<span id=\"verdict\">denied</span>",
        "<strong>licence.denied</strong>",
        "To fix:",
        "<th scope=\"row\">critical</th><td>1</td><td>1</td>",
        "<th scope=\"row\">high</th><td>1</td><td>0</td>",
        "CVE-2024-3333 in openssl: not affected (vulnerable code not in execute path), VEX from ci:openvex",
        "readline",
        "not an SPDX licence: ",
        "You cannot vote: It is denied, not pending approval.",
    ] {
        assert!(
            html.contains(expected),
            "{expected} missing from the page:\n{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_errors_are_html_pages_with_the_apis_status() {
    let app = ui_app(|_| {}).await;
    let (http, cookie) = plain_sign_in(&app, &app.tokens.approver1).await;
    let get = |path: String| {
        let req = http
            .get(format!("{}{path}", app.base))
            .header("cookie", &cookie);
        async move { req.send().await.unwrap() }
    };
    for (path, status, code) in [
        (
            format!("/ui/promotions/{}", uuid::Uuid::new_v4()),
            404,
            "not_found",
        ),
        ("/ui/promotions/not-an-id".to_owned(), 404, "not_found"),
        ("/ui/nowhere".to_owned(), 404, "not_found"),
        ("/ui/audit".to_owned(), 403, "forbidden"),
        ("/ui/audit?digest=sha256:nope".to_owned(), 403, "forbidden"),
        (
            "/ui/promotions/x?nonsense=1".to_owned(),
            400,
            "invalid_query",
        ),
    ] {
        let resp = get(path.clone()).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let body = resp.text().await.unwrap();
        assert!(
            body.contains(&format!("<code id=\"error-code\">{code}</code>")),
            "{path}: {body}"
        );
    }
    // The API's body limit (max_body_bytes) holds for forms.
    let big = "x".repeat(300 * 1024);
    let resp = http
        .post(format!(
            "{}/ui/promotions/{}/vote",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .header("cookie", &cookie)
        .form_body(&[("verdict", "approve"), ("comment", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.text().await.unwrap().contains("payload_too_large"));

    // Without a session, pages redirect to sign in and forms answer 401.
    let resp = http.get(format!("{}/ui", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/ui/login");
    let resp = http
        .post(format!(
            "{}/ui/promotions/{}/vote",
            app.base,
            uuid::Uuid::new_v4()
        ))
        .form_body(&[("verdict", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
