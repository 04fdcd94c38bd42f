//! Tokens minted through the API: short-lived ci/auditor tokens at once; approver and
//! break-glass tokens only once a second admin confirms; all audited.

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_mint_short_lived_tokens_and_a_second_admin_confirms_approver_grants() {
    let app = TestApp::spawn().await;
    let second_admin = app.token("root2", Role::Admin, &[], None).await;

    // A CI token for an hour works at once.
    let (status, t) = app
        .post(
            "/v1/tokens",
            &app.tokens.admin,
            &json!({"subject": "ci-hotfix", "role": "ci", "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["state"], "active");
    let ci = t["token"].as_str().unwrap().to_owned();
    let (status, _) = app.get("/v1/promotions", &ci).await;
    assert_eq!(status, StatusCode::OK);

    // An approver token waits for a second admin: 401 until then.
    let (status, t) = app
        .post(
            "/v1/tokens",
            &app.tokens.admin,
            &json!({"subject": "erin", "role": "approver", "groups": ["release-approvers"], "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["state"], "awaiting_confirmation");
    let erin = t["token"].as_str().unwrap().to_owned();
    let id = t["id"].as_str().unwrap().to_owned();
    let (status, _) = app.get("/v1/promotions", &erin).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The minting admin cannot confirm it; a non-admin cannot either.
    let confirm = format!("/v1/tokens/{id}/confirm");
    let (status, e) = app.post(&confirm, &app.tokens.admin, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "self_confirmation");
    let (status, _) = app.post(&confirm, &app.tokens.approver1, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, c) = app.post(&confirm, &second_admin, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let (status, _) = app.get("/v1/promotions", &erin).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = app.post(&confirm, &second_admin, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");

    // Bad requests: an admin token, a lifetime past the limit, an unknown role.
    for (body, code) in [
        (
            json!({"subject": "x", "role": "admin", "ttl_seconds": 3600}),
            "invalid_role",
        ),
        (
            json!({"subject": "x", "role": "ci", "ttl_seconds": 90 * 24 * 3600}),
            "invalid_ttl",
        ),
        (
            json!({"subject": "x", "role": "god", "ttl_seconds": 3600}),
            "invalid_role",
        ),
    ] {
        let (status, e) = app.post("/v1/tokens", &app.tokens.admin, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        assert_eq!(e["code"], code, "{body}: {e}");
    }
    // Only admins mint.
    let (status, _) = app
        .post(
            "/v1/tokens",
            &app.tokens.ci,
            &json!({"subject": "x", "role": "ci", "ttl_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'token_created'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'token_confirmed'")
            .await,
        1
    );
}
