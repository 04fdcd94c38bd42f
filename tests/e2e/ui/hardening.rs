//! The page's defences that need no browser: the sign-in endpoints share the API's refusal
//! limit, an oversized token gets a clear page, idle sessions end, OIDC sign-ins in flight
//! are capped and pruned, a `state` replayed from another browser spends nothing, and role
//! refusals are counted like the API's.

use reqwest::StatusCode;

use super::provider::Provider;
use super::{FormBody, oidc_app, plain_sign_in, ui_app};
use crate::support::TestApp;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The sign-in form's CSRF cookie (`name=value`) and token.
async fn login_csrf(http: &reqwest::Client, app: &TestApp) -> (String, String) {
    let resp = http
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    (cookie, token)
}

async fn post_login(
    http: &reqwest::Client,
    app: &TestApp,
    csrf: &(String, String),
    token: &str,
) -> reqwest::Response {
    http.post(format!("{}/ui/login", app.base))
        .header("cookie", &csrf.0)
        .form_body(&[("csrf", csrf.1.as_str()), ("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_at_the_sign_in_form_is_rate_limited_like_the_api() {
    let app = ui_app(|c| c.auth_failures.max_per_minute = 3).await;
    let http = no_redirects();
    let csrf = login_csrf(&http, &app).await;
    for _ in 0..3 {
        let resp = post_login(&http, &app, &csrf, "pct_guess").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the limit, even the right token is refused, with the HTML page and Retry-After.
    let resp = post_login(&http, &app, &csrf, &app.tokens.approver1).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = resp.headers().clone();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(h.contains_key("content-security-policy"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("rate_limited"), "{body}");
    // The OIDC endpoints are guarded alike (404 without OIDC is not reached).
    for path in ["/ui/oidc/start", "/ui/oidc/callback?code=a&state=b"] {
        let resp = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    // Pages that sign nobody in are not.
    let resp = http
        .get(format!("{}/ui/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_longer_than_8_kib_is_refused_with_a_clear_page() {
    let app = ui_app(|_| {}).await;
    let http = no_redirects();
    let csrf = login_csrf(&http, &app).await;
    let long = format!("pct_{}", "a".repeat(8 * 1024));
    let resp = post_login(&http, &app, &csrf, &long).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("too long (at most 8 KiB)"), "{body}");
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_unused_for_the_idle_timeout_ends_and_use_keeps_it_alive() {
    let app = ui_app(|c| c.ui.idle_timeout = 600).await;
    let (http, cookie) = plain_sign_in(&app, &app.tokens.approver1).await;
    let home = || async {
        http.get(format!("{}/ui", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
    };
    // Used two minutes ago: still live, and marked used now.
    sqlx::query("UPDATE ui_sessions SET last_seen_at = now() - interval '2 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(home().await.status(), StatusCode::OK);
    let fresh = "SELECT count(*) FROM ui_sessions WHERE last_seen_at > now() - interval '1 minute'";
    assert_eq!(app.count(fresh).await, 1);
    // Unused for longer than ui.idle_timeout: ended, back to sign-in.
    sqlx::query("UPDATE ui_sessions SET last_seen_at = now() - interval '11 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    let resp = home().await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/ui/login?expired=1");
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_and_abandoned_sign_ins_are_pruned() {
    let app = ui_app(|_| {}).await;
    let (_, _) = plain_sign_in(&app, &app.tokens.approver1).await;
    let (_, _) = plain_sign_in(&app, &app.tokens.approver2).await;
    sqlx::query(
        "INSERT INTO ui_oidc_logins SELECT sha256(i::text::bytea), '\\x00', repeat('v', 43), \
         repeat('n', 16), 'x', now() - interval '1 second' FROM generate_series(1, 5) i",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("UPDATE ui_sessions SET last_seen_at = now() - interval '2 hours' WHERE ctid = (SELECT ctid FROM ui_sessions LIMIT 1)")
        .execute(&app.db)
        .await
        .unwrap();
    let pruned = app.state.store.prune_sessions(1800).await.unwrap();
    assert_eq!(pruned, 6);
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM ui_oidc_logins").await, 0);
}

/// Starts an OIDC sign-in without following the redirect: the browser cookie
/// (`name=value`) and the `state` sent to the provider.
async fn start_oidc(http: &reqwest::Client, app: &TestApp) -> (String, String) {
    let resp = http
        .get(format!("{}/ui/oidc/start", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let redirect = to
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(redirect, format!("{}/ui/oidc/callback", app.base));
    let state = to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (cookie, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_ins_in_flight_are_capped_and_a_replayed_state_spends_nothing() {
    let idp = Provider::start("Carol", &["release-approvers"]).await;
    let (app, dir) = oidc_app(&idp).await;
    let http = no_redirects();
    // The redirect URI is ui.public_url's, whatever Host the request names.
    let resp = http
        .get(format!("{}/ui/oidc/start", app.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("evil.example"), "{location}");

    // A `state` presented without (or with another) browser cookie is refused and the
    // sign-in stays for the browser that started it.
    let (cookie, state) = start_oidc(&http, &app).await;
    let before = app.count("SELECT count(*) FROM ui_oidc_logins").await;
    for other in ["", "portcullis_oidc=someone-else"] {
        let resp = http
            .get(format!(
                "{}/ui/oidc/callback?code=abc&state={state}",
                app.base
            ))
            .header("cookie", other)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{other}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM ui_oidc_logins").await,
        before
    );
    assert!(
        app.state.auth_failures.total() >= 2,
        "refused callbacks are counted"
    );
    // The browser that started it still can: its callback reaches the provider (which
    // refuses the made-up code), and the sign-in is spent.
    let resp = http
        .get(format!(
            "{}/ui/oidc/callback?code=abc&state={state}",
            app.base
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp.text().await.unwrap().contains("127.0.0.1"));
    assert_eq!(
        app.count("SELECT count(*) FROM ui_oidc_logins").await,
        before - 1
    );

    // At the cap, new sign-ins are refused until some end.
    sqlx::query(
        "INSERT INTO ui_oidc_logins SELECT sha256(i::text::bytea), '\\x00', repeat('v', 43), \
         repeat('n', 16), 'x', now() + interval '10 minutes' FROM generate_series(1, 10000) i",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let resp = http
        .get(format!("{}/ui/oidc/start", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "60");
    assert!(resp.text().await.unwrap().contains("too_many_sign_ins"));
    sqlx::query("UPDATE ui_oidc_logins SET expires_at = now() - interval '1 second' WHERE browser_hash = '\\x00'")
        .execute(&app.db)
        .await
        .unwrap();
    start_oidc(&http, &app).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_refused_for_the_role_is_counted_like_the_api() {
    let app = ui_app(|_| {}).await;
    let (http, cookie) = plain_sign_in(&app, &app.tokens.approver1).await;
    let before = app.state.auth_failures.total();
    let resp = http
        .get(format!("{}/ui/audit", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.state.auth_failures.total(), before + 1);
}
