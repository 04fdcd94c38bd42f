//! Authentication and role checks: 401 without a valid token, 403 for a role an endpoint
//! does not allow, and every refusal counted in `auth_failures` (outside the audit chain).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ROUTE, TestApp, decode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_unknown_tokens_are_unauthorized_and_audited() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(format!("{}/v1/promotions", app.base))
        .send()
        .await
        .unwrap();
    let (status, err) = decode(resp).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = app.get("/v1/promotions", "pct_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app
        .http
        .get(format!("{}/v1/audit", app.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    app.state
        .auth_failures
        .flush(&app.state.store)
        .await
        .unwrap();
    let failures = app.count("SELECT sum(count)::bigint FROM auth_failures WHERE reason IN ('missing_token', 'invalid_token')").await;
    assert_eq!(failures, 3);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_forbidden_from_the_endpoints_it_must_not_use() {
    let app = TestApp::spawn().await;
    let id = uuid::Uuid::new_v4();
    let request =
        json!({"source": format!("{}/team/app:v1", app.staging.host.as_str()), "route": ROUTE});
    let vote = json!({"verdict": "approve"});
    let t = &app.tokens;
    let forbidden: Vec<(&str, &str, String, Option<&serde_json::Value>)> = vec![
        (
            "approver",
            &t.approver1,
            "/v1/promotions".into(),
            Some(&request),
        ),
        (
            "auditor",
            &t.auditor,
            "/v1/promotions".into(),
            Some(&request),
        ),
        (
            "ci",
            &t.ci,
            format!("/v1/promotions/{id}/approvals"),
            Some(&vote),
        ),
        (
            "auditor",
            &t.auditor,
            format!("/v1/promotions/{id}/approvals"),
            Some(&vote),
        ),
        ("ci", &t.ci, "/v1/audit".into(), None),
        ("approver", &t.approver1, "/v1/audit".into(), None),
    ];
    for (role, token, path, body) in &forbidden {
        let (status, err) = match body {
            Some(b) => app.post(path, token, b).await,
            None => app.get(path, token).await,
        };
        assert_eq!(status, StatusCode::FORBIDDEN, "{role} on {path}: {err}");
        assert_eq!(err["code"], "forbidden");
        assert!(err["detail"].as_str().unwrap().contains(role), "{err}");
    }
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    app.state
        .auth_failures
        .flush(&app.state.store)
        .await
        .unwrap();
    let counted = app
        .count("SELECT sum(count)::bigint FROM auth_failures WHERE reason = 'role_not_allowed'")
        .await;
    assert_eq!(counted, forbidden.len() as i64);
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT s->>'actor' FROM auth_failures, jsonb_array_elements(samples) s ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(actors, ["alice", "audrey", "ci-pipeline"]);
    // The allowed roles do get through.
    let (status, _) = app.get("/v1/audit", &t.auditor).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/audit", &t.admin).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_pages_newest_first_and_refuses_changes() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        let event = portcullis_store::NewAuditEvent {
            actor: "tester".to_owned(),
            action: "paging_test".to_owned(),
            promotion_id: None,
            digest: None,
            details: json!({ "n": i }),
            request_id: None,
        };
        app.state.store.append_audit_now(&event).await.unwrap();
    }
    let (_, page1) = app
        .get("/v1/audit?limit=2&action=paging_test", &app.tokens.auditor)
        .await;
    let events = page1["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["seq"].as_i64() > events[1]["seq"].as_i64());
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(
            &format!("/v1/audit?limit=2&action=paging_test&cursor={cursor}"),
            &app.tokens.auditor,
        )
        .await;
    assert_eq!(
        page2["events"][0]["seq"].as_i64().unwrap(),
        events[1]["seq"].as_i64().unwrap() - 1
    );
    let (_, last) = app
        .get(
            "/v1/audit?limit=10&action=paging_test&cursor=2",
            &app.tokens.auditor,
        )
        .await;
    assert!(last["next_cursor"].is_null());
    let (_, none) = app.get("/v1/audit?actor=nobody", &app.tokens.auditor).await;
    assert_eq!(none["events"], json!([]));
    let update = sqlx::query("UPDATE audit_events SET actor = 'x'")
        .execute(&app.db)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_events")
        .execute(&app.db)
        .await;
    assert!(delete.is_err());
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 5);
}
