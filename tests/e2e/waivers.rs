//! Waivers through the API: an approver creates one, a second approver confirms it, and only
//! then does it suppress the finding it names (the verdict says which waiver suppressed
//! which finding); confirming, revoking or expiring one judges the pending promotions in its
//! scope again and voids their votes. Every change is audited.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, trivy};

fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn waiver(id: &str, scope: Value) -> Value {
    json!({"kind": "vulnerability", "id": id, "scope": scope, "expires_at": in_days(30),
           "justification": "not reachable in our build; fix ships next sprint"})
}

async fn promotion(app: &TestApp, id: &str) -> Value {
    let (status, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waivers_are_validated_need_a_second_approver_and_are_audited() {
    let app = TestApp::spawn_with(|c| c.waivers.max_days = 30).await;
    let good = waiver("CVE-2024-1", json!({"repository_prefix": "team"}));
    // Only approvers create: ci, auditor and admin are refused.
    for token in [&app.tokens.ci, &app.tokens.auditor, &app.tokens.admin] {
        let (status, e) = app.post("/v1/waivers", token, &good).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    }
    let digest = format!("sha256:{}", "a".repeat(64));
    let bad = [
        (
            json!({"expires_at": null}),
            "invalid_expires_at",
            "expires_at is required",
        ),
        (
            json!({"expires_at": in_days(31)}),
            "invalid_expires_at",
            "more than 30 days",
        ),
        (
            json!({"expires_at": in_days(-1)}),
            "invalid_expires_at",
            "not in the future",
        ),
        (
            json!({"scope": {"repository_prefix": "team", "digest": digest}}),
            "invalid_scope",
            "not both",
        ),
        (
            json!({"scope": {"repository_prefix": "team/"}}),
            "invalid_scope",
            "repository_prefix",
        ),
        (json!({"kind": "exploit"}), "invalid_kind", "exploit"),
        (json!({"id": "CVE 1"}), "invalid_id", "white space"),
        (
            json!({"justification": ""}),
            "invalid_justification",
            "justification",
        ),
        (json!({"approved": true}), "invalid_body", "approved"),
    ];
    for (patch, code, detail) in bad {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let (status, e) = app.post("/v1/waivers", &app.tokens.approver1, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {e}");
        assert_eq!(e["code"], code, "{patch}: {e}");
        assert!(
            e["detail"].as_str().unwrap().contains(detail),
            "{patch}: {e}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM waivers").await, 0);

    // Created pending by alice; she cannot confirm it herself, bob can, once.
    let (status, w) = app.post("/v1/waivers", &app.tokens.approver1, &good).await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    assert_eq!(w["state"], "pending");
    assert_eq!(w["created_by"], "alice");
    assert_eq!(w["scope"], json!({"repository_prefix": "team"}));
    assert_eq!(w["match"], "CVE-2024-1");
    let id = w["id"].as_str().unwrap().to_owned();
    let confirm = format!("/v1/waivers/{id}/confirm");
    let (status, e) = app.post(&confirm, &app.tokens.approver1, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "self_confirm");
    let (status, e) = app.post(&confirm, &app.tokens.admin, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins do not confirm: {e}");
    let (status, w) = app.post(&confirm, &app.tokens.approver2, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(
        (&w["state"], &w["confirmed_by"]),
        (&json!("active"), &json!("bob"))
    );
    let (status, e) = app.post(&confirm, &app.tokens.outsider, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "waiver_not_pending");

    // Listed by state for approvers, auditors and admins; not for CI.
    for (filter, n) in [("active", 1), ("pending", 0), ("all", 1), ("revoked", 0)] {
        let (status, l) = app
            .get(&format!("/v1/waivers?state={filter}"), &app.tokens.auditor)
            .await;
        assert_eq!(status, StatusCode::OK, "{l}");
        assert_eq!(l["waivers"].as_array().unwrap().len(), n, "{filter}: {l}");
    }
    let (status, e) = app.get("/v1/waivers?state=bogus", &app.tokens.admin).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (status, _) = app.get(&format!("/v1/waivers/{id}"), &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, e) = app
        .get(
            &format!("/v1/waivers/{}", uuid::Uuid::new_v4()),
            &app.tokens.approver1,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");

    // Revoked by an admin with a reason; a second revocation is 409.
    let revoke = format!("/v1/waivers/{id}/revoke");
    let (status, e) = app.post(&revoke, &app.tokens.admin, &json!({})).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_reason"))
    );
    let reason = json!({"reason": "the fix shipped"});
    let (status, e) = app.post(&revoke, &app.tokens.ci, &reason).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, w) = app.post(&revoke, &app.tokens.admin, &reason).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(
        (&w["state"], &w["revoked_by"]),
        (&json!("revoked"), &json!("root"))
    );
    let (status, e) = app.post(&revoke, &app.tokens.approver1, &reason).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "waiver_not_revocable");
    let (_, w) = app
        .get(&format!("/v1/waivers/{id}"), &app.tokens.approver1)
        .await;
    assert_eq!(w["revoke_reason"], "the fix shipped");

    for (action, n) in [
        ("waiver_created", 1),
        ("waiver_confirmed", 1),
        ("waiver_revoked", 1),
    ] {
        assert_eq!(audited(&app, action).await, n, "{action}");
    }
    let details: Value =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'waiver_confirmed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(details["waiver_id"], id.as_str());
    assert_eq!(details["match"], "CVE-2024-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_waiver_suppresses_a_denying_finding_and_the_verdict_names_it() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "rc").await;
    let source = app.source("team/app", &digest);
    let report = trivy(&[("CVE-2024-9", "CRITICAL")]);
    let (status, first) = app.request(&source, report.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["state"], "denied", "{first}");

    // A waiver only one approver stands behind does not apply.
    let body = waiver("CVE-2024-9", json!({"repository_prefix": "team"}));
    let (status, w) = app.post("/v1/waivers", &app.tokens.approver1, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    let (_, p) = app.request(&source, report.clone()).await;
    assert_eq!(
        p["state"], "denied",
        "a pending waiver applies to nothing: {p}"
    );

    // Confirmed by a second approver, it suppresses the finding.
    let (status, w) = app
        .post(
            &format!("/v1/waivers/{id}/confirm"),
            &app.tokens.approver2,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let (status, p) = app.request(&source, report.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    let waived = json!([{"waiver": id, "kind": "vulnerability", "match": "CVE-2024-9",
                         "finding": "CVE-2024-9", "package": "openssl"}]);
    assert_eq!(p["decision"]["waived"], waived, "{p}");
    let pid = p["id"].as_str().unwrap().to_owned();
    let shown = promotion(&app, &pid).await;
    assert_eq!(shown["decision"]["waived"], waived);
    // Denied promotions are not resurrected: the requester requested again.
    assert_eq!(
        promotion(&app, first["id"].as_str().unwrap()).await["state"],
        "denied"
    );
    // A waiver for another repository does not reach this one.
    let other = app.push_signed("teamx/app", "rc").await;
    let (_, p) = app
        .request(&app.source("teamx/app", &other), report.clone())
        .await;
    assert_eq!(p["state"], "denied", "{p}");

    app.approve_twice(&pid).await;
    assert_eq!(app.wait_settled(&pid).await["state"], "promoted");
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(digest.as_str())
    );
}
