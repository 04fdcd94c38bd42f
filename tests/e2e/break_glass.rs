//! Break-glass through the API: only the role may do it, never the requester, always with a
//! justification; it promotes a denied image, is audited on its own and leaves a review that
//! an auditor other than the actor acknowledges.

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_promotes_a_denied_image_loudly_and_leaves_a_review() {
    let app = TestApp::spawn().await;
    let glass = app.token("oncall", Role::BreakGlass, &[], None).await;
    // Denied: an unsigned image.
    let digest = app.push_image("team/app", "hotfix").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied", "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/promotions/{id}/break-glass");
    let why = json!({"justification": "INC-4711: production outage, fix must ship now"});

    // Without the role: 403, even for an admin; without a justification: 422.
    for token in [&app.tokens.admin, &app.tokens.approver1] {
        let (status, e) = app.post(&path, token, &why).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    }
    let (status, e) = app
        .post(&path, &glass, &json!({"justification": "  "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "invalid_justification");
    let (status, _) = app.post(&path, &glass, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM reviews").await, 0);

    // With it: promoting at once, then promoted; the view shows the break-glass.
    let (status, p) = app.post(&path, &glass, &why).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["state"], "promoting", "{p}");
    assert_eq!(p["break_glass"]["opened_by"], "oncall");
    assert_eq!(p["break_glass"]["state"], "open");
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'break_glass'")
            .await,
        1
    );
    // Only once.
    let (status, e) = app.post(&path, &glass, &why).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "invalid_state");

    // The review is open for auditors; the actor cannot acknowledge it.
    let (status, r) = app.get("/v1/reviews?state=open", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let review = r["reviews"][0].clone();
    assert_eq!(review["promotion_id"], id.as_str());
    assert_eq!(review["justification"], why["justification"]);
    let (status, _) = app.get("/v1/reviews", &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ack = format!("/v1/reviews/{}/acknowledge", review["id"].as_str().unwrap());
    let self_auditor = app.token("oncall", Role::Auditor, &[], None).await;
    let (status, e) = app.post(&ack, &self_auditor, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "self_review");
    let (status, done) = app
        .post(
            &ack,
            &app.tokens.auditor,
            &json!({"note": "checked with the incident lead"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "acknowledged");
    let (status, e) = app.post(&ack, &app.tokens.auditor, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (_, r) = app.get("/v1/reviews?state=open", &app.tokens.auditor).await;
    assert_eq!(r["reviews"], json!([]));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'review_acknowledged'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_break_the_glass_on_their_own_promotion() {
    let app = TestApp::spawn().await;
    // The CI pipeline's subject also holds a break-glass token.
    let glass = app.token("ci-pipeline", Role::BreakGlass, &[], None).await;
    let digest = app.push_image("team/app", "own").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, e) = app
        .post(
            &format!("/v1/promotions/{id}/break-glass"),
            &glass,
            &json!({"justification": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "self_break_glass");
    assert_eq!(app.count("SELECT count(*) FROM reviews").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'break_glass_refused'")
            .await,
        1
    );
}
