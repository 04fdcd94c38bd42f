//! What the page refuses: forged or missing CSRF tokens (nothing written), ended sessions,
//! unknown ids, roles that may not, bodies over the limit; errors as HTML pages with the
//! API's status.

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::webdriver::Browser;
use super::{
    FormBody, WAIT_MS, assert_accessible, pending, plain_sign_in, session_cookie, sign_in, ui_app,
};

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
