//! Withdrawing a promotion (`POST /v1/promotions/{id}/withdraw`), what admission makes of
//! rows a database superuser wrote, and the drift report (`/v1/runtime`).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::admission::{REVIEWS, admit, promoted, review, with_image};
use crate::rollback::REPO;
use crate::support::TestApp;

async fn admitted(app: &TestApp, token: &str, image: &str) -> Value {
    let (r, _) = with_image(review(REVIEWS[4].0), image);
    admit(app, token, &serde_json::to_vec(&r).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_promotion_is_refused_by_admission_and_audited() {
    let app = TestApp::spawn().await;
    let (token, image, digest) = promoted(&app).await;
    let id: String = sqlx::query_scalar("SELECT id::text FROM promotions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // Cached as allowed first: the withdrawal must reach the cache at once.
    assert_eq!(admitted(&app, &token, &image).await["allowed"], true);
    let path = format!("/v1/promotions/{id}/withdraw");
    let reason = json!({"reason": "CVE-2026-0001 exploited in the wild"});
    let (status, problem) = app.post(&path, &app.tokens.approver1, &reason).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let (status, problem) = app.post(&path, &app.tokens.admin, &json!({})).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_body"))
    );
    let (status, problem) = app
        .post(&path, &app.tokens.admin, &json!({"reason": "  "}))
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_reason"))
    );
    let (status, view) = app.post(&path, &app.tokens.admin, &reason).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "promoted");
    assert_eq!(view["withdrawn"]["by"], "root");
    assert_eq!(view["withdrawn"]["reason"], reason["reason"]);
    let (_, shown) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(shown["withdrawn"], view["withdrawn"]);
    let r = admitted(&app, &token, &image).await;
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("promotion {id} was withdrawn at "))
            && message.ends_with("by root: CVE-2026-0001 exploited in the wild"),
        "{message}"
    );
    let (status, problem) = app.post(&path, &app.tokens.admin, &reason).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("already_withdrawn"))
    );
    let events: Vec<(String, Option<String>, Value)> = sqlx::query_as(
        "SELECT actor, digest, details FROM audit_events WHERE action = 'withdrawn'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_deref()),
        ("root", Some(digest.as_str()))
    );
    assert_eq!(events[0].2["reason"], reason["reason"]);
    // The audit chain still verifies with the withdrawal in it.
    let (status, verify) = app.get("/v1/audit/verify", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{verify}");
    // Only a promoted promotion can be withdrawn.
    let other = app.push_signed(REPO, "b").await;
    let body = json!({
        "source": app.source(REPO, &other), "route": crate::support::ROUTE, "tag": "v2",
        "evidence": [{"format": "trivy-json", "document": crate::support::trivy(&[])}],
    });
    let (_, pending) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(pending["state"], "pending_approval", "{pending}");
    let pending_id = pending["id"].as_str().unwrap();
    let (status, problem) = app
        .post(
            &format!("/v1/promotions/{pending_id}/withdraw"),
            &app.tokens.admin,
            &reason,
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("not_promoted"))
    );
    let (status, _) = app
        .post(
            &format!("/v1/promotions/{}/withdraw", Uuid::new_v4()),
            &app.tokens.admin,
            &reason,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_row_written_by_hand_is_refused() {
    let app = TestApp::spawn().await;
    let (token, _, _) = promoted(&app).await;
    let real: Uuid = sqlx::query_scalar("SELECT id FROM promotions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let prod = app.prod.host.as_str();
    // A superuser marks another digest promoted: no statement, then the real one replayed.
    for (n, statement) in ["NULL", "statement_envelope"].into_iter().enumerate() {
        let forged = format!("sha256:{}", format!("{n}").repeat(64));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO promotions (id, state, source, digest, route, destination, tag, requested_by, \
             decision, evidence, policy_digest, kind, statement_envelope) \
             SELECT $1, 'promoted', source, $2, route, destination, tag, requested_by, decision, \
             evidence, policy_digest, kind, {statement} FROM promotions WHERE id = $3"
        )))
        .bind(Uuid::new_v4())
        .bind(&forged)
        .bind(real)
        .execute(&app.db)
        .await
        .unwrap();
        let r = admitted(&app, &token, &format!("{prod}/{REPO}@{forged}")).await;
        assert_eq!(r["allowed"], false, "{r}");
        let message = r["status"]["message"].as_str().unwrap();
        let why = if n == 0 {
            "the decision statement is missing"
        } else {
            "the signed promotion_id is"
        };
        assert!(
            message.contains("the promotion's signed statement does not verify: ")
                && message.contains(why),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_report_lists_workloads_running_what_the_gate_did_not_promote() {
    let app = TestApp::spawn().await;
    let (token, image, digest) = promoted(&app).await;
    let prod = app.prod.host.as_str();
    let stray = format!("sha256:{}", "f".repeat(64));
    let reports = [
        ("shop", vec![image.clone(), digest.clone()]),
        (
            "cart",
            vec![image.clone(), format!("{prod}/{REPO}@{stray}")],
        ),
        ("debug", vec![format!("busybox@{digest}")]),
    ];
    for (workload, images) in &reports {
        let body = json!({"cluster": "prod-1", "namespace": "web", "workload": workload, "images": images});
        let (status, answer) = app.post("/v1/runtime/reports", &token, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["images"], images.len());
    }
    let (status, page) = app.get("/v1/runtime/drift", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["scanned"], 3);
    assert_eq!(page["next"], Value::Null);
    let drift = page["drift"].as_array().unwrap();
    let names: Vec<&str> = drift
        .iter()
        .map(|d| d["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cart", "debug"]);
    assert_eq!(
        drift[0]["images"],
        json!([{"image": format!("{prod}/{REPO}@{stray}"), "digest": stray,
                "reason": format!("digest {stray} was never promoted to {prod}/{REPO} by this gate")}])
    );
    assert_eq!(
        drift[1]["images"][0]["reason"],
        "registry docker.io is not a production registry of this gate"
    );
    // Paged by workload.
    let (_, first) = app
        .get("/v1/runtime/drift?limit=1", &app.tokens.admin)
        .await;
    assert_eq!(
        (first["scanned"].clone(), first["next"].clone()),
        (json!(1), json!("prod-1/web/cart"))
    );
    // A later report replaces the workload's set; a withdrawal makes its image drift.
    let body =
        json!({"cluster": "prod-1", "namespace": "web", "workload": "cart", "images": [image]});
    assert_eq!(
        app.post("/v1/runtime/reports", &token, &body).await.0,
        StatusCode::OK
    );
    let id: String = sqlx::query_scalar("SELECT id::text FROM promotions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/promotions/{id}/withdraw"),
            &app.tokens.admin,
            &json!({"reason": "recalled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = app.get("/v1/runtime/drift", &app.tokens.auditor).await;
    let names: Vec<&str> = page["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["workload"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cart", "debug", "shop"]);
    assert_eq!(
        page["drift"][2]["images"].as_array().unwrap().len(),
        2,
        "{page}"
    );
    // Refused reports and readers.
    let too_many: Vec<String> = (0..501).map(|_| digest.clone()).collect();
    for (body, code) in [
        (
            json!({"cluster": "Prod", "namespace": "web", "workload": "x", "images": []}),
            "invalid_body",
        ),
        (
            json!({"cluster": "p", "namespace": "web", "workload": "x", "images": [format!("{prod}/{REPO}:v1")]}),
            "invalid_body",
        ),
        (
            json!({"cluster": "p", "namespace": "web", "workload": "x", "images": too_many}),
            "invalid_body",
        ),
        (
            json!({"cluster": "p", "namespace": "web", "workload": "x"}),
            "invalid_body",
        ),
    ] {
        let (status, problem) = app.post("/v1/runtime/reports", &token, &body).await;
        assert_eq!(
            (status, problem["code"].as_str().unwrap()),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{problem}"
        );
    }
    let (status, _) = app.get("/v1/runtime/drift", &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = app
        .get("/v1/runtime/drift?limit=0", &app.tokens.auditor)
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_query"))
    );
    assert_eq!(app.count("SELECT count(*) FROM runtime_reports").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_digest_is_never_rolled_back_to() {
    use crate::rollback::{promote, rollback, rollback_body};
    let app = crate::rollback::spawn(None).await;
    let a = app.push_signed(REPO, "a").await;
    let b = app.push_signed(REPO, "b").await;
    let promoted_a = promote(&app, crate::support::ROUTE, &a, "stable").await;
    promote(&app, crate::support::ROUTE, &b, "stable").await;
    let (status, _) = app
        .post(
            &format!("/v1/promotions/{promoted_a}/withdraw"),
            &app.tokens.admin,
            &json!({"reason": "recalled"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("not_promoted_on_route")),
        "{problem}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM promotions WHERE kind = 'rollback'")
            .await,
        0
    );
}
