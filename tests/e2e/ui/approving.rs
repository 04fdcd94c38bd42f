//! The approver's way through the page: sign in (a token, or OIDC with PKCE against the
//! test provider), read what is asked, vote, watch the copy, sign out.

use reqwest::StatusCode;
use serde_json::json;

use super::provider::{CLIENT_ID, CLIENT_SECRET, Provider};
use super::webdriver::Browser;
use super::{
    FormBody, WAIT_MS, assert_accessible, oidc_app, pending, session_cookie, sign_in, ui_app,
};

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
    let (app, dir) = oidc_app(&idp).await;
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
    for query in [
        "code=abc&state=forged",
        "error=access_denied&state=x&error_description=Call+EVIL+support",
        "error=%3Cb%3EEVIL%3C%2Fb%3E",
    ] {
        let resp = http
            .get(format!("{}/ui/oidc/callback?{query}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{query}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("sign-in refused"), "{body}");
        // Only a fixed message and a known error code: nothing from the link is shown.
        assert!(!body.contains("EVIL"), "{query}: {body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM ui_sessions").await, before);
    b.quit().await;
    let _ = std::fs::remove_dir_all(&dir);
}
