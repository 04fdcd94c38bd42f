//! Waivers are part of the evidence a vote is bound to: confirming, revoking or expiring one
//! judges the pending promotions in its scope again, voids their votes (a vote on the old
//! evidence hash is 409 `evidence_changed`), and a promotion that only a waiver allowed is
//! denied once the waiver expires, even before the sweep marks it.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, trivy};

async fn active_waiver(app: &TestApp, cve: &str, scope: Value) -> String {
    let expires = (Utc::now() + Duration::days(10)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = json!({"kind": "vulnerability", "id": cve, "scope": scope,
                      "expires_at": expires, "justification": "accepted risk, see SEC-12"});
    let (status, w) = app.post("/v1/waivers", &app.tokens.approver2, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    let (status, w) = app
        .post(
            &format!("/v1/waivers/{id}/confirm"),
            &app.tokens.outsider,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    id
}

async fn promotion(app: &TestApp, id: &str) -> Value {
    let (status, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    p
}

async fn vote_with(app: &TestApp, id: &str, token: &str, hash: &str) -> (StatusCode, Value) {
    let body = json!({"verdict": "approve", "comment": "ok", "evidence_hash": hash});
    app.post(&format!("/v1/promotions/{id}/approvals"), token, &body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_and_revoking_a_waiver_voids_the_votes_of_pending_promotions_in_scope() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "rc").await;
    // Allowed with a HIGH finding (under max_high): pending, one vote cast.
    let (status, p) = app
        .request(
            &app.source("team/app", &digest),
            trivy(&[("CVE-2024-7", "HIGH")]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    let pid = p["id"].as_str().unwrap().to_owned();
    let before = p["evidence_hash"].as_str().unwrap().to_owned();
    let (status, v) = vote_with(&app, &pid, &app.tokens.approver1, &before).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let id = active_waiver(&app, "CVE-2024-7", json!({"digest": digest})).await;
    let p = promotion(&app, &pid).await;
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(p["approvals"], json!([]), "{p}");
    assert_eq!(
        p["approvals_voided"]["reason"],
        format!("waiver {id} confirmed")
    );
    assert_eq!(p["approvals_voided"]["votes"], 1);
    assert_eq!(p["decision"]["waived"][0]["waiver"], id.as_str(), "{p}");
    let after = p["evidence_hash"].as_str().unwrap().to_owned();
    assert_ne!(
        after, before,
        "active waivers are part of the evidence hash"
    );
    // A vote on what was shown before the confirmation no longer counts.
    let (status, e) = vote_with(&app, &pid, &app.tokens.approver2, &before).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "evidence_changed");
    let (status, v) = vote_with(&app, &pid, &app.tokens.approver1, &after).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // Revoked: judged again without it, the fresh vote voided too.
    let (status, w) = app
        .post(
            &format!("/v1/waivers/{id}/revoke"),
            &app.tokens.approver1,
            &json!({"reason": "fixed upstream"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let p = promotion(&app, &pid).await;
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(
        p["approvals_voided"]["reason"],
        format!("waiver {id} revoked")
    );
    assert_eq!(
        p["decision"]["waived"],
        json!([]),
        "the revoked waiver applies no more: {p}"
    );
    assert_eq!(p["evidence_hash"].as_str(), Some(before.as_str()));
    assert_eq!(app.count("SELECT count(*) FROM voided_approvals").await, 2);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'superseded'")
            .await,
        2
    );
    // Two fresh approvals still promote it.
    app.approve_twice(&pid).await;
    assert_eq!(app.wait_settled(&pid).await["state"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_waiver_stops_applying_and_its_pending_promotion_is_judged_again() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "rc").await;
    let critical = trivy(&[("CVE-2024-9", "CRITICAL")]);
    let id = active_waiver(&app, "CVE-2024-9", json!({"repository_prefix": "team"})).await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), critical.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "allowed by the waiver: {p}");
    let pid = p["id"].as_str().unwrap().to_owned();
    let (status, v) = app.vote(&pid, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let api = app.push_signed("team/api", "rc").await;
    let (_, p) = app
        .request(&app.source("team/api", &api), critical.clone())
        .await;
    assert_eq!(p["state"], "pending_approval", "{p}");
    let api_id = p["id"].as_str().unwrap().to_owned();

    // It expires (moved into the past here rather than waited for).
    sqlx::query("UPDATE waivers SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    // Before the sweep it already shows as expired and applies to no new request.
    let (_, w) = app
        .get(&format!("/v1/waivers/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(w["state"], "expired", "{w}");
    let (_, l) = app
        .get("/v1/waivers?state=expired", &app.tokens.auditor)
        .await;
    assert_eq!(l["waivers"][0]["id"], id.as_str(), "{l}");
    let other = app.push_signed("team/worker", "rc").await;
    let (_, denied) = app
        .request(&app.source("team/worker", &other), critical)
        .await;
    assert_eq!(denied["state"], "denied", "{denied}");
    let (status, e) = app
        .post(
            &format!("/v1/waivers/{id}/revoke"),
            &app.tokens.admin,
            &json!({"reason": "late"}),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("waiver_not_revocable"))
    );

    // A vote before the sweep finds the promotion judged on a waiver that no longer
    // applies: it is judged again (denied), and the vote is refused.
    let (status, e) = app.vote(&api_id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "evidence_changed");
    let p = promotion(&app, &api_id).await;
    assert_eq!(p["state"], "denied", "{p}");
    assert_eq!(
        p["approvals_voided"]["reason"],
        format!("waiver {id} no longer applies")
    );

    // The sweep marks it expired, audited once, and judges the pending promotion again:
    // without the waiver the CRITICAL finding denies it, and the vote is voided.
    let n = portcullis_server::services::waivers::sweep(&app.state)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let p = promotion(&app, &pid).await;
    assert_eq!(p["state"], "denied", "{p}");
    assert_eq!(p["approvals"], json!([]), "{p}");
    assert_eq!(
        p["approvals_voided"]["reason"],
        format!("waiver {id} expired")
    );
    assert_eq!(p["approvals_voided"]["votes"], 1);
    assert!(p["error"].as_str().unwrap().contains("waiver"), "{p}");
    let rules: Vec<&str> = p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert_eq!(rules, ["vulnerability.no_critical"], "{p}");
    let (status, e) = app.vote(&pid, &app.tokens.approver2, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        portcullis_server::services::waivers::sweep(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'waiver_expired'")
            .await,
        1
    );
    let (_, w) = app
        .get(&format!("/v1/waivers/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(w["state"], "expired", "{w}");
}
